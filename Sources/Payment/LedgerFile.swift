import Glibc
import LinuxPlatform

/// The local ledger's directory: `ledger.state` (the encoded state) and `ledger.lock`.
///
/// Every operation holds an exclusive `flock` on the lock file from reading the state to
/// renaming the new one into place, so several agents on one machine see one sequence of
/// operations. A write is temp file, fsync, rename, fsync of the directory: after a power
/// cut the file is the old state or the new one, and the checksum catches anything else.
/// This is the only type in the module that touches the file system.
struct LedgerFile {
    let directory: String

    var statePath: String { directory + "/ledger.state" }
    var lockPath: String { directory + "/ledger.lock" }

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
        let fd = open(statePath, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .storage(call: "open \(statePath)", errno: errno)
        }
        defer { _ = close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .storage(call: "read \(statePath)", errno: errno)
            }
            if n == 0 { return out }
            out += chunk[0..<n]
            // One byte past the format's limit is enough for the decoder to refuse it.
            if out.count > LedgerText.maximumLength { return out }
        }
    }

    /// Replaces the state file atomically and durably.
    func write(_ bytes: [UInt8]) throws(LedgerError) {
        do { try DurableFile.replace(statePath, in: directory, with: bytes) } catch {
            throw .storage(call: error.call, errno: error.errno)
        }
    }
}
