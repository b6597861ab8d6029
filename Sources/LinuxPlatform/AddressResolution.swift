import Glibc

extension SocketAddress {
    /// Resolves a host name or numeric address (IPv6 with or without
    /// brackets, optionally with a %scope) through getaddrinfo, keeping the
    /// resolver's order and dropping duplicates.
    public static func resolve(host: String, port: UInt16) throws(PlatformError) -> [SocketAddress] {
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]") {
            name = String(name.dropFirst().dropLast())
        }
        guard !name.isEmpty else {
            throw PlatformError(
                call: "getaddrinfo", errno: 0,
                message: "cannot resolve an empty host name: give an IP address or a DNS name")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_UDP)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, String(port), &hints, &list)
        guard status == 0 else {
            let systemCode = status == EAI_SYSTEM ? Glibc.errno : 0
            let reason = String(cString: gai_strerror(status))
            throw PlatformError(
                call: "getaddrinfo", errno: systemCode,
                message: "cannot resolve \"\(host)\" (\(reason)): check the name and the DNS configuration (/etc/resolv.conf)")
        }
        defer { freeaddrinfo(list) }
        var found: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr,
                let converted = SocketAddress(kernelAddress: UnsafeRawPointer(address), length: current.pointee.ai_addrlen),
                !found.contains(converted)
            {
                found.append(converted)
            }
            entry = current.pointee.ai_next
        }
        guard !found.isEmpty else {
            throw PlatformError(
                call: "getaddrinfo", errno: 0,
                message: "\"\(host)\" has no IPv4 or IPv6 address: check the name")
        }
        return found
    }
}
