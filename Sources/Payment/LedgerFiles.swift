/// Where a `LocalLedger` keeps its state: one state file, replaced whole, and a journal,
/// appended one line per operation, shared by every agent on the machine under one
/// exclusive lock. The agent's are a directory on disk (Agent's `DiskLedgerFiles`); tests use
/// an in-memory double (WarrenTestSupport's `MemoryLedgerFiles`).
///
/// What the ledger relies on:
/// - `withExclusiveLock` excludes every other holder, in this process and in others, for the
///   whole of `body`: several agents see one sequence of operations.
/// - `replaceState` is atomic and durable (the old state or the new one after a power cut);
///   a medium that tears the file anyway is caught by its checksum (`ChecksummedText`).
/// - `appendJournal` adds whole lines durably; a line counts once its newline is written.
/// - Reads take no lock and create nothing: a display may look while agents write.
public protocol LedgerFiles: Sendable {
    /// Runs `body` while holding the ledger's exclusive lock, creating the storage if missing.
    /// A lock that cannot be taken throws `LedgerError.storage`.
    func withExclusiveLock<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T

    /// The state's bytes, or nil when nothing has written a state yet. May stop once past
    /// `limit` (returning more, enough for the decoder to refuse the file).
    func readState(limit: Int) throws(StorageFailure) -> [UInt8]?

    /// Replaces the state atomically and durably. Called under the lock.
    func replaceState(with bytes: [UInt8]) throws(StorageFailure)

    /// The journal's bytes, or nil when there is none. May stop once past `limit`.
    func readJournal(limit: Int) throws(StorageFailure) -> [UInt8]?

    /// Appends `lines` (whole lines, each ending in a newline) to the journal durably. A tail
    /// after the journal's last newline (a line a crash tore) is cut off first, as is the
    /// start of an append that fails: glued to a new line it would spoil both. Called under
    /// the lock.
    func appendJournal(_ lines: [UInt8]) throws(StorageFailure)
}
