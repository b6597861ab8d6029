import WireGuard

// The provider's exit, for one decrypted packet from a consumer:
//
//   Tunnel.completeReceive → .deliver(length)
//        │
//        ▼
//   ExitPolicy.verdict(packet, now) ── InnerPacketHeader: lengths, fragments, port
//        │   unparseable ................................ .malformed
//        │   in-tunnel resolver, UDP/TCP port 53 ......... .allowDNS  → the DNS forwarder
//        │   host, its networks, local-only, consumer pool .blockedLocal
//        │   TCP to port 25 .............................. .blockedSMTP
//        │   open exit ................................... .allow     → NAT to the WAN
//        │   listed prefix or learned address ............ .allow
//        ▼   anything else ............................... .notWhitelisted
//   SessionMeter.recordFromConsumer(bytes:verdict:)
//
// The DNS forwarder closes the loop: it answers names off the list with
// DNSQuery.refusedResponse() and calls learn() with every address of an upstream
// answer (DNSResponse.addresses) before it passes the answer on, so the consumer's
// next packet to that address is already allowed. An address that the exit protects
// (the host, its networks, a local-only range, the consumer pool) is never learned:
// a rebinding answer pointing into the owner's home teaches the exit nothing.

/// What the exit does with one packet from a consumer.
public enum ExitVerdict: Sendable, Hashable, CaseIterable {
    /// Forward to the WAN.
    case allow
    /// Hand to the provider's DNS forwarder (UDP or TCP port 53 to an in-tunnel resolver).
    case allowDNS
    /// To the owner's LAN, router or host, a local-only range, or another consumer.
    case blockedLocal
    /// TCP to port 25: an exit must not become a spam relay.
    case blockedSMTP
    /// Not on the whitelist and not learned through the forwarder.
    case notWhitelisted
    /// Not a well-formed IPv4 or IPv6 packet.
    case malformed

    /// Whether the packet goes anywhere.
    public var isForwarded: Bool { self == .allow || self == .allowDNS }
}

/// The whole exit decision for a provider: host protection, consumer isolation, the SMTP
/// block, then the whitelist (or nothing more, for an open exit).
///
/// `verdict` reads the packet in place and allocates nothing. The type is a value: the data
/// plane owns one and the DNS forwarder's `learn` calls go through the same owner, so the
/// caller decides how the two threads share it.
public struct ExitPolicy: Sendable {
    public enum Mode: Sendable {
        /// Only whitelisted destinations leave.
        case whitelist(ExitWhitelist)
        /// Everything leaves but local destinations and SMTP.
        case open
    }

    public static let dnsPort: UInt16 = 53
    public static let smtpPort: UInt16 = 25

    public private(set) var mode: Mode
    public private(set) var protection: HostProtection
    /// The address pools handed to consumers: one consumer never reaches another.
    public let consumerPools: [IPPrefix]

    public init(mode: Mode, protection: HostProtection, consumerPools: [IPPrefix] = []) {
        self.mode = mode
        self.protection = protection
        self.consumerPools = consumerPools.map(\.network)
    }

    /// The verdict for a decrypted packet from a consumer; `now` is monotonic nanoseconds.
    public func verdict(packet: UnsafeRawBufferPointer, now: UInt64) -> ExitVerdict {
        guard let header = InnerPacketHeader(parsing: packet) else { return .malformed }
        return verdict(for: header, now: now)
    }

    /// The verdict for a packet already parsed.
    public func verdict(for header: InnerPacketHeader, now: UInt64) -> ExitVerdict {
        let destination = header.destination
        let isTCP = header.transport == InnerPacketHeader.tcp
        if protection.isLocalResolver(destination) {
            let isDNS = (isTCP || header.transport == InnerPacketHeader.udp) && header.destinationPort == ExitPolicy.dnsPort
            return isDNS ? .allowDNS : .blockedLocal
        }
        if protection.blocks(destination) { return .blockedLocal }
        for pool in consumerPools where pool.contains(destination) { return .blockedLocal }
        if isTCP && header.destinationPort == ExitPolicy.smtpPort { return .blockedSMTP }
        switch mode {
        case .open:
            return .allow
        case .whitelist(let whitelist):
            return whitelist.allowsDestination(destination, now: now) ? .allow : .notWhitelisted
        }
    }

    /// Whether the DNS forwarder should resolve `name`: always for an open exit.
    public func allowsName(_ name: String) -> Bool {
        switch mode {
        case .open: return true
        case .whitelist(let whitelist): return whitelist.allowsName(name)
        }
    }

    /// Replaces the host's networks (see `HostNetworks`): an assignment, for the provider's
    /// lock, with the tables built beforehand.
    public mutating func setHostNetworks(_ networks: HostNetworks) {
        protection.hostNetworks = networks
    }

    /// Whether no consumer may ever reach `address` whatever the whitelist says: the host,
    /// its networks, a local-only range, the in-tunnel resolver or the consumer pool.
    public func isProtected(_ address: IPAddress) -> Bool {
        if protection.isLocalResolver(address) || protection.blocks(address) { return true }
        for pool in consumerPools where pool.contains(address) { return true }
        return false
    }

    /// Passes a learned address to the whitelist (nothing to do for an open exit). A protected
    /// address is not learned; returns whether it was.
    @discardableResult
    public mutating func learn(_ address: IPAddress, ttlSeconds: UInt32, now: UInt64) -> Bool {
        guard !isProtected(address) else { return false }
        updateWhitelist { $0.learn(address, ttlSeconds: ttlSeconds, now: now) }
        return true
    }

    /// Learns every address of a forwarded answer but the protected ones, which it returns
    /// (for a log line: a whitelisted name that points into the owner's home is a rebinding
    /// attempt or a misconfigured name).
    @discardableResult
    public mutating func learn(_ response: DNSResponse, now: UInt64) -> [IPAddress] {
        let refused = response.addresses.map(\.address).filter { isProtected($0) }
        updateWhitelist { whitelist in
            for answer in response.addresses where !refused.contains(answer.address) {
                whitelist.learn(answer.address, ttlSeconds: answer.ttl, now: now)
            }
        }
        return refused
    }

    /// Drops learned addresses whose time has run out.
    public mutating func expire(now: UInt64) {
        updateWhitelist { $0.expire(now: now) }
    }

    /// Changes the whitelist in place. The mode is cleared while the closure runs so the
    /// whitelist's storage stays uniquely referenced and is not copied on every update.
    private mutating func updateWhitelist(_ body: (inout ExitWhitelist) -> Void) {
        guard case .whitelist(var whitelist) = mode else { return }
        mode = .open
        body(&whitelist)
        mode = .whitelist(whitelist)
    }
}
