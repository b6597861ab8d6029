/// Counters for one consumer session on a provider, updated by the data plane for every
/// packet and read by the agent for status, rate limits and invoices.
///
/// Bytes that reach the WAN (`bytesForwarded`) are what a consumer is billed for; dropped
/// packets are counted by the verdict that dropped them, so a status line can say why.
public struct SessionMeter: Sendable, Equatable {
    /// Packets and bytes that arrived from the consumer, whatever became of them.
    public var packetsFromConsumer: UInt64 = 0
    public var bytesFromConsumer: UInt64 = 0
    /// Packets and bytes sent back to the consumer through the tunnel.
    public var packetsToConsumer: UInt64 = 0
    public var bytesToConsumer: UInt64 = 0
    /// Bytes from the consumer that were let out (`.allow` and `.allowDNS`).
    public var bytesForwarded: UInt64 = 0
    /// Packets allowed to a listed or learned destination (every allowed packet on an open exit).
    public var whitelistHits: UInt64 = 0
    /// Packets handed to the provider's DNS forwarder.
    public var dnsPackets: UInt64 = 0
    /// Queries the forwarder refused because the name is not on the whitelist.
    public var namesRefused: UInt64 = 0
    /// Dropped packets, by the verdict that dropped them.
    public var blockedLocal: UInt64 = 0
    public var blockedSMTP: UInt64 = 0
    public var notWhitelisted: UInt64 = 0
    public var malformed: UInt64 = 0

    public init() {}

    /// Counts one packet from the consumer and what the exit decided for it.
    @inline(__always)
    public mutating func recordFromConsumer(bytes: Int, verdict: ExitVerdict) {
        let size = UInt64(max(0, bytes))
        packetsFromConsumer &+= 1
        bytesFromConsumer &+= size
        switch verdict {
        case .allow:
            whitelistHits &+= 1
            bytesForwarded &+= size
        case .allowDNS:
            dnsPackets &+= 1
            bytesForwarded &+= size
        case .blockedLocal: blockedLocal &+= 1
        case .blockedSMTP: blockedSMTP &+= 1
        case .notWhitelisted: notWhitelisted &+= 1
        case .malformed: malformed &+= 1
        }
    }

    /// Counts one packet sent back to the consumer.
    @inline(__always)
    public mutating func recordToConsumer(bytes: Int) {
        packetsToConsumer &+= 1
        bytesToConsumer &+= UInt64(max(0, bytes))
    }

    /// Counts a query the forwarder refused.
    public mutating func recordRefusedName() {
        namesRefused &+= 1
    }

    /// Every dropped packet, whatever the reason.
    public var droppedPackets: UInt64 {
        blockedLocal &+ blockedSMTP &+ notWhitelisted &+ malformed
    }

    /// The drop count for one verdict (0 for the verdicts that forward).
    public func drops(_ verdict: ExitVerdict) -> UInt64 {
        switch verdict {
        case .allow, .allowDNS: return 0
        case .blockedLocal: return blockedLocal
        case .blockedSMTP: return blockedSMTP
        case .notWhitelisted: return notWhitelisted
        case .malformed: return malformed
        }
    }
}
