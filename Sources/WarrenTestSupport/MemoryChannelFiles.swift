import Glibc
import Payment
import Synchronization

/// An in-memory test double for `ChannelFiles`: named byte arrays, no disk. Two stores over
/// one instance model a restart (the second loads what the first wrote).
///
/// `tearNextWrite(keeping:)` models a power cut during a write on a medium that does not keep
/// a replace atomic: the file is left holding only the first bytes of the new content and the
/// write fails, as the process would have died there.
public final class MemoryChannelFiles: ChannelFiles {
    private struct Contents {
        /// Whether the storage exists (the directory, on disk); `prepare` creates it.
        var exists = false
        var files: [String: [UInt8]] = [:]
        var tearAt: Int?
        var replaces = 0
    }

    private let contents = Mutex(Contents())

    /// An empty storage that does not exist yet, as a fresh state directory.
    public init() {}

    /// A file's bytes; setting one plants a file (a damaged one, say) as another program
    /// would, creating the storage if needed.
    public subscript(name: String) -> [UInt8]? {
        get { contents.withLock { $0.files[name] } }
        set {
            contents.withLock {
                $0.exists = true
                $0.files[name] = newValue
            }
        }
    }

    /// How many `replace` calls wrote (whole or torn).
    public var replaceCount: Int { contents.withLock { $0.replaces } }

    /// The next `replace` leaves the file holding only the first `count` bytes of its new
    /// content, then fails with EIO.
    public func tearNextWrite(keeping count: Int) {
        contents.withLock { $0.tearAt = count }
    }

    public func names() throws(StorageFailure) -> [String]? {
        contents.withLock { $0.exists ? $0.files.keys.sorted() : nil }
    }

    public func prepare() throws(StorageFailure) {
        contents.withLock { $0.exists = true }
    }

    public func read(_ name: String, limit: Int) throws(StorageFailure) -> [UInt8]? {
        contents.withLock { $0.files[name] }
    }

    public func replace(_ name: String, with bytes: [UInt8]) throws(StorageFailure) {
        let failure = contents.withLock { contents -> StorageFailure? in
            guard contents.exists else {
                return StorageFailure(call: "open \(name)", errno: ENOENT, description: "cannot write \(name): no storage (in memory)")
            }
            contents.replaces += 1
            guard let keep = contents.tearAt else {
                contents.files[name] = bytes
                return nil
            }
            contents.tearAt = nil
            contents.files[name] = Array(bytes.prefix(keep))
            return StorageFailure(call: "write \(name)", errno: EIO, description: "cannot write \(name): torn by the test (in memory)")
        }
        if let failure { throw failure }
    }
}
