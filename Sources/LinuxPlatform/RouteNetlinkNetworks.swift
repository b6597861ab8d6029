import CNetlink
import Glibc

/// One prefix the host knows: an address with its prefix length, or a route's destination.
public struct KernelPrefix: Equatable, Sendable {
    /// 4 or 16 bytes in network order (host bits as the kernel has them).
    public let bytes: [UInt8]
    public let length: Int
    /// Where it came from, for logs: "address on index 3", "route in table 254".
    public let origin: String
}

extension RouteNetlink {
    /// Every IPv4 and IPv6 address on every interface (with its prefix length) and the
    /// destination of every route in every table (default routes included: the caller decides
    /// what to keep), read in two netlink dumps. Needs no privilege.
    public func hostPrefixes() throws(PlatformError) -> [KernelPrefix] {
        try withSocket { socket throws(PlatformError) -> [KernelPrefix] in
            var out: [KernelPrefix] = []
            var addresses: OpaquePointer?
            var result = rtnl_addr_alloc_cache(socket, &addresses)
            guard result >= 0, let addresses else {
                throw Self.failure(call: "rtnl_addr_alloc_cache", code: result, action: "reading the host's interface addresses")
            }
            defer { nl_cache_free(addresses) }
            var object = nl_cache_get_first(addresses)
            while let entry = object {
                defer { object = nl_cache_get_next(entry) }
                guard let local = rtnl_addr_get_local(entry),
                      let prefix = Self.kernelPrefix(local, length: Int(rtnl_addr_get_prefixlen(entry)),
                                                     origin: "address on interface index \(rtnl_addr_get_ifindex(entry))") else { continue }
                out.append(prefix)
            }
            var routes: OpaquePointer?
            result = rtnl_route_alloc_cache(socket, AF_UNSPEC, 0, &routes)
            guard result >= 0, let routes else {
                throw Self.failure(call: "rtnl_route_alloc_cache", code: result, action: "reading the host's routes")
            }
            defer { nl_cache_free(routes) }
            object = nl_cache_get_first(routes)
            while let entry = object {
                defer { object = nl_cache_get_next(entry) }
                guard let destination = rtnl_route_get_dst(entry),
                      let prefix = Self.kernelPrefix(destination, length: Int(nl_addr_get_prefixlen(destination)),
                                                     origin: "route in table \(rtnl_route_get_table(entry))") else { continue }
                out.append(prefix)
            }
            return out
        }
    }

    /// The bytes of an IPv4 or IPv6 netlink address (a default route's may be empty: zeros).
    static func kernelPrefix(_ address: OpaquePointer, length: Int, origin: String) -> KernelPrefix? {
        let size: Int
        switch nl_addr_get_family(address) {
        case AF_INET: size = 4
        case AF_INET6: size = 16
        default: return nil
        }
        guard (0...size * 8).contains(length) else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let available = min(Int(nl_addr_get_len(address)), size)
        if available > 0, let raw = nl_addr_get_binary_addr(address) {
            let source = UnsafeRawPointer(raw)
            for i in 0..<available { bytes[i] = source.load(fromByteOffset: i, as: UInt8.self) }
        }
        return KernelPrefix(bytes: bytes, length: length, origin: origin)
    }
}
