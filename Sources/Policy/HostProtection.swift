import WireGuard

/// Keeps a provider's consumers out of the owner's home: the LAN, the router, the host itself
/// and every address that only means something locally.
///
/// Blocked whatever the whitelist says:
/// - IPv4: 0.0.0.0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16, 172.16/12, 192.168/16,
///   224/4 (multicast) and 240/4 (reserved, which holds the broadcast 255.255.255.255);
/// - IPv6: ::1 and ::, fe80::/10, fec0::/10 (old site-local), fc00::/7 (unique local),
///   ff00::/8 (multicast), and any IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96) or
///   NAT64 (64:ff9b::/96) address whose embedded IPv4 address is blocked;
/// - the host's own addresses, and `hostNetworks`: every network the host is attached to or
///   routes to (a global IPv6 LAN prefix, the router's link, is not private by its numbers, so
///   the caller reads them from the system and keeps them current with `hostNetworks = …`).
///
/// `allowedLocalDNS` lists the provider's in-tunnel resolvers: they are reachable on port 53
/// over UDP or TCP and nothing else, so `HostProtection(hostAddresses: wan,
/// allowedLocalDNS: [10.99.0.1])` says "DNS to 10.99.0.1:53 allowed". Every check here is a
/// few comparisons, hash probes and a binary search, with no allocation.
public struct HostProtection: Sendable {
    /// The fixed protected ranges, for status output and tests.
    public static let protectedPrefixes: [IPPrefix] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fe80::/10", "fec0::/10", "fc00::/7", "ff00::/8",
    ].compactMap { IPPrefix(parsing: $0) }

    /// (network, mask) pairs of the IPv4 ranges above, checked in the data path.
    private static let v4Ranges: [(network: UInt32, mask: UInt32)] = [
        (0x0000_0000, 0xff00_0000), (0x0a00_0000, 0xff00_0000), (0x6440_0000, 0xffc0_0000),
        (0x7f00_0000, 0xff00_0000), (0xa9fe_0000, 0xffff_0000), (0xac10_0000, 0xfff0_0000),
        (0xc0a8_0000, 0xffff_0000), (0xe000_0000, 0xf000_0000), (0xf000_0000, 0xf000_0000),
    ]

    public let hostAddresses: Set<IPAddress>
    /// The networks of the host (see `HostNetworks`); replaced as the host's addresses and
    /// routes change, an assignment with no copy of the tables.
    public var hostNetworks: HostNetworks
    public let allowedLocalDNS: Set<IPAddress>

    public init(hostAddresses: [IPAddress], hostNetworks: HostNetworks = .empty, allowedLocalDNS: [IPAddress] = []) {
        self.hostAddresses = Set(hostAddresses)
        self.hostNetworks = hostNetworks
        self.allowedLocalDNS = Set(allowedLocalDNS)
    }

    /// Whether a consumer's packet to `destination` must be dropped, port aside.
    /// The in-tunnel resolvers count as blocked here: only `isLocalResolver` plus a port 53
    /// check lets traffic reach them.
    public func blocks(_ destination: IPAddress) -> Bool {
        if hostAddresses.contains(destination) || hostNetworks.contains(destination) { return true }
        switch destination {
        case .v4(let address):
            return HostProtection.isProtectedV4(address)
        case .v6(let hi, let lo):
            if let embedded = HostProtection.embeddedV4(hi: hi, lo: lo) {
                let v4 = IPAddress.v4(embedded)
                return HostProtection.isProtectedV4(embedded) || hostAddresses.contains(v4) || hostNetworks.contains(v4)
            }
            let top16 = hi >> 48
            return top16 & 0xffc0 == 0xfe80        // fe80::/10 link-local
                || top16 & 0xffc0 == 0xfec0        // fec0::/10 site-local
                || top16 & 0xfe00 == 0xfc00        // fc00::/7 unique local
                || top16 & 0xff00 == 0xff00        // ff00::/8 multicast
        }
    }

    /// Whether `destination` is one of the provider's in-tunnel resolvers.
    @inline(__always)
    public func isLocalResolver(_ destination: IPAddress) -> Bool {
        !allowedLocalDNS.isEmpty && allowedLocalDNS.contains(destination)
    }

    /// The IPv4 address inside an IPv4-mapped, IPv4-compatible or NAT64 well-known-prefix address.
    /// `::` and `::1` come back as 0.0.0.0 and 0.0.0.1, which 0.0.0.0/8 blocks.
    @inline(__always)
    static func embeddedV4(hi: UInt64, lo: UInt64) -> UInt32? {
        let upper = lo >> 32
        if hi == 0 && (upper == 0xffff || upper == 0) { return UInt32(truncatingIfNeeded: lo) }
        if hi == 0x0064_ff9b_0000_0000 && upper == 0 { return UInt32(truncatingIfNeeded: lo) }
        return nil
    }

    @inline(__always)
    static func isProtectedV4(_ address: UInt32) -> Bool {
        for range in v4Ranges where address & range.mask == range.network { return true }
        return false
    }
}
