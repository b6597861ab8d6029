import Glibc

/// A filesystem path made into a `sockaddr_un`, checked against the 107-byte
/// limit of `sun_path`.
struct UnixSocketPath {
    let path: String
    private(set) var address = sockaddr_un()

    init(_ path: String) throws(PlatformError) {
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw PlatformError(
                call: "sockaddr_un", errno: ENAMETOOLONG,
                message: "control socket path \"\(path)\" must be 1 to \(capacity - 1) bytes long: choose a shorter path")
        }
        self.path = path
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { target in
            for (i, byte) in bytes.enumerated() { target[i] = byte }
        }
    }

    /// Calls bind(2) or connect(2) with this address.
    func withSocketAddress<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var copy = address
        return withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// "wg0" for "/run/warren/wg0.sock": the interface the socket belongs to.
    var interfaceName: String {
        var name = path.split(separator: "/").last.map(String.init) ?? path
        if name.hasSuffix(".sock") { name.removeLast(5) }
        return name
    }

    /// The directory holding the socket.
    var parentDirectory: String? {
        Self.parent(of: path)
    }

    /// "/run/warren" for "/run/warren/wg0.sock" and "/run" for "/run/warren";
    /// nil for a bare name or a path directly under "/".
    static func parent(of path: String) -> String? {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return nil }
        let parent = String(trimmed[..<slash])
        return parent.isEmpty ? nil : parent
    }
}
