import Testing
import WarrenTestSupport
import WireGuard
@testable import Policy

@Suite struct ExitPolicyTests {
    static let resolver = "10.99.0.1"
    static let protection = HostProtection(hostAddresses: [address("203.0.113.10")], allowedLocalDNS: [address(resolver), address("fd99::1")])
    static let pools = [prefix("10.99.0.0/24"), prefix("fd99::/64"), prefix("198.18.0.0/24")]

    static func whitelistPolicy() -> ExitPolicy {
        let list: ExitWhitelist
        do { list = try ExitWhitelist(parsing: "netflix.com\n198.51.100.0/24\n2001:db8:100::/48\n", file: "test") }
        catch { fatalError("\(error)") }
        return ExitPolicy(mode: .whitelist(list), protection: protection, consumerPools: pools)
    }

    static let open = ExitPolicy(mode: .open, protection: protection, consumerPools: pools)

    func verdict(_ policy: ExitPolicy, _ packet: [UInt8], now: UInt64 = 0) -> ExitVerdict {
        packet.withUnsafeBytes { policy.verdict(packet: $0, now: now) }
    }

    @Test func whitelistAllowsListedAndLearnedOnly() {
        var policy = Self.whitelistPolicy()
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.7", proto: TestPacket.tcp, port: 443)) == .allow)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:100::7", proto: TestPacket.udp, port: 443)) == .allow)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7", proto: TestPacket.tcp, port: 443)) == .notWhitelisted)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7", proto: TestPacket.icmp)) == .notWhitelisted)
        policy.learn(address("192.0.2.7"), ttlSeconds: 30, now: 0)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7", proto: TestPacket.tcp, port: 443)) == .allow)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7", proto: TestPacket.icmp), now: 59 * second) == .allow)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7"), now: 60 * second) == .notWhitelisted)
        policy.expire(now: 60 * second)
        if case .whitelist(let list) = policy.mode { #expect(list.learnedCount == 0) } else { Issue.record("mode changed") }
        #expect(policy.allowsName("www.netflix.com"))
        #expect(!policy.allowsName("example.com"))
    }

    @Test func learnFromAResponse() throws {
        var policy = Self.whitelistPolicy()
        let query = try DNSQuery(parsing: DNSTestMessage.query(id: 9, name: "www.netflix.com", type: 1))
        let response = try DNSResponse(parsing: DNSTestMessage.cnameChainResponse(id: 9), answering: query)
        policy.learn(response, now: 0)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.44", proto: TestPacket.tcp, port: 443)) == .allow)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:44::1", proto: TestPacket.tcp, port: 443)) == .allow)
    }

    /// DNS rebinding: a whitelisted name that resolves into the owner's LAN is still local.
    @Test func learnedLocalAddressStaysBlocked() {
        var policy = Self.whitelistPolicy()
        policy.learn(address("192.168.1.1"), ttlSeconds: 300, now: 0)
        policy.learn(address("fd00::1"), ttlSeconds: 300, now: 0)
        policy.learn(address("203.0.113.10"), ttlSeconds: 300, now: 0)
        #expect(verdict(policy, TestPacket.v4(to: "192.168.1.1", proto: TestPacket.tcp, port: 80)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v6(to: "fd00::1", proto: TestPacket.tcp, port: 80)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: "203.0.113.10", proto: TestPacket.tcp, port: 22)) == .blockedLocal)
    }

    /// DNS rebinding into the owner's home: a listed name whose answer is a global IPv6 address
    /// of the home LAN (or the router's link, or a private address) teaches the exit nothing.
    @Test func answersPointingIntoTheHomeAreNotLearned() throws {
        var policy = Self.whitelistPolicy()
        policy.setHostNetworks(HostNetworks([prefix("2001:db8:44::/64"), prefix("192.0.2.0/24")]))
        for (text, why) in [("2001:db8:44::10", "a global IPv6 address of the home LAN"), ("192.0.2.1", "the router's link"),
                            ("192.168.1.1", "a private address"), ("10.99.0.7", "the consumer pool"),
                            ("10.99.0.1", "the in-tunnel resolver"), ("198.18.0.7", "another pool")] {
            let learned = policy.learn(address(text), ttlSeconds: 300, now: 0)
            #expect(!learned, "\(text): \(why)")
        }
        let learnedPublic = policy.learn(address("203.0.113.77"), ttlSeconds: 300, now: 0)
        #expect(learnedPublic)
        // The whole answer: A 192.0.2.44 and AAAA 2001:db8:44::1, both inside host networks.
        let query = try DNSQuery(parsing: DNSTestMessage.query(id: 9, name: "www.netflix.com", type: 1))
        let response = try DNSResponse(parsing: DNSTestMessage.cnameChainResponse(id: 9), answering: query)
        let refused = policy.learn(response, now: 0)
        #expect(Set(refused) == [address("192.0.2.44"), address("2001:db8:44::1")])
        if case .whitelist(let list) = policy.mode {
            #expect(list.learnedCount == 1)
            #expect(list.learnedExpiry(of: address("2001:db8:44::1")) == nil)
            #expect(list.learnedExpiry(of: address("203.0.113.77")) != nil)
        } else { Issue.record("mode changed") }
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:44::1", proto: TestPacket.tcp, port: 80)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.44", proto: TestPacket.tcp, port: 80)) == .blockedLocal)
    }

    /// The host's networks change while learned addresses live: the new set applies at once,
    /// also to an address learned before, and a network that went away is reachable again.
    @Test func hostNetworksAreReplacedInPlace() {
        var policy = Self.whitelistPolicy()
        let learned = policy.learn(address("2001:db8:55::9"), ttlSeconds: 300, now: 0)
        #expect(learned)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:55::9", proto: TestPacket.tcp, port: 443)) == .allow)
        policy.setHostNetworks(HostNetworks([prefix("2001:db8:55::/64")]))
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:55::9", proto: TestPacket.tcp, port: 443)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v6(to: "::ffff:1.2.3.4", proto: TestPacket.tcp, port: 443)) == .notWhitelisted)
        policy.setHostNetworks(.empty)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:55::9", proto: TestPacket.tcp, port: 443)) == .allow)
    }

    @Test func openModeAllowsAllButLocalAndSMTP() {
        let policy = Self.open
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7", proto: TestPacket.tcp, port: 443)) == .allow)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8::7", proto: TestPacket.icmpv6)) == .allow)
        #expect(verdict(policy, TestPacket.v4(to: "192.168.1.1", proto: TestPacket.tcp, port: 80)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.7", proto: TestPacket.tcp, port: 25)) == .blockedSMTP)
        #expect(policy.allowsName("anything.example"))
        var mutable = policy
        mutable.learn(address("192.0.2.8"), ttlSeconds: 60, now: 0)     // nothing to learn into, nothing breaks
        mutable.expire(now: 0)
    }

    @Test func localDestinationsBlockedInBothModes() {
        for policy in [Self.whitelistPolicy(), Self.open] {
            for destination in ["192.168.1.1", "10.0.0.1", "172.16.5.4", "100.64.0.1", "169.254.169.254", "127.0.0.1",
                                "224.0.0.251", "255.255.255.255", "0.0.0.0", "203.0.113.10"] {
                #expect(verdict(policy, TestPacket.v4(to: destination, proto: TestPacket.udp, port: 53)) == .blockedLocal, "\(destination)")
            }
            for destination in ["fe80::1", "::1", "fd00::1", "ff02::fb", "::ffff:192.168.1.1", "::ffff:203.0.113.10"] {
                #expect(verdict(policy, TestPacket.v6(to: destination, proto: TestPacket.tcp, port: 22)) == .blockedLocal, "\(destination)")
            }
        }
    }

    @Test func dnsToTheInTunnelResolverOnly() {
        let policy = Self.whitelistPolicy()
        #expect(verdict(policy, TestPacket.v4(to: Self.resolver, proto: TestPacket.udp, port: 53)) == .allowDNS)
        #expect(verdict(policy, TestPacket.v4(to: Self.resolver, proto: TestPacket.tcp, port: 53)) == .allowDNS)
        #expect(verdict(policy, TestPacket.v6(to: "fd99::1", proto: TestPacket.udp, port: 53)) == .allowDNS)
        #expect(verdict(policy, TestPacket.v6(to: "fd99::1", proto: TestPacket.udp, port: 53, extensions: [(60, TestPacket.options)])) == .allowDNS)
        #expect(verdict(policy, TestPacket.v4(to: Self.resolver, proto: TestPacket.tcp, port: 22)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: Self.resolver, proto: TestPacket.udp, port: 5353)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: Self.resolver, proto: TestPacket.icmp)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: Self.resolver, proto: TestPacket.udp, port: 53, fragmentOffset: 2)) == .blockedLocal)
        #expect(verdict(policy, TestPacket.v4(to: "10.99.0.2", proto: TestPacket.udp, port: 53)) == .blockedLocal)
        // DNS anywhere else is ordinary traffic: not on this whitelist.
        #expect(verdict(policy, TestPacket.v4(to: "8.8.8.8", proto: TestPacket.udp, port: 53)) == .notWhitelisted)
        #expect(verdict(Self.open, TestPacket.v4(to: "8.8.8.8", proto: TestPacket.udp, port: 53)) == .allow)
    }

    @Test func smtpBlockedOnBothFamiliesEvenWhenWhitelisted() {
        for policy in [Self.whitelistPolicy(), Self.open] {
            #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.tcp, port: 25)) == .blockedSMTP)
            #expect(verdict(policy, TestPacket.v6(to: "2001:db8:100::25", proto: TestPacket.tcp, port: 25)) == .blockedSMTP)
            #expect(verdict(policy, TestPacket.v6(to: "2001:db8:100::25", proto: TestPacket.tcp, port: 25,
                                                  extensions: [(0, TestPacket.options), (60, TestPacket.options)])) == .blockedSMTP)
            #expect(verdict(policy, TestPacket.v6(to: "2001:db8:100::25", proto: TestPacket.tcp, port: 25,
                                                  extensions: [(44, TestPacket.fragmentHeader(offset: 0, more: true))])) == .blockedSMTP)
            // UDP 25 and TCP 587 are not SMTP relaying.
            #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.udp, port: 25)) == .allow)
            #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.tcp, port: 587)) == .allow)
        }
    }

    @Test func fragmentsAfterTheFirstAreJudgedByAddress() {
        let policy = Self.whitelistPolicy()
        let tail = [UInt8](repeating: 0xaa, count: 16)
        // A later fragment of a TCP/25 datagram: no port to see, the address is whitelisted.
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.tcp, payload: tail, fragmentOffset: 3)) == .allow)
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.1", proto: TestPacket.tcp, payload: tail, fragmentOffset: 3)) == .notWhitelisted)
        #expect(verdict(policy, TestPacket.v4(to: "192.168.0.1", proto: TestPacket.udp, payload: tail, fragmentOffset: 185)) == .blockedLocal)
        // The first fragment (MF set, offset 0) shows its port.
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.tcp, port: 25, moreFragments: true)) == .blockedSMTP)
        // A first fragment too short to hold its transport header hides the port: refused.
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.tcp, payload: [0, 1, 0, 25, 0, 0, 0, 0], moreFragments: true)) == .malformed)
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.udp, payload: [0, 1, 0], moreFragments: true)) == .malformed)
        // RFC 1858: a TCP fragment at offset 8 bytes could overwrite the ports.
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.tcp, payload: tail, fragmentOffset: 1)) == .malformed)
        #expect(verdict(policy, TestPacket.v4(to: "198.51.100.25", proto: TestPacket.udp, payload: tail, fragmentOffset: 1)) == .allow)
        // IPv6 later fragment.
        let v6Tail = TestPacket.v6(to: "2001:db8:100::25", proto: TestPacket.tcp, payload: tail,
                                   extensions: [(44, TestPacket.fragmentHeader(offset: 24, more: false))])
        #expect(verdict(policy, v6Tail) == .allow)
        let v6Overlap = TestPacket.v6(to: "2001:db8:100::25", proto: TestPacket.tcp, payload: tail,
                                      extensions: [(44, TestPacket.fragmentHeader(offset: 8, more: false))])
        #expect(verdict(policy, v6Overlap) == .malformed)
    }

    @Test func consumerIsolation() {
        for policy in [Self.whitelistPolicy(), Self.open] {
            #expect(verdict(policy, TestPacket.v4(to: "10.99.0.3", proto: TestPacket.tcp, port: 443)) == .blockedLocal)
            #expect(verdict(policy, TestPacket.v6(to: "fd99::3", proto: TestPacket.icmpv6)) == .blockedLocal)
            // A pool outside the private ranges is isolated all the same.
            #expect(verdict(policy, TestPacket.v4(from: "198.18.0.2", to: "198.18.0.3", proto: TestPacket.udp, port: 9)) == .blockedLocal)
            #expect(verdict(policy, TestPacket.v4(to: "198.18.1.3", proto: TestPacket.udp, port: 9)) != .blockedLocal)
        }
    }

    @Test func malformedPackets() {
        let policy = Self.open
        let good = TestPacket.v4(to: "192.0.2.1", proto: TestPacket.tcp, port: 443)
        #expect(verdict(policy, []) == .malformed)
        #expect(verdict(policy, [0x45]) == .malformed)
        #expect(verdict(policy, Array(good.prefix(19))) == .malformed)
        #expect(verdict(policy, Array(good.prefix(good.count - 1))) == .malformed)      // total length past the end
        var badVersion = good; badVersion[0] = 0x55
        #expect(verdict(policy, badVersion) == .malformed)
        var shortIHL = good; shortIHL[0] = 0x44
        #expect(verdict(policy, shortIHL) == .malformed)
        var longIHL = good; longIHL[0] = 0x4f                                             // 60-byte header in a 40-byte packet
        #expect(verdict(policy, longIHL) == .malformed)
        var totalBelowHeader = good; totalBelowHeader[3] = 19
        #expect(verdict(policy, totalBelowHeader) == .malformed)
        // Padding after the packet (WireGuard pads to 16 bytes) is fine.
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.1", proto: TestPacket.tcp, port: 443, padding: 12)) == .allow)
        // IPv4 options move the transport header.
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.1", proto: TestPacket.tcp, port: 25, options: 3)) == .blockedSMTP)
        // TCP header cut short in an unfragmented packet.
        #expect(verdict(policy, TestPacket.v4(to: "192.0.2.1", proto: TestPacket.tcp, payload: [0, 1, 0, 25, 0, 0, 0, 0, 0, 0])) == .malformed)

        let v6 = TestPacket.v6(to: "2001:db8::1", proto: TestPacket.udp, port: 443)
        #expect(verdict(policy, Array(v6.prefix(39))) == .malformed)
        #expect(verdict(policy, Array(v6.prefix(v6.count - 1))) == .malformed)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8::1", proto: TestPacket.udp, payload: [0, 1, 0, 53])) == .malformed)
        // An extension header running past the payload.
        var longExtension = TestPacket.options; longExtension[1] = 4
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8::1", proto: TestPacket.tcp, port: 25, extensions: [(60, longExtension)])) == .malformed)
        // Too many extension headers to walk: refused rather than let a port hide behind them.
        let many = Array(repeating: (type: UInt8(60), bytes: TestPacket.options), count: 9)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8::1", proto: TestPacket.tcp, port: 25, extensions: many)) == .malformed)
        let eight = Array(repeating: (type: UInt8(60), bytes: TestPacket.options), count: 8)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8::1", proto: TestPacket.tcp, port: 25, extensions: eight)) == .blockedSMTP)
    }

    @Test func unknownV6NextHeaderIsJudgedByAddress() {
        let policy = Self.whitelistPolicy()
        // ESP (50): nothing past it is readable.
        let esp = TestPacket.v6(to: "2001:db8:100::25", proto: 50, payload: [0, 0, 0, 1, 0, 0, 0, 1, 0, 25, 0, 0])
        #expect(verdict(policy, esp) == .allow)
        #expect(verdict(policy, TestPacket.v6(to: "2001:db8:200::25", proto: 50, payload: [0, 0, 0, 1])) == .notWhitelisted)
        let header = esp.withUnsafeBytes { InnerPacketHeader(parsing: $0) }
        #expect(header?.destinationPort == nil)
        #expect(header?.transport == 50)
    }

    @Test func headerFields() {
        let packet = TestPacket.v6(from: "2001:db8::2", to: "2001:db8::1", proto: TestPacket.udp, port: 4242,
                                   extensions: [(0, TestPacket.options), (43, TestPacket.options)])
        let header = packet.withUnsafeBytes { InnerPacketHeader(parsing: $0) }
        #expect(header == InnerPacketHeader(source: address("2001:db8::2"), destination: address("2001:db8::1"),
                                            transport: 17, sourcePort: 40000, destinationPort: 4242, isLaterFragment: false, length: packet.count))
        let v4 = TestPacket.v4(from: "10.99.0.5", to: "192.0.2.1", proto: TestPacket.udp, payload: [1, 2, 3, 4, 5, 6, 7, 8],
                               fragmentOffset: 100, padding: 5)
        let v4Header = v4.withUnsafeBytes { InnerPacketHeader(parsing: $0) }
        #expect(v4Header == InnerPacketHeader(source: address("10.99.0.5"), destination: address("192.0.2.1"),
                                              transport: 17, destinationPort: nil, isLaterFragment: true, length: v4.count - 5))
    }

    @Test func sourceAndDestinationPorts() {
        var segment = TestPacket.transport(TestPacket.tcp, sourcePort: 4747, destinationPort: 51000)
        let tcp = TestPacket.v4(from: "10.99.0.5", to: "192.0.2.1", proto: TestPacket.tcp, payload: segment, options: 1)
        let tcpHeader = tcp.withUnsafeBytes { InnerPacketHeader(parsing: $0) }
        #expect(tcpHeader?.sourcePort == 4747)
        #expect(tcpHeader?.destinationPort == 51000)
        segment = TestPacket.transport(TestPacket.udp, sourcePort: 53, destinationPort: 4747)
        let udp = TestPacket.v6(from: "2001:db8::2", to: "2001:db8::1", proto: TestPacket.udp, payload: segment,
                                extensions: [(60, TestPacket.options)])
        let udpHeader = udp.withUnsafeBytes { InnerPacketHeader(parsing: $0) }
        #expect(udpHeader?.sourcePort == 53)
        #expect(udpHeader?.destinationPort == 4747)
        // A later fragment shows neither port; ICMP has none.
        let fragment = TestPacket.v4(to: "192.0.2.1", proto: TestPacket.udp, payload: segment, fragmentOffset: 3)
        #expect(fragment.withUnsafeBytes { InnerPacketHeader(parsing: $0) }?.sourcePort == nil)
        let icmp = TestPacket.v4(to: "192.0.2.1", proto: 1)
        #expect(icmp.withUnsafeBytes { InnerPacketHeader(parsing: $0) }?.sourcePort == nil)
    }

    /// A randomized check that verdict never traps on mutated packets.
    @Test func mutatedPacketsNeverTrap() {
        var generator = SeededGenerator(seed: 99)
        let policy = Self.whitelistPolicy()
        let seeds = [TestPacket.v4(to: "198.51.100.7", proto: TestPacket.tcp, port: 25, options: 2),
                     TestPacket.v6(to: "2001:db8:100::1", proto: TestPacket.tcp, port: 25,
                                   extensions: [(0, TestPacket.options), (44, TestPacket.fragmentHeader(offset: 0, more: true))])]
        for _ in 0..<20_000 {
            guard var packet = seeds.randomElement(using: &generator) else { continue }
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<packet.count, using: &generator)
                packet[index] = UInt8.random(in: 0...255, using: &generator)
            }
            packet.removeLast(Int.random(in: 0...min(8, packet.count), using: &generator))
            _ = verdict(policy, packet)
        }
    }
}
