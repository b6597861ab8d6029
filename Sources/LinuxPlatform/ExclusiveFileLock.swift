import Glibc

/// An exclusive `flock` on a lock file, across threads and processes (each holder opens its
/// own descriptor, and flock excludes across open file descriptions). The lock goes with the
/// descriptor, so a holder that dies releases it.
public enum ExclusiveFileLock {
    /// Runs `body` while holding the lock on `path` (created `mode` if missing). Throws when
    /// the lock cannot be taken; `body`'s own outcome comes back as the result.
    public static func holding<T, E: Error>(_ path: String, mode: mode_t = 0o600,
                                            _ body: () throws(E) -> T) throws(DurableFile.Failure) -> Result<T, E> {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { throw DurableFile.Failure(call: "open \(path)", errno: errno) }
        defer { _ = close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw DurableFile.Failure(call: "flock \(path)", errno: errno) }
        }
        return Result { () throws(E) -> T in try body() }
    }
}
