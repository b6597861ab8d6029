import Glibc
import LinuxPlatform

/// The channel store's directory: one `<channel id hex>.channel` file per channel.
///
/// A write is temp file, fsync, rename over the old file, fsync of the directory (as
/// `LedgerFile` does): after a power cut at any instant the file is the old record or the new
/// one, and the checksum in the record catches anything else. Apart from `LedgerFile`, the
/// only type in the module that touches the file system.
struct ChannelDirectory {
    static let suffix = ".channel"
    static let temporarySuffix = ".tmp"

    let path: String

    /// Creates the directory (0700) if it is missing.
    init(path: String) throws(ChannelStoreError) {
        self.path = path
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw .storage(call: "mkdir \(path)", errno: errno)
        }
    }

    static func fileName(_ id: ChannelID) -> String { Hex.encode(id.bytes) + suffix }

    func filePath(_ id: ChannelID) -> String { path + "/" + Self.fileName(id) }

    /// The names of the entries in the directory (not `.` and `..`).
    func names() throws(ChannelStoreError) -> [String] {
        do { return try DirectoryEntries.names(path) } catch { throw .storage(call: error.call, errno: error.errno) }
    }

    /// A file's bytes, at most `limit + 1` of them (enough for a decoder to refuse the rest).
    func read(_ name: String, limit: Int) throws(ChannelStoreError) -> [UInt8] {
        let full = path + "/" + name
        let bytes: [UInt8]?
        do { bytes = try DurableFile.read(full, limit: limit) } catch { throw .storage(call: error.call, errno: error.errno) }
        guard let bytes else { throw .storage(call: "open \(full)", errno: ENOENT) }
        return bytes
    }

    /// Removes a leftover temporary file (a write a crash interrupted before its rename).
    func removeLeftover(_ name: String) {
        _ = unlink(path + "/" + name)
    }

    /// Replaces the channel's file atomically and durably.
    func write(_ id: ChannelID, _ bytes: [UInt8]) throws(ChannelStoreError) {
        do { try DurableFile.replace(filePath(id), in: path, with: bytes) } catch {
            throw .storage(call: error.call, errno: error.errno)
        }
    }
}
