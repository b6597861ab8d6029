/// Cryptokey routing table: longest-prefix match from an address to a peer.
///
/// One hash table per prefix length, probed from the longest length in use.
/// A home configuration has a handful of distinct lengths, so a lookup is a
/// few hash probes with no allocation.
public struct AllowedIPs<Value>: Sendable where Value: Sendable {
    private struct Key: Hashable {
        var hi: UInt64
        var lo: UInt64
    }

    private var v4: [[Key: Value]] = Array(repeating: [:], count: 33)
    private var v6: [[Key: Value]] = Array(repeating: [:], count: 129)
    private var v4Lengths: [Int] = []   // lengths in use, longest first
    private var v6Lengths: [Int] = []

    public init() {}

    /// Adds or replaces `prefix`; an existing owner of the same prefix loses it (as `wg set` does).
    public mutating func insert(_ prefix: IPPrefix, value: Value) {
        let network = prefix.network
        let key = AllowedIPs.key(network.address)
        if network.address.isV4 {
            v4[prefix.length][key] = value
            if !v4Lengths.contains(prefix.length) { v4Lengths.append(prefix.length); v4Lengths.sort(by: >) }
        } else {
            v6[prefix.length][key] = value
            if !v6Lengths.contains(prefix.length) { v6Lengths.append(prefix.length); v6Lengths.sort(by: >) }
        }
    }

    public mutating func remove(where shouldRemove: (Value) -> Bool) {
        for i in v4.indices { v4[i] = v4[i].filter { !shouldRemove($0.value) } }
        for i in v6.indices { v6[i] = v6[i].filter { !shouldRemove($0.value) } }
        v4Lengths.removeAll { v4[$0].isEmpty }
        v6Lengths.removeAll { v6[$0].isEmpty }
    }

    public func lookup(_ address: IPAddress) -> Value? {
        switch address {
        case .v4(let value):
            for length in v4Lengths {
                let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
                if let hit = v4[length][Key(hi: 0, lo: UInt64(value & mask))] { return hit }
            }
        case .v6(let hi, let lo):
            for length in v6Lengths {
                let (mh, ml) = IPPrefix.v6Mask(length)
                if let hit = v6[length][Key(hi: hi & mh, lo: lo & ml)] { return hit }
            }
        }
        return nil
    }

    /// Looks up the address at `offset` in a raw packet: 4 bytes for IPv4, 16 for IPv6.
    @inline(__always)
    public func lookup(packet: UnsafeRawBufferPointer, offset: Int, isV4: Bool) -> Value? {
        if isV4 {
            let a = UInt32(packet[offset]) << 24 | UInt32(packet[offset + 1]) << 16 | UInt32(packet[offset + 2]) << 8 | UInt32(packet[offset + 3])
            return lookup(.v4(a))
        }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(packet[offset + i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(packet[offset + i]) }
        return lookup(.v6(hi, lo))
    }

    /// Every prefix owned by values matching `predicate`, for status output.
    public func prefixes(where predicate: (Value) -> Bool) -> [IPPrefix] {
        var out: [IPPrefix] = []
        for length in v4Lengths {
            for (key, value) in v4[length] where predicate(value) {
                if let p = IPPrefix(address: .v4(UInt32(key.lo)), length: length) { out.append(p) }
            }
        }
        for length in v6Lengths {
            for (key, value) in v6[length] where predicate(value) {
                if let p = IPPrefix(address: .v6(key.hi, key.lo), length: length) { out.append(p) }
            }
        }
        return out
    }

    private static func key(_ address: IPAddress) -> Key {
        switch address {
        case .v4(let value): return Key(hi: 0, lo: UInt64(value))
        case .v6(let hi, let lo): return Key(hi: hi, lo: lo)
        }
    }
}
