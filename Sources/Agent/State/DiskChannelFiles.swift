import Glibc
import LinuxPlatform
import Payment

/// A channel store's files in a directory on disk (`<state directory>/channels`): one file per
/// channel, replaced by `DurableFile` (temporary file, fsync, rename, fsync of the directory),
/// so after a power cut at any instant a file is its old record or its new one.
public struct DiskChannelFiles: ChannelFiles {
    /// What `DurableFile.replace` writes before its rename; a crash can leave one behind.
    static let temporarySuffix = ".tmp"

    public let directory: String

    /// Names the directory; nothing is created until `prepare` (a display only reads).
    public init(directory: String) {
        self.directory = directory
    }

    /// The entry names, or nil when the directory does not exist (or is not a directory).
    public func names() throws(StorageFailure) -> [String]? {
        do { return try DirectoryEntries.names(directory) } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
            throw StorageFailure(error)
        }
    }

    /// Creates the directory (0700) if missing and removes the temporary files of writes a
    /// crash interrupted before their rename (left in place if they cannot be removed: they
    /// are never read as channels).
    public func prepare() throws(StorageFailure) {
        let entries: [String]
        do {
            try FileSystemChanges.create(directory, mode: 0o700)
            entries = try DirectoryEntries.names(directory)
        } catch { throw StorageFailure(error) }
        for name in entries where name.hasSuffix(Self.temporarySuffix) {
            try? FileSystemChanges.remove(directory + "/" + name)
        }
    }

    public func read(_ name: String, limit: Int) throws(StorageFailure) -> [UInt8]? {
        do { return try DurableFile.read(directory + "/" + name, limit: limit) } catch { throw StorageFailure(error) }
    }

    public func replace(_ name: String, with bytes: [UInt8]) throws(StorageFailure) {
        do {
            try DurableFile.replace(directory + "/" + name, in: directory, with: bytes, temporarySuffix: Self.temporarySuffix)
        } catch { throw StorageFailure(error) }
    }
}

extension StorageFailure {
    /// A platform call's failure in Payment's terms, worded for a person.
    init(_ failure: DurableFile.Failure) {
        self.init(call: failure.call, errno: failure.errno,
                  description: StorageFailureText.text(call: failure.call, errno: failure.errno))
    }
}
