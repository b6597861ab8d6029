import Glibc

/// A UDP peer address, IPv4 or IPv6, kept as a `sockaddr_in6` with IPv4 in
/// its v4-mapped form (::ffff:a.b.c.d): one dual-stack socket sends to and
/// receives from both families, and the data path never converts.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// Network-order storage, as passed to sendto(2).
    var storage: sockaddr_in6

    /// `ipBytes` is 4 (IPv4) or 16 (IPv6) bytes in network order; any other
    /// length gives nil.
    public init?(ipBytes: [UInt8], port: UInt16) {
        let made: SocketAddress? = ipBytes.withUnsafeBytes { SocketAddress(ipBytes: $0, port: port) }
        guard let made else { return nil }
        self = made
    }

    /// Same as `init?(ipBytes:port:)`, reading the bytes in place (for the data path).
    public init?(ipBytes: UnsafeRawBufferPointer, port: UInt16) {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        switch ipBytes.count {
        case 4:
            withUnsafeMutableBytes(of: &address.sin6_addr) { target in
                target[10] = 0xff
                target[11] = 0xff
                for i in 0..<4 { target[12 + i] = ipBytes[i] }
            }
        case 16:
            withUnsafeMutableBytes(of: &address.sin6_addr) { target in
                for i in 0..<16 { target[i] = ipBytes[i] }
            }
        default:
            return nil
        }
        storage = address
    }

    init(storage: sockaddr_in6) {
        self.storage = storage
    }

    /// Reads an AF_INET or AF_INET6 socket address written by the kernel;
    /// nil for other families or a too-short length.
    init?(kernelAddress: UnsafeRawPointer, length: socklen_t) {
        let family = Int32(kernelAddress.loadUnaligned(fromByteOffset: 0, as: sa_family_t.self))
        if family == AF_INET6, Int(length) >= MemoryLayout<sockaddr_in6>.size {
            storage = kernelAddress.loadUnaligned(as: sockaddr_in6.self)
        } else if family == AF_INET, Int(length) >= MemoryLayout<sockaddr_in>.size {
            let v4 = kernelAddress.loadUnaligned(as: sockaddr_in.self)
            let made = withUnsafeBytes(of: v4.sin_addr) {
                SocketAddress(ipBytes: $0, port: UInt16(bigEndian: v4.sin_port))
            }
            guard let made else { return nil }
            self = made
        } else {
            return nil
        }
    }

    /// True for ::ffff:a.b.c.d, i.e. an IPv4 address.
    public var isIPv4: Bool {
        withUnsafeBytes(of: storage.sin6_addr) { bytes in
            for i in 0..<10 where bytes[i] != 0 { return false }
            return bytes[10] == 0xff && bytes[11] == 0xff
        }
    }

    /// 4 bytes for IPv4, else 16, in network order.
    public var ipBytes: [UInt8] {
        withIPBytes { Array($0) }
    }

    public var port: UInt16 {
        UInt16(bigEndian: storage.sin6_port)
    }

    /// The IPv6 scope (interface index) of a link-local address; 0 otherwise.
    public var scopeID: UInt32 {
        storage.sin6_scope_id
    }

    /// Lends the 4 or 16 address bytes without copying them.
    public func withIPBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let v4 = isIPv4
        return withUnsafeBytes(of: storage.sin6_addr) { bytes in
            body(v4 ? UnsafeRawBufferPointer(rebasing: bytes[12..<16]) : bytes)
        }
    }

    /// The IPv4 form for an AF_INET socket; nil if this is a real IPv6 address.
    var ipv4SocketAddress: sockaddr_in? {
        guard isIPv4 else { return nil }
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = storage.sin6_port
        withUnsafeBytes(of: storage.sin6_addr) { bytes in
            withUnsafeMutableBytes(of: &v4.sin_addr) { target in
                for i in 0..<4 { target[i] = bytes[12 + i] }
            }
        }
        return v4
    }

    /// "1.2.3.4:51820" or "[fd00::1]:51820" ("[fe80::1%3]:51820" with a scope).
    public var description: String {
        let host = hostText
        if isIPv4 {
            return "\(host):\(port)"
        }
        if scopeID != 0 {
            return "[\(host)%\(scopeID)]:\(port)"
        }
        return "[\(host)]:\(port)"
    }

    /// The address alone, as inet_ntop writes it.
    public var hostText: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let v4 = isIPv4
        let written: Bool = withIPBytes { bytes in
            text.withUnsafeMutableBufferPointer { out in
                inet_ntop(v4 ? AF_INET : AF_INET6, bytes.baseAddress, out.baseAddress, socklen_t(out.count)) != nil
            }
        }
        guard written else { return "?" }
        return cString(text)
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.port == rhs.port && lhs.scopeID == rhs.scopeID
            && withUnsafeBytes(of: lhs.storage.sin6_addr) { l in
                withUnsafeBytes(of: rhs.storage.sin6_addr) { r in l.elementsEqual(r) }
            }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: storage.sin6_addr) { hasher.combine(bytes: $0) }
        hasher.combine(port)
        hasher.combine(scopeID)
    }
}
