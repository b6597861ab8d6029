import Glibc
import Payment
import Synchronization

/// An in-memory test double for `LedgerFiles`: the state and the journal as byte arrays, and
/// a lock that excludes threads the way the disk's `flock` excludes agents. Two ledgers over
/// one instance model a restart, or two agents sharing a ledger.
///
/// `tearNextStateWrite(keeping:)` and `tearNextJournalAppend(keeping:)` model a power cut
/// during a write: only the first bytes land and the call fails, as the process would have
/// died there. A later append cuts a torn journal tail first, as the disk's does.
public final class MemoryLedgerFiles: LedgerFiles {
    private struct Contents {
        var state: [UInt8]?
        var journal: [UInt8]?
        var tearStateAt: Int?
        var tearAppendAt: Int?
    }

    private let contents = Mutex(Contents())
    /// Held for a whole operation, whose result need not be Sendable (so not a `Mutex`).
    private let operationLock = OperationLock()

    public init() {}

    /// The state file's bytes; setting them plants a state (a damaged one, say).
    public var state: [UInt8]? {
        get { contents.withLock { $0.state } }
        set { contents.withLock { $0.state = newValue } }
    }

    /// The journal's bytes; setting them plants a journal.
    public var journal: [UInt8]? {
        get { contents.withLock { $0.journal } }
        set { contents.withLock { $0.journal = newValue } }
    }

    /// The next `replaceState` leaves only the first `count` bytes of the new state, then fails with EIO.
    public func tearNextStateWrite(keeping count: Int) {
        contents.withLock { $0.tearStateAt = count }
    }

    /// The next `appendJournal` adds only the first `count` bytes of its lines, then fails with EIO.
    public func tearNextJournalAppend(keeping count: Int) {
        contents.withLock { $0.tearAppendAt = count }
    }

    public func withExclusiveLock<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        operationLock.lock()
        defer { operationLock.unlock() }
        return try body()
    }

    public func readState(limit: Int) throws(StorageFailure) -> [UInt8]? {
        contents.withLock { $0.state }
    }

    public func replaceState(with bytes: [UInt8]) throws(StorageFailure) {
        let torn = contents.withLock { contents -> Bool in
            guard let keep = contents.tearStateAt else {
                contents.state = bytes
                return false
            }
            contents.tearStateAt = nil
            contents.state = Array(bytes.prefix(keep))
            return true
        }
        if torn { throw StorageFailure(call: "write ledger.state", errno: EIO, description: "cannot write the ledger state: torn by the test (in memory)") }
    }

    public func readJournal(limit: Int) throws(StorageFailure) -> [UInt8]? {
        contents.withLock { $0.journal }
    }

    public func appendJournal(_ lines: [UInt8]) throws(StorageFailure) {
        let torn = contents.withLock { contents -> Bool in
            var journal = contents.journal ?? []
            // A torn last line is cut before the new lines, as the disk's append does.
            let whole = journal.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            journal.removeSubrange(whole...)
            guard let keep = contents.tearAppendAt else {
                contents.journal = journal + lines
                return false
            }
            contents.tearAppendAt = nil
            contents.journal = journal + lines.prefix(keep)
            return true
        }
        if torn { throw StorageFailure(call: "write journal", errno: EIO, description: "cannot write the journal: torn by the test (in memory)") }
    }
}

/// A plain mutex locked and unlocked around a closure of any result type.
private final class OperationLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}
