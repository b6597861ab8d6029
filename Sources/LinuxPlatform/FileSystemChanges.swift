import Glibc

/// Creating a directory and removing an entry: the changes to a directory that are not a
/// durable file write (those are `DurableFile`'s).
public enum FileSystemChanges {
    /// Creates the directory `path` (`mode`, before the umask) unless it exists.
    public static func create(_ path: String, mode: mode_t = 0o700) throws(DurableFile.Failure) {
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw DurableFile.Failure(call: "mkdir \(path)", errno: errno)
        }
    }

    /// Removes the file `path`; a file already gone is not an error.
    public static func remove(_ path: String) throws(DurableFile.Failure) {
        if unlink(path) != 0 && errno != ENOENT {
            throw DurableFile.Failure(call: "unlink \(path)", errno: errno)
        }
    }
}
