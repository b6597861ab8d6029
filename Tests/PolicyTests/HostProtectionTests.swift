import Testing
import WireGuard
@testable import Policy

@Suite struct HostProtectionTests {
    let protection = HostProtection(hostAddresses: [address("203.0.113.10"), address("2001:db8:aa::10")],
                                    hostNetworks: HostNetworks([prefix("2001:db8:bb::/64")]),
                                    allowedLocalDNS: [address("10.99.0.1")])

    /// Each protected range: its edges and a middle address are blocked, the neighbours just outside are not.
    @Test(arguments: [
        ("0.0.0.0/8", ["0.0.0.0", "0.1.2.3", "0.255.255.255"], ["1.0.0.0"]),
        ("10/8", ["10.0.0.0", "10.20.30.40", "10.255.255.255"], ["9.255.255.255", "11.0.0.0"]),
        ("CGNAT 100.64/10", ["100.64.0.0", "100.100.1.1", "100.127.255.255"], ["100.63.255.255", "100.128.0.0"]),
        ("loopback", ["127.0.0.0", "127.0.0.1", "127.255.255.255"], ["126.255.255.255", "128.0.0.0"]),
        ("link-local", ["169.254.0.0", "169.254.169.254", "169.254.255.255"], ["169.253.255.255", "169.255.0.0"]),
        ("172.16/12", ["172.16.0.0", "172.20.1.1", "172.31.255.255"], ["172.15.255.255", "172.32.0.0"]),
        ("192.168/16", ["192.168.0.0", "192.168.1.1", "192.168.255.255"], ["192.167.255.255", "192.169.0.0"]),
        ("multicast 224/4", ["224.0.0.0", "224.0.0.251", "239.255.255.255"], ["223.255.255.255"]),
        ("reserved 240/4 and broadcast", ["240.0.0.0", "250.1.2.3", "255.255.255.255"], ["223.255.255.255"]),
        ("v6 loopback and unspecified", ["::1", "::"], ["::2:0:0", "1::1"]),
        ("v6 link-local", ["fe80::", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], ["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]),
        ("v6 site-local", ["fec0::", "fec0::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], []),
        ("unique local", ["fc00::", "fd12:3456::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::"]),
        ("v6 multicast", ["ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], ["fe7f::1", "2001:db8::1"]),
    ] as [(String, [String], [String])])
    func protectedRange(_ name: String, inside: [String], outside: [String]) {
        for text in inside { #expect(protection.blocks(address(text)), "\(name): \(text) inside") }
        for text in outside { #expect(!protection.blocks(address(text)), "\(name): \(text) outside") }
    }

    @Test func publicAddressesPass() {
        for text in ["1.1.1.1", "8.8.8.8", "198.51.100.1", "100.63.255.255", "172.32.0.1", "223.255.255.255",
                     "2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "::2:0:0"] {
            #expect(!protection.blocks(address(text)), "\(text)")
        }
    }

    @Test func embeddedIPv4OfBlockedRanges() {
        for text in ["::ffff:10.0.0.1", "::ffff:192.168.1.1", "::ffff:127.0.0.1", "::ffff:169.254.1.1", "::ffff:100.64.0.1",
                     "::ffff:255.255.255.255", "::ffff:0.0.0.0", "::ffff:203.0.113.10", "::10.0.0.1", "64:ff9b::10.1.2.3",
                     "64:ff9b::c0a8:101"] {
            #expect(protection.blocks(address(text)), "\(text)")
        }
    }

    @Test func hostAddressesAndHostNetworks() {
        #expect(protection.blocks(address("203.0.113.10")))
        #expect(!protection.blocks(address("203.0.113.11")))
        #expect(protection.blocks(address("2001:db8:aa::10")))
        #expect(!protection.blocks(address("2001:db8:aa::11")))
        #expect(protection.blocks(address("2001:db8:bb::1234")))
        #expect(protection.blocks(address("2001:db8:bb:0:ffff:ffff:ffff:ffff")))
        #expect(!protection.blocks(address("2001:db8:bb:1::1")))
        let withV4LAN = HostProtection(hostAddresses: [], hostNetworks: HostNetworks([prefix("198.51.100.0/24")]))
        #expect(withV4LAN.blocks(address("198.51.100.200")))
        #expect(withV4LAN.blocks(address("::ffff:198.51.100.200")))
        #expect(!withV4LAN.blocks(address("198.51.101.1")))
    }

    @Test func resolverIsStillLocal() {
        #expect(protection.isLocalResolver(address("10.99.0.1")))
        #expect(!protection.isLocalResolver(address("10.99.0.2")))
        #expect(protection.blocks(address("10.99.0.1")))
        #expect(!HostProtection(hostAddresses: []).isLocalResolver(address("10.99.0.1")))
    }

    /// The list documented for status output agrees with the data-path check.
    @Test func documentedPrefixesAreBlocked() {
        let bare = HostProtection(hostAddresses: [])
        for range in HostProtection.protectedPrefixes {
            #expect(bare.blocks(range.network.address), "\(range)")
        }
    }
}
