import Glibc

/// The addresses configured on this host's interfaces (getifaddrs), as 4 or 16
/// network-order bytes: what a provider must never let a consumer reach.
public enum InterfaceAddresses {
    public static func all() -> [[UInt8]] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var out: [[UInt8]] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let v4 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
                out.append(withUnsafeBytes(of: v4.sin_addr) { Array($0) })
            case AF_INET6:
                let v6 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)
                out.append(withUnsafeBytes(of: v6.sin6_addr) { Array($0) })
            default:
                continue
            }
        }
        return out
    }
}
