import Testing
@testable import WireGuard

/// Address text as wg(8) and wg-quick read it (RFC 4291 input) and print it (RFC 5952 output).
@Suite struct IPAddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)),
        ("255.255.255.255", 0xFFFF_FFFF),
        ("192.168.4.1", 0xC0A8_0401),
        ("10.0.0.1", 0x0A00_0001),
    ])
    func v4ParsesAndPrints(text: String, value: UInt32) throws {
        let address = try #require(IPAddress(parsing: text))
        #expect(address == .v4(value))
        #expect(address.description == text)
        #expect(address.isV4 && address.bitWidth == 32)
        #expect(address.bytes == [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
        #expect(IPAddress(bytes: address.bytes) == address)
    }

    @Test(arguments: [
        // Full form shortened: leading zeros dropped, lowercase, longest zero run compressed.
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:DB8::A", "2001:db8::a"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("fd00::2", "fd00::2"),
        // A single zero group is never compressed (RFC 5952, 4.2.2).
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        // The longest run wins (4.2.3)...
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        // ...and the first one on a tie.
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80:0:0:0:1:0:0:0", "fe80::1:0:0:0"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("0:0:1:2:3:4:5:6", "::1:2:3:4:5:6"),
        ("1:2:3:4:5:6:0:0", "1:2:3:4:5:6::"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        // "::" may stand for a single group on input.
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ])
    func v6PrintsInCanonicalForm(text: String, canonical: String) throws {
        let address = try #require(IPAddress(parsing: text))
        #expect(address.description == canonical)
        #expect(IPAddress(parsing: canonical) == address, "the canonical form parses back to the same address")
        #expect(!address.isV4 && address.bitWidth == 128)
    }

    @Test func v6ValueAndBytes() throws {
        let address = try #require(IPAddress(parsing: "2001:db8:1:2:3:4:5:6"))
        #expect(address == .v6(0x2001_0DB8_0001_0002, 0x0003_0004_0005_0006))
        #expect(address.bytes == [0x20, 0x01, 0x0D, 0xB8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6])
        #expect(IPAddress(bytes: address.bytes) == address)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
    }

    @Test func v6WithEmbeddedV4Tail() throws {
        let mapped = try #require(IPAddress(parsing: "::ffff:192.0.2.1"))
        #expect(mapped == .v6(0, 0x0000_FFFF_C000_0201))
        #expect(mapped.bytes.suffix(4) == [192, 0, 2, 1])
        let full = try #require(IPAddress(parsing: "1:2:3:4:5:6:10.0.0.1"))
        #expect(full == .v6(0x0001_0002_0003_0004, 0x0005_0006_0A00_0001))
        let compressed = try #require(IPAddress(parsing: "64:ff9b::198.51.100.7"))
        #expect(compressed == .v6(0x0064_FF9B_0000_0000, 0x0000_0000_C633_6407))
        #expect(IPAddress(parsing: "::1.2.3.4") == .v6(0, 0x0102_0304))
    }

    @Test(arguments: [
        "", "1.2.3", "256.1.1.1", "1.2.3.4.5", "1..2.3", "1.2.3.", ".1.2.3", "1.2.3.-1", "a.b.c.d",
        "1.2.3.1000", "1.2.3.4/", " 1.2.3.4", "1.2.3.4 ", "١.٢.٣.٤",
        ":::", "1::2::3", "12345::", "::12345", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8", "1::2:3:4:5:6:7:8", ":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:", ":1::", "1::2:",
        "g::", "::g", "fd00::1%eth0", "::1.2.3", "::1.2.3.4:5", "1.2.3.4::", "::256.0.0.1",
        "1:2:3:4:5:6:7:1.2.3.4", "[::1]",
    ])
    func rejectsBadForms(text: String) {
        #expect(IPAddress(parsing: text) == nil, "\(text) must not parse")
    }

    @Test(arguments: ["+1::", "::-0", "1:+2::3"])
    func rejectsSignedHexGroups(text: String) {
        #expect(IPAddress(parsing: text) == nil, "\(text) must not parse")
    }

    @Test(arguments: ["010.0.0.1", "1.02.3.4", "00.0.0.0"])
    func rejectsLeadingZeroOctets(text: String) {
        #expect(IPAddress(parsing: text) == nil, "\(text) is ambiguous and must not parse")
    }

    @Test
    func mappedAddressPrintsWithDottedTail() throws {
        #expect(try #require(IPAddress(parsing: "::ffff:192.0.2.1")).description == "::ffff:192.0.2.1")
    }

    // MARK: IPPrefix

    @Test func prefixKeepsHostBitsButItsNetworkDoesNot() throws {
        let prefix = try #require(IPPrefix(parsing: "10.1.2.3/24"))
        #expect(prefix.address == IPAddress(parsing: "10.1.2.3"))
        #expect(prefix.length == 24)
        #expect(prefix.description == "10.1.2.3/24")
        #expect(prefix.network == IPPrefix(parsing: "10.1.2.0/24"))
        #expect(prefix.network.description == "10.1.2.0/24")
        let v6 = try #require(IPPrefix(parsing: "fd00:1:2:3:4:5:6:7/68"))
        #expect(v6.network.description == "fd00:1:2:3::/68")
        #expect(try #require(IPPrefix(parsing: "fd00:1:2:3:f4ff:5:6:7/68")).network.description == "fd00:1:2:3:f000::/68")
        #expect(try #require(IPPrefix(parsing: "255.255.255.255/0")).network.description == "0.0.0.0/0")
        #expect(try #require(IPPrefix(parsing: "ffff::1/0")).network.description == "::/0")
        #expect(try #require(IPPrefix(parsing: "10.1.2.3/32")).network.description == "10.1.2.3/32")
        #expect(try #require(IPPrefix(parsing: "fd00::1/128")).network.description == "fd00::1/128")
    }

    @Test func bareAddressIsAHostPrefix() throws {
        #expect(try #require(IPPrefix(parsing: "10.0.0.1")).length == 32)
        #expect(try #require(IPPrefix(parsing: "fd00::1")).length == 128)
        #expect(try #require(IPPrefix(parsing: " 10.0.0.0/8\t")).description == "10.0.0.0/8")
    }

    @Test(arguments: [
        "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "/24", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
        "10.0.0.0/a", "10.0.0.0/1000", "10.0.0/8", "fd00:::/64", "",
    ])
    func prefixRejectsBadForms(text: String) {
        #expect(IPPrefix(parsing: text) == nil, "\(text) must not parse")
    }

    @Test func prefixLengthIsBoundedByTheFamily() {
        #expect(IPPrefix(address: .v4(0), length: 32) != nil)
        #expect(IPPrefix(address: .v4(0), length: 33) == nil)
        #expect(IPPrefix(address: .v6(0, 0), length: 128) != nil)
        #expect(IPPrefix(address: .v6(0, 0), length: 129) == nil)
        #expect(IPPrefix(address: .v4(0), length: -1) == nil)
    }

    @Test func contains() throws {
        let lan = try #require(IPPrefix(parsing: "192.168.4.77/24"))
        #expect(lan.contains(IPAddress(parsing: "192.168.4.0")!))
        #expect(lan.contains(IPAddress(parsing: "192.168.4.255")!))
        #expect(!lan.contains(IPAddress(parsing: "192.168.5.0")!))
        #expect(!lan.contains(IPAddress(parsing: "192.168.3.255")!))
        let v6 = try #require(IPPrefix(parsing: "fd00:0:0:1::/65"))
        #expect(v6.contains(IPAddress(parsing: "fd00:0:0:1:7fff:ffff:ffff:ffff")!))
        #expect(!v6.contains(IPAddress(parsing: "fd00:0:0:1:8000::")!))
        #expect(!v6.contains(IPAddress(parsing: "fd00:0:0:2::")!))
        #expect(try #require(IPPrefix(parsing: "0.0.0.0/0")).contains(IPAddress(parsing: "8.8.8.8")!))
        #expect(try #require(IPPrefix(parsing: "::/0")).contains(IPAddress(parsing: "2001:db8::1")!))
        // Families never contain each other.
        #expect(!(try #require(IPPrefix(parsing: "0.0.0.0/0"))).contains(IPAddress(parsing: "::")!))
        #expect(!(try #require(IPPrefix(parsing: "::/0"))).contains(IPAddress(parsing: "0.0.0.0")!))
        let host = try #require(IPPrefix(parsing: "10.0.0.1/32"))
        #expect(host.contains(IPAddress(parsing: "10.0.0.1")!))
        #expect(!host.contains(IPAddress(parsing: "10.0.0.2")!))
    }
}
