/// Where a `ChannelStore` keeps its channels: a flat set of small named files, one per
/// channel. The agent's are a directory on disk (Agent's `DiskChannelFiles`); tests use an
/// in-memory double (WarrenTestSupport's `MemoryChannelFiles`).
///
/// What the store relies on:
/// - `replace` is atomic and durable: once it returns the new bytes survive a power cut, and
///   a cut during it leaves the old file or the new one. A medium that breaks this and tears
///   a file is caught by the record's checksum (`ChecksummedText`).
/// - `names` and `read` take no lock and change nothing, so a display may read while an
///   agent writes.
public protocol ChannelFiles: Sendable {
    /// The file names, sorted; nil when the storage does not exist. Creates nothing.
    func names() throws(StorageFailure) -> [String]?

    /// Makes the storage ready for a store that will write: creates it if missing and clears
    /// what an interrupted write left behind (it is never a channel file).
    func prepare() throws(StorageFailure)

    /// A file's bytes, or nil when it does not exist. May stop reading once past `limit`
    /// (returning more than `limit` bytes, enough for a decoder to refuse the file).
    func read(_ name: String, limit: Int) throws(StorageFailure) -> [UInt8]?

    /// Replaces (or creates) a file atomically and durably.
    func replace(_ name: String, with bytes: [UInt8]) throws(StorageFailure)
}
