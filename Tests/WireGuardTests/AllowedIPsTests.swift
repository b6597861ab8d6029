import Testing
import WarrenTestSupport
@testable import WireGuard

/// Cryptokey routing (paper, section 2): the most specific prefix wins, one owner per prefix.
@Suite struct AllowedIPsTests {
    static func prefix(_ text: String) -> IPPrefix { IPPrefix(parsing: text)! }
    static func address(_ text: String) -> IPAddress { IPAddress(parsing: text)! }

    @Test func longestPrefixMatchV4() {
        var table = AllowedIPs<Int>()
        table.insert(Self.prefix("10.0.0.0/8"), value: 8)
        table.insert(Self.prefix("10.1.2.3/32"), value: 32)
        table.insert(Self.prefix("10.1.0.0/16"), value: 16)
        table.insert(Self.prefix("10.1.2.0/24"), value: 24)
        #expect(table.lookup(Self.address("10.1.2.3")) == 32)
        #expect(table.lookup(Self.address("10.1.2.4")) == 24)
        #expect(table.lookup(Self.address("10.1.3.4")) == 16)
        #expect(table.lookup(Self.address("10.2.3.4")) == 8)
        #expect(table.lookup(Self.address("10.255.255.255")) == 8)
        #expect(table.lookup(Self.address("11.0.0.0")) == nil)
        #expect(table.lookup(Self.address("9.255.255.255")) == nil)
    }

    @Test func longestPrefixMatchV6() {
        var table = AllowedIPs<Int>()
        table.insert(Self.prefix("fd00::/8"), value: 8)
        table.insert(Self.prefix("fd00:1::/32"), value: 32)
        table.insert(Self.prefix("fd00:1:2:3::/64"), value: 64)
        table.insert(Self.prefix("fd00:1:2:3::80/121"), value: 121)
        table.insert(Self.prefix("fd00:1:2:3::1/128"), value: 128)
        #expect(table.lookup(Self.address("fd00:1:2:3::1")) == 128)
        #expect(table.lookup(Self.address("fd00:1:2:3::81")) == 121)
        #expect(table.lookup(Self.address("fd00:1:2:3::ff")) == 121)
        #expect(table.lookup(Self.address("fd00:1:2:3::100")) == 64)
        #expect(table.lookup(Self.address("fd00:1:2:4::1")) == 32)
        #expect(table.lookup(Self.address("fd00:2::1")) == 8)
        #expect(table.lookup(Self.address("fe00::1")) == nil)
        // The families never mix, even for addresses whose bits coincide.
        #expect(table.lookup(.v4(0xFD00_0001)) == nil)
    }

    @Test func defaultRoutes() {
        var table = AllowedIPs<String>()
        table.insert(Self.prefix("0.0.0.0/0"), value: "v4 default")
        #expect(table.lookup(Self.address("0.0.0.0")) == "v4 default")
        #expect(table.lookup(Self.address("255.255.255.255")) == "v4 default")
        #expect(table.lookup(Self.address("::1")) == nil)
        table.insert(Self.prefix("::/0"), value: "v6 default")
        #expect(table.lookup(Self.address("::")) == "v6 default")
        #expect(table.lookup(Self.address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) == "v6 default")
        table.insert(Self.prefix("192.168.0.0/16"), value: "lan")
        #expect(table.lookup(Self.address("192.168.7.7")) == "lan")
        #expect(table.lookup(Self.address("192.169.7.7")) == "v4 default")
    }

    @Test func hostBitsOfAnInsertedPrefixAreIgnored() {
        var table = AllowedIPs<Int>()
        table.insert(Self.prefix("10.1.2.77/24"), value: 1)
        #expect(table.lookup(Self.address("10.1.2.1")) == 1)
        #expect(table.prefixes { $0 == 1 } == [Self.prefix("10.1.2.0/24")])
    }

    @Test func insertingAnOwnedPrefixReplacesItsOwner() {
        var table = AllowedIPs<String>()
        table.insert(Self.prefix("10.0.0.0/24"), value: "alice")
        table.insert(Self.prefix("10.0.1.0/24"), value: "alice")
        table.insert(Self.prefix("10.0.0.0/24"), value: "bob")
        #expect(table.lookup(Self.address("10.0.0.9")) == "bob")
        #expect(table.lookup(Self.address("10.0.1.9")) == "alice")
        #expect(table.prefixes { $0 == "alice" } == [Self.prefix("10.0.1.0/24")])
        #expect(table.prefixes { $0 == "bob" } == [Self.prefix("10.0.0.0/24")])
    }

    @Test func removeWhereFallsBackToShorterPrefixes() {
        var table = AllowedIPs<String>()
        table.insert(Self.prefix("10.0.0.0/8"), value: "wide")
        table.insert(Self.prefix("10.1.0.0/16"), value: "narrow")
        table.insert(Self.prefix("fd00::/64"), value: "narrow")
        table.remove { $0 == "narrow" }
        #expect(table.lookup(Self.address("10.1.2.3")) == "wide")
        #expect(table.lookup(Self.address("fd00::1")) == nil)
        #expect(table.prefixes { $0 == "narrow" }.isEmpty)
        table.remove { _ in true }
        #expect(table.lookup(Self.address("10.1.2.3")) == nil)
        #expect(table.prefixes { _ in true }.isEmpty)
        // The table is usable again afterwards.
        table.insert(Self.prefix("10.1.0.0/16"), value: "back")
        #expect(table.lookup(Self.address("10.1.2.3")) == "back")
    }

    @Test func lookupInARawPacket() {
        var table = AllowedIPs<String>()
        table.insert(Self.prefix("192.168.4.2/32"), value: "dst4")
        table.insert(Self.prefix("192.168.4.0/24"), value: "src4")
        table.insert(Self.prefix("fd00::2/128"), value: "dst6")
        table.insert(Self.prefix("fd00::/64"), value: "src6")
        let v4 = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")
        v4.withUnsafeBytes { raw in
            #expect(table.lookup(packet: raw, offset: 16, isV4: true) == "dst4")
            #expect(table.lookup(packet: raw, offset: 12, isV4: true) == "src4")
        }
        let v6 = ipv6Packet(from: "fd00::1", to: "fd00::2")
        v6.withUnsafeBytes { raw in
            #expect(table.lookup(packet: raw, offset: 24, isV4: false) == "dst6")
            #expect(table.lookup(packet: raw, offset: 8, isV4: false) == "src6")
        }
        // With headroom in front, as the data path passes it.
        let shifted = [UInt8](repeating: 0xFF, count: 16) + v4
        shifted.withUnsafeBytes { raw in
            #expect(table.lookup(packet: raw, offset: 32, isV4: true) == "dst4")
        }
    }

    /// The table against a linear scan for the longest containing prefix, with prefixes
    /// drawn near each other so that nesting and replacement happen often.
    @Test(arguments: [true, false])
    func matchesNaiveLongestPrefixScan(v4: Bool) {
        var rng = SeededGenerator(seed: v4 ? 0xA110_0004 : 0xA110_0006)
        let width = v4 ? 32 : 128
        // A few base addresses with a random number of low bits flipped: random addresses
        // then often fall inside random prefixes, at every length.
        let bases: [(UInt64, UInt64)] = [(0, 0), (0xFD00_0000_0000_0000, 1), (0x2001_0DB8_0000_0000, 0xFFFF), (~0, ~0)]
        func randomAddress() -> IPAddress {
            var (hi, lo) = bases.randomElement(using: &rng)!
            let flipped = Int.random(in: 0...width, using: &rng)
            let r1 = UInt64.random(in: 0...UInt64.max, using: &rng), r2 = UInt64.random(in: 0...UInt64.max, using: &rng)
            if v4 {
                let mask: UInt32 = flipped == 0 ? 0 : ~UInt32(0) >> UInt32(32 - flipped)
                return .v4(UInt32(truncatingIfNeeded: hi >> 32) ^ (UInt32(truncatingIfNeeded: r1) & mask))
            }
            if flipped <= 64 {
                lo ^= flipped == 0 ? 0 : r2 >> UInt64(64 - flipped)
            } else {
                lo ^= r2
                hi ^= r1 >> UInt64(128 - flipped)
            }
            return .v6(hi, lo)
        }
        var table = AllowedIPs<Int>()
        var model: [IPPrefix: Int] = [:]
        for step in 0..<600 {
            let length = Int.random(in: 0...width, using: &rng)
            let network = IPPrefix(address: randomAddress(), length: length)!.network
            let owner = Int.random(in: 0..<12, using: &rng)
            table.insert(network, value: owner)
            model[network] = owner
            if step % 150 == 149 {
                let gone = Int.random(in: 0..<12, using: &rng)
                table.remove { $0 == gone }
                model = model.filter { $0.value != gone }
            }
        }
        var hits = 0
        for _ in 0..<5_000 {
            let address = randomAddress()
            let expected = model.filter { $0.key.contains(address) }.max { $0.key.length < $1.key.length }?.value
            let got = table.lookup(address)
            #expect(got == expected, "lookup(\(address))")
            if expected != nil { hits += 1 }
            if got != expected { break }
        }
        #expect(hits > 1_000, "the inputs must exercise matches, not only misses")
        #expect(Set(table.prefixes { _ in true }) == Set(model.keys))
    }
}
