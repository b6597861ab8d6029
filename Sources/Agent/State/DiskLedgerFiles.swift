import LinuxPlatform
import Payment

/// The local ledger's files in a directory on disk, shared by the agents of one machine:
/// `ledger.state` (replaced by `DurableFile`: temporary file, fsync, rename, fsync of the
/// directory), `journal` (appended with fsync) and `ledger.lock` (an `ExclusiveFileLock`).
public struct DiskLedgerFiles: LedgerFiles {
    static let stateName = "ledger.state"
    static let journalName = "journal"
    static let lockName = "ledger.lock"

    public let directory: String

    /// Names the directory; the first locked operation creates it (0700) if missing.
    public init(directory: String) {
        self.directory = directory
    }

    var statePath: String { directory + "/" + Self.stateName }
    var journalPath: String { directory + "/" + Self.journalName }

    public func withExclusiveLock<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        let outcome: Result<T, LedgerError>
        do {
            try FileSystemChanges.create(directory, mode: 0o700)
            outcome = try ExclusiveFileLock.holding(directory + "/" + Self.lockName, body)
        } catch { throw .storage(StorageFailure(error)) }
        return try outcome.get()
    }

    public func readState(limit: Int) throws(StorageFailure) -> [UInt8]? {
        do { return try DurableFile.read(statePath, limit: limit) } catch { throw StorageFailure(error) }
    }

    public func replaceState(with bytes: [UInt8]) throws(StorageFailure) {
        do { try DurableFile.replace(statePath, in: directory, with: bytes) } catch { throw StorageFailure(error) }
    }

    public func readJournal(limit: Int) throws(StorageFailure) -> [UInt8]? {
        do { return try DurableFile.read(journalPath, limit: limit) } catch { throw StorageFailure(error) }
    }

    public func appendJournal(_ lines: [UInt8]) throws(StorageFailure) {
        do { try DurableFile.append(journalPath, in: directory, with: lines) } catch { throw StorageFailure(error) }
    }
}
