import Glibc
import LinuxPlatform

/// The local ledger's directory: `ledger.state` (the encoded state), `ledger.lock`, and
/// `journal` (one line per operation, see `LedgerJournal`).
///
/// Every operation holds an exclusive `flock` on the lock file from reading the state to
/// renaming the new one into place and appending its journal line, so several agents on one
/// machine see one sequence of operations. A write is temp file, fsync, rename, fsync of the
/// directory: after a power cut the file is the old state or the new one, and the checksum
/// catches anything else. Readers that only look (`LocalLedger.snapshot(directory:)`, the
/// journal reader) take no lock: a rename is atomic and a journal line is whole once its
/// newline is written.
struct LedgerFile {
    let directory: String

    static let stateName = "ledger.state"
    static let journalName = "journal"

    var statePath: String { directory + "/" + Self.stateName }
    var lockPath: String { directory + "/ledger.lock" }
    var journalPath: String { directory + "/" + Self.journalName }

    /// Creates the directory (0700) if it is missing.
    init(directory: String) throws(LedgerError) {
        self.directory = directory
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .storage(call: "mkdir \(directory)", errno: errno)
        }
    }

    /// Runs `body` while holding the exclusive lock; the lock goes with the descriptor.
    func withExclusiveLock<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .storage(call: "open \(lockPath)", errno: errno) }
        defer { _ = close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .storage(call: "flock \(lockPath)", errno: errno) }
        }
        return try body()
    }

    /// The state file's bytes, or nil when there is no ledger yet.
    func read() throws(LedgerError) -> [UInt8]? {
        try Self.contents(of: statePath, limit: LedgerText.maximumLength)
    }

    /// A file's bytes, read no further once past `limit` (past a format's limit is enough for
    /// its decoder to refuse the file); nil when the file does not exist. Creates nothing.
    static func contents(of path: String, limit: Int) throws(LedgerError) -> [UInt8]? {
        do { return try DurableFile.read(path, limit: limit) } catch {
            throw .storage(call: error.call, errno: error.errno)
        }
    }

    /// Replaces the state file atomically and durably.
    func write(_ bytes: [UInt8]) throws(LedgerError) {
        do { try DurableFile.replace(statePath, in: directory, with: bytes) } catch {
            throw .storage(call: error.call, errno: error.errno)
        }
    }

    /// Appends one line to the journal, durably, while the caller holds the lock.
    func appendJournal(_ line: String) throws(LedgerError) {
        do { try DurableFile.append(journalPath, in: directory, with: Array((line + "\n").utf8)) } catch {
            throw .storage(call: error.call, errno: error.errno)
        }
    }
}
