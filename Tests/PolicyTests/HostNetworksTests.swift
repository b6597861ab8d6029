import Testing
import WarrenTestSupport
import WireGuard
@testable import Policy

@Suite struct HostNetworksTests {
    /// What a provider behind a home router with global IPv6 reads: its addresses, the local
    /// table's host routes and broadcasts, the main table's on-link routes and default routes.
    static let read: [IPPrefix] = [
        "0.0.0.0/0", "::/0",                                    // default routes
        "0.0.0.0/1", "128.0.0.0/1", "2000::/3",                 // a VPN's split default, a wide v6 route
        "192.0.2.2/24", "192.0.2.0/24", "192.0.2.2/32", "192.0.2.255/32",   // WAN address, its route, local and broadcast
        "192.168.77.1/24", "192.168.77.0/24",                   // LAN
        "2001:db8:1::2/64", "2001:db8:1::/64", "2001:db8:1::2/128",         // global v6 on the router's link
        "2001:db8:77::1/64", "2001:db8:77::/64",                // the home's global v6 LAN prefix
        "2001:db8:abcd::/48",                                   // an unreachable route for a delegated prefix
        "10.99.0.1/24", "10.99.0.0/24", "fd99::1/64", "fd99::/64",          // the provider's own tunnel (its pool)
        "127.0.0.1/8", "127.0.0.0/8", "::1/128", "fe80::1/64", "fe80::/64", "ff00::/8", "169.254.0.0/16",
    ].map(prefix)
    static let pools = [prefix("10.99.0.0/24"), prefix("fd99::/64")]

    @Test func keepsEveryHomeNetworkOnceAndDropsDefaultsPoolAndNoise() {
        let networks = HostNetworks(Self.read, excluding: Self.pools)
        #expect(networks.prefixes.map(\.description) == [
            "192.0.2.0/24", "192.168.77.0/24", "2001:db8:1::/64", "2001:db8:77::/64", "2001:db8:abcd::/48",
        ])
    }

    @Test func bordersOfEachNetwork() {
        let networks = HostNetworks(Self.read, excluding: Self.pools)
        for text in ["192.0.2.0", "192.0.2.1", "192.0.2.255", "192.168.77.10", "2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:ffff",
                     "2001:db8:77::10", "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff", "2001:db8:abcd::"] {
            #expect(networks.contains(address(text)), "\(text) inside")
        }
        for text in ["192.0.1.255", "192.0.3.0", "192.168.78.0", "10.99.0.2", "8.8.8.8", "0.0.0.0", "255.255.255.255",
                     "2001:db8:0:ffff:ffff:ffff:ffff:ffff", "2001:db8:2::", "2001:db8:78::1", "2001:db8:abce::", "fd99::2", "::", "2606:4700::1111"] {
            #expect(!networks.contains(address(text)), "\(text) outside")
        }
    }

    @Test func hostRoutesAndSinglePrefixes() {
        let networks = HostNetworks([prefix("203.0.113.5/32"), prefix("2001:db8::5/128"), prefix("198.51.100.0/31")])
        #expect(networks.contains(address("203.0.113.5")))
        #expect(!networks.contains(address("203.0.113.4")) && !networks.contains(address("203.0.113.6")))
        #expect(networks.contains(address("2001:db8::5")))
        #expect(!networks.contains(address("2001:db8::4")) && !networks.contains(address("2001:db8::6")))
        #expect(networks.contains(address("198.51.100.1")) && !networks.contains(address("198.51.100.2")))
        #expect(HostNetworks.empty.isEmpty && !HostNetworks.empty.contains(address("192.0.2.1")))
    }

    /// The binary search agrees with a plain scan of the prefixes over random networks and addresses
    /// (clustered in 11/8, 198/8, 203/8 and 2001:db8::/32, so they overlap, and clear of the noise ranges).
    @Test func searchAgreesWithAScan() {
        var random = SeededGenerator(seed: 9)
        func v4(_ random: inout SeededGenerator) -> UInt32 {
            [UInt32(11), 198, 203].randomElement(using: &random)! << 24 | UInt32(truncatingIfNeeded: random.next()) & 0x000f_ffff
        }
        for _ in 0..<50 {
            var candidates: [IPPrefix] = []
            for _ in 0..<Int.random(in: 0...40, using: &random) {
                if Bool.random(using: &random) {
                    candidates.append(IPPrefix(address: .v4(v4(&random)), length: Int.random(in: 8...32, using: &random))!)
                } else {
                    let hi = 0x2001_0db8_0000_0000 | (random.next() & 0x0000_0000_00ff_00ff)
                    candidates.append(IPPrefix(address: .v6(hi, random.next()), length: Int.random(in: 16...128, using: &random))!)
                }
            }
            let networks = HostNetworks(candidates)
            for _ in 0..<200 {
                let probe: IPAddress
                if Bool.random(using: &random), let some = candidates.randomElement(using: &random) {
                    probe = some.address          // often inside
                } else if Bool.random(using: &random) {
                    probe = .v4(v4(&random))
                } else {
                    probe = .v6(0x2001_0db8_0000_0000 | (random.next() & 0x0000_0000_00ff_00ff), random.next())
                }
                let scanned = candidates.contains { $0.contains(probe) }
                #expect(networks.contains(probe) == scanned, "\(probe) in \(candidates)")
            }
        }
    }

    /// A global IPv6 home prefix is protected like a private one, in every form.
    @Test func hostProtectionBlocksTheHomesGlobalPrefixes() {
        let protection = HostProtection(hostAddresses: [], hostNetworks: HostNetworks(Self.read, excluding: Self.pools))
        #expect(protection.blocks(address("2001:db8:77::10")))
        #expect(protection.blocks(address("2001:db8:1::1")))
        #expect(protection.blocks(address("192.0.2.1")))
        #expect(protection.blocks(address("::ffff:192.0.2.1")))
        #expect(protection.blocks(address("64:ff9b::192.0.2.1")))
        #expect(!protection.blocks(address("2001:db8:78::10")))
        #expect(!protection.blocks(address("203.0.113.9")))
        #expect(!HostProtection(hostAddresses: []).blocks(address("2001:db8:77::10")), "global v6 is only blocked as a host network")
    }
}
