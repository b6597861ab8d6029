import WireGuard

/// Every network of the host a provider runs on: the prefix of each address on each interface
/// and the destination of each route it knows (the owner's LAN, the router's link, a global IPv6
/// prefix the ISP delegated), which a consumer must never reach whatever its numbers say.
///
/// Built from whatever the platform reads (addresses, routes) by `init(_:excluding:)`, which keeps
/// only what protects something:
/// - a default route (`0.0.0.0/0`, `::/0`) and anything as wide as a default (shorter than /8
///   for IPv4, /16 for IPv6: the `0/1` + `128/1` pair of a VPN, `2000::/3`) is not a home
///   network and would block the whole Internet;
/// - a prefix inside one of `pools` (the provider's own consumer pool, on its tunnel) is left
///   to the consumer-isolation check;
/// - a prefix inside loopback, link-local, multicast or 0/8, 240/4 (present on every host, and
///   always blocked by `HostProtection` anyway) is noise;
/// - a prefix inside another one is dropped, so the rest are disjoint and sorted.
///
/// `contains` is a binary search over two flat arrays: no allocation, O(log n) per packet.
public struct HostNetworks: Sendable, Equatable {
    /// The shortest prefix length taken as a network rather than a default-like route.
    public static let minimumLengthV4 = 8
    public static let minimumLengthV6 = 16

    /// Ranges always blocked, which never need listing here.
    static let noise: [IPPrefix] = [
        "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fe80::/10", "ff00::/8",
    ].compactMap { IPPrefix(parsing: $0) }

    /// The networks, host bits cleared, disjoint, IPv4 first, each family in address order.
    public let prefixes: [IPPrefix]
    /// First and last address of each IPv4 network, in the same order.
    private let v4: [(first: UInt32, last: UInt32)]
    /// The same for IPv6, as (high, low) halves.
    private let v6: [(firstHi: UInt64, firstLo: UInt64, lastHi: UInt64, lastLo: UInt64)]

    public static let empty = HostNetworks([])

    public init(_ candidates: [IPPrefix], excluding pools: [IPPrefix] = []) {
        let pools = pools.map(\.network)
        var kept: [IPPrefix] = []
        for candidate in candidates {
            let network = candidate.network
            let minimum = network.address.isV4 ? HostNetworks.minimumLengthV4 : HostNetworks.minimumLengthV6
            guard network.length >= minimum else { continue }
            if pools.contains(where: { $0.covers(network) }) { continue }
            if HostNetworks.noise.contains(where: { $0.covers(network) }) { continue }
            kept.append(network)
        }
        // In address order, a network inside another comes after it, and the last network kept
        // is the only one that can contain it (those kept are disjoint).
        kept.sort { HostNetworks.orders($0, before: $1) }
        var disjoint: [IPPrefix] = []
        disjoint.reserveCapacity(kept.count)
        for network in kept {
            if let last = disjoint.last, last.covers(network) { continue }
            disjoint.append(network)
        }
        prefixes = disjoint
        var v4: [(first: UInt32, last: UInt32)] = []
        var v6: [(firstHi: UInt64, firstLo: UInt64, lastHi: UInt64, lastLo: UInt64)] = []
        for network in disjoint {
            switch network.address {
            case .v4(let first):
                // Swift's >> gives 0 for a shift of the whole width: /32 has no host bits.
                v4.append((first, first | ~UInt32(0) >> UInt32(network.length)))
            case .v6(let hi, let lo):
                let length = network.length
                let hostHi = length >= 64 ? 0 : ~UInt64(0) >> UInt64(length)
                let hostLo = length <= 64 ? ~UInt64(0) : ~UInt64(0) >> UInt64(length - 64)
                v6.append((hi, lo, hi | hostHi, lo | hostLo))
            }
        }
        self.v4 = v4
        self.v6 = v6
    }

    public var isEmpty: Bool { prefixes.isEmpty }

    /// Whether `address` lies in one of the networks.
    @inline(__always)
    public func contains(_ address: IPAddress) -> Bool {
        switch address {
        case .v4(let value):
            // The last range starting at or before `value`.
            var low = 0, high = v4.count
            while low < high {
                let middle = (low + high) / 2
                if v4[middle].first <= value { low = middle + 1 } else { high = middle }
            }
            return low > 0 && value <= v4[low - 1].last
        case .v6(let hi, let lo):
            var low = 0, high = v6.count
            while low < high {
                let middle = (low + high) / 2
                let range = v6[middle]
                if range.firstHi < hi || (range.firstHi == hi && range.firstLo <= lo) { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { return false }
            let range = v6[low - 1]
            return hi < range.lastHi || (hi == range.lastHi && lo <= range.lastLo)
        }
    }

    public static func == (a: HostNetworks, b: HostNetworks) -> Bool { a.prefixes == b.prefixes }

    /// Address order: IPv4 before IPv6, then by network address, then the wider prefix first.
    static func orders(_ a: IPPrefix, before b: IPPrefix) -> Bool {
        switch (a.address, b.address) {
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v4(let x), .v4(let y)):
            return x != y ? x < y : a.length < b.length
        case (.v6(let xh, let xl), .v6(let yh, let yl)):
            if xh != yh { return xh < yh }
            if xl != yl { return xl < yl }
            return a.length < b.length
        }
    }
}

extension IPPrefix {
    /// Whether every address of `other` is inside this prefix (same family, no wider).
    public func covers(_ other: IPPrefix) -> Bool {
        address.isV4 == other.address.isV4 && length <= other.length && contains(other.address)
    }
}
