import WireGuard

/// Tunnel addresses a provider hands to consumers: the first host of each pool
/// prefix is the provider's own, the rest go one per session and come back when
/// the session ends.
public struct AddressPool: Sendable {
    public let prefixes: [IPPrefix]
    private var inUse: Set<Int> = []
    public let capacity: Int

    public init(prefixes: [IPPrefix]) {
        self.prefixes = prefixes.map(\.network)
        // Offsets 2... (0 is the network, 1 the provider); IPv4 also keeps its broadcast.
        let sizes = self.prefixes.map { prefix -> Int in
            let hostBits = prefix.address.bitWidth - prefix.length
            let hosts = hostBits >= 20 ? 1 << 20 : (1 << hostBits)
            return prefix.address.isV4 ? hosts - 3 : hosts - 2
        }
        capacity = max(0, sizes.min() ?? 0)
    }

    /// The provider's own address in each prefix, with the pool's prefix length.
    public var providerAddresses: [IPPrefix] {
        prefixes.compactMap { IPPrefix(address: AddressPool.offset($0.address, by: 1), length: $0.length) }
    }

    /// Allocates the lowest free slot: one address per prefix (as host prefixes).
    public mutating func allocate() -> (slot: Int, addresses: [IPPrefix])? {
        guard let slot = (0..<capacity).first(where: { !inUse.contains($0) }) else { return nil }
        inUse.insert(slot)
        return (slot, addresses(slot: slot))
    }

    public mutating func release(slot: Int) { inUse.remove(slot) }

    public var allocated: Int { inUse.count }

    public func addresses(slot: Int) -> [IPPrefix] {
        prefixes.compactMap { IPPrefix(address: AddressPool.offset($0.address, by: UInt64(slot + 2)), length: $0.address.bitWidth) }
    }

    static func offset(_ address: IPAddress, by n: UInt64) -> IPAddress {
        switch address {
        case .v4(let value): return .v4(value &+ UInt32(truncatingIfNeeded: n))
        case .v6(let hi, let lo):
            let (sum, carry) = lo.addingReportingOverflow(n)
            return .v6(carry ? hi &+ 1 : hi, sum)
        }
    }
}
