import Foundation
import Testing
import WarrenTestSupport
import WireGuard
@testable import Policy

@Suite struct ExitWhitelistTests {
    static func whitelist(_ text: String, limits: ExitWhitelist.LearningLimits = .standard) -> ExitWhitelist {
        do { return try ExitWhitelist(parsing: text, file: "test", limits: limits) } catch { fatalError("\(error)") }
    }

    // MARK: Names

    @Test func suffixMatchesWholeLabelsOnly() {
        let list = Self.whitelist("netflix.com\n")
        #expect(list.allowsName("netflix.com"))
        #expect(list.allowsName("www.netflix.com"))
        #expect(list.allowsName("a.b.c.netflix.com"))
        #expect(!list.allowsName("evilnetflix.com"))
        #expect(!list.allowsName("netflix.com.evil.net"))
        #expect(!list.allowsName("netflix.co"))
        #expect(!list.allowsName("com"))
        #expect(!list.allowsName(""))
        #expect(!list.allowsName("."))
    }

    @Test func namesCompareWithoutCaseOrTrailingDot() {
        let list = Self.whitelist("NetFlix.COM.\n")
        #expect(list.domainSuffixes == ["netflix.com"])
        #expect(list.allowsName("WWW.NETFLIX.COM"))
        #expect(list.allowsName("www.netflix.com."))
        #expect(!list.allowsName("www.netflix.com.."))
        #expect(!list.allowsName(".netflix.com"))
        #expect(!list.allowsName("www..netflix.com"))
    }

    @Test func leadingDotAndWildcardMeanTheSame() {
        for entry in ["netflix.com", ".netflix.com", "*.netflix.com", "*.netflix.com."] {
            let list = Self.whitelist(entry)
            #expect(list.domainSuffixes == ["netflix.com"], "\(entry)")
            #expect(list.allowsName("netflix.com") && list.allowsName("cdn.netflix.com"))
        }
    }

    @Test func commentsAndBlankLines() {
        let text = """
            # a whole-line comment

            netflix.com   # trailing comment
            \tyoutube.com\r
               # indented comment
            203.0.113.0/24#no space
            """
        let list = Self.whitelist(text)
        #expect(list.domainSuffixes == ["netflix.com", "youtube.com"])
        #expect(list.prefixes == [prefix("203.0.113.0/24")])
        #expect(Self.whitelist("").domainSuffixes.isEmpty)
        #expect(Self.whitelist("# only comments\n\n").prefixes.isEmpty)
    }

    /// "\r\n" is a single Character in Swift: a CRLF file must still split into lines.
    @Test func crlfFiles() {
        let list = Self.whitelist("netflix.com\r\n# comment\r\n\r\n198.51.100.0/24\r\n")
        #expect(list.domainSuffixes == ["netflix.com"])
        #expect(list.prefixes == [prefix("198.51.100.0/24")])
        do {
            _ = try ExitWhitelist(parsing: "a.com\r\nb.com\r\nbad..com\r\n", file: "f")
            Issue.record("accepted an empty label")
        } catch {
            #expect(error.line == 3)
            #expect(error.entry == "bad..com")
        }
    }

    @Test func prefixesAndBareAddresses() {
        let list = Self.whitelist("198.51.100.7\n2001:db8::/32\n2001:db8:1::5\n0.0.0.0/0\n")
        #expect(list.prefixes == [prefix("198.51.100.7/32"), prefix("2001:db8::/32"), prefix("2001:db8:1::5/128"), prefix("0.0.0.0/0")])
        #expect(list.allowsDestination(address("8.8.8.8"), now: 0))
        #expect(!list.allowsDestination(address("2001:db9::1"), now: 0))
        #expect(list.allowsDestination(address("2001:db8:ffff::1"), now: 0))
    }

    @Test func errorsNameFileLineAndReason() {
        func failure(_ text: String) -> WhitelistError? {
            do { _ = try ExitWhitelist(parsing: text, file: "/etc/warren/whitelists/x"); return nil } catch { return error }
        }
        let cases: [(String, Int, String, WhitelistError.Reason)] = [
            ("netflix.com\n\nnetflix..com\n", 3, "netflix..com", .invalidName("empty label")),
            ("a.com b.com", 1, "a.com b.com", .multipleEntries),
            ("# x\n10.0.0.300/8", 2, "10.0.0.300/8", .invalidAddress),
            ("1.2.3", 1, "1.2.3", .invalidAddress),
            ("10.1.2.3/8", 1, "10.1.2.3/8", .hostBitsSet(network: prefix("10.0.0.0/8"))),
            ("10.0.0.0/33", 1, "10.0.0.0/33", .invalidAddress),
            ("fd00::/129", 1, "fd00::/129", .invalidAddress),
            ("net*flix.com", 1, "net*flix.com", .misplacedWildcard),
            ("*", 1, "*", .misplacedWildcard),
            ("*.", 1, "*.", .invalidName("empty")),
            ("**.netflix.com", 1, "**.netflix.com", .misplacedWildcard),
            ("com", 1, "com", .topLevelDomain),
            ("localhost.", 1, "localhost.", .topLevelDomain),
            ("-bad.com", 1, "-bad.com", .invalidName("a label starts or ends with '-'")),
            ("bad-.com", 1, "bad-.com", .invalidName("a label starts or ends with '-'")),
            ("under_score.com", 1, "under_score.com", .invalidName("only letters, digits, '-' and '.' are allowed")),
            ("bücher.de", 1, "bücher.de", .invalidName("not ASCII (write an internationalised name in its xn-- form)")),
            ("example.123", 1, "example.123", .invalidName("the top-level label is numeric")),
            (String(repeating: "a", count: 64) + ".com", 1, String(repeating: "a", count: 64) + ".com",
             .invalidName("a label is longer than 63 characters")),
        ]
        for (text, line, entry, reason) in cases {
            let error = failure(text)
            #expect(error == WhitelistError(file: "/etc/warren/whitelists/x", line: line, entry: entry, reason: reason), "\(text)")
        }
        let longName = Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: ".") + ".com"
        #expect(failure(longName)?.reason == .invalidName("longer than 253 characters"))
        #expect(failure("xn--bcher-kva.de") == nil)
        #expect(failure("a.b") == nil)
        #expect(failure("x.com\n10.1.2.3/8")?.description
                == "/etc/warren/whitelists/x:2: '10.1.2.3/8': has host bits set (did you mean 10.0.0.0/8?)")
    }

    @Test func presetParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("rootfs-overlay/etc/warren/whitelists/streaming").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let list = try ExitWhitelist(parsing: text, file: path)
        #expect(text.contains("2026-11-25"))
        for name in ["www.netflix.com", "ipv4-c001.1.lhr004.ix.nflxvideo.net", "rr3---sn-abc.googlevideo.com",
                     "i.ytimg.com", "youtubei.googleapis.com", "www.disneyplus.com", "x.bamgrid.com", "y.dssott.com",
                     "www.primevideo.com", "a.aiv-cdn.net", "m.media-amazon.com", "www.hulu.com", "play.max.com",
                     "tv.apple.com", "open.spotify.com", "video-weaver.ttvnw.net", "static-cdn.jtvnw.net",
                     "www.bbc.co.uk", "ichef.bbci.co.uk", "www.paramountplus.com", "www.peacocktv.com"] {
            #expect(list.allowsName(name), "\(name)")
        }
        #expect(!list.allowsName("www.google.com"))
        #expect(!list.allowsName("googleapis.com"))
        #expect(!list.allowsName("www.amazon.com"))
        #expect(!list.allowsName("apple.com"))
    }

    // MARK: Learned addresses

    @Test func learnedAddressLivesForItsTTL() {
        var list = Self.whitelist("netflix.com")
        let now = 1_000 * second
        let cdn = address("198.51.100.20")
        #expect(!list.allowsDestination(cdn, now: now))
        list.learn(cdn, ttlSeconds: 300, now: now)
        #expect(list.learnedCount == 1)
        #expect(list.allowsDestination(cdn, now: now))
        #expect(list.allowsDestination(cdn, now: now + 300 * second - 1))
        #expect(!list.allowsDestination(cdn, now: now + 300 * second))
        #expect(!list.allowsDestination(address("198.51.100.21"), now: now))
        list.expire(now: now + 299 * second)
        #expect(list.learnedCount == 1)
        list.expire(now: now + 300 * second)
        #expect(list.learnedCount == 0)
    }

    @Test func ttlFloorAndCap() {
        var list = Self.whitelist("netflix.com")
        let now = 5 * second
        list.learn(address("192.0.2.1"), ttlSeconds: 0, now: now)
        list.learn(address("192.0.2.2"), ttlSeconds: 20, now: now)
        list.learn(address("192.0.2.3"), ttlSeconds: 7 * 86_400, now: now)
        list.learn(address("2001:db8::3"), ttlSeconds: .max, now: .max - 10)
        #expect(list.learnedExpiry(of: address("192.0.2.1")) == now + 60 * second)
        #expect(list.learnedExpiry(of: address("192.0.2.2")) == now + 60 * second)
        #expect(list.learnedExpiry(of: address("192.0.2.3")) == now + 86_400 * second)
        #expect(list.learnedExpiry(of: address("2001:db8::3")) == .max)
        #expect(list.allowsDestination(address("192.0.2.2"), now: now + 59 * second))

        var custom = Self.whitelist("x.com", limits: .init(minimumTTL: 10, maximumTTL: 100, capacity: 4))
        custom.learn(address("192.0.2.9"), ttlSeconds: 1, now: 0)
        #expect(custom.learnedExpiry(of: address("192.0.2.9")) == 10 * second)
    }

    @Test func relearningKeepsTheLaterExpiry() {
        var list = Self.whitelist("netflix.com")
        let cdn = address("203.0.113.5")
        list.learn(cdn, ttlSeconds: 600, now: 0)
        list.learn(cdn, ttlSeconds: 60, now: 10 * second)
        #expect(list.learnedExpiry(of: cdn) == 600 * second)
        list.learn(cdn, ttlSeconds: 600, now: 100 * second)
        #expect(list.learnedExpiry(of: cdn) == 700 * second)
        #expect(list.learnedCount == 1)
        list.expire(now: 650 * second)             // the superseded heap entry must not remove it
        #expect(list.learnedCount == 1)
        #expect(list.allowsDestination(cdn, now: 650 * second))
    }

    @Test func fullTableEvictsSoonestExpiring() {
        var list = Self.whitelist("netflix.com", limits: .init(minimumTTL: 1, maximumTTL: 10_000, capacity: 3))
        list.learn(address("192.0.2.1"), ttlSeconds: 500, now: 0)
        list.learn(address("192.0.2.2"), ttlSeconds: 100, now: 0)
        list.learn(address("192.0.2.3"), ttlSeconds: 900, now: 0)
        list.learn(address("192.0.2.4"), ttlSeconds: 50, now: 0)      // full: 192.0.2.2 goes, the new one stays
        #expect(list.learnedCount == 3)
        #expect(list.learnedExpiry(of: address("192.0.2.2")) == nil)
        #expect(list.learnedExpiry(of: address("192.0.2.4")) == 50 * second)
        list.learn(address("192.0.2.5"), ttlSeconds: 1000, now: 0)    // now 192.0.2.4 is soonest
        #expect(list.learnedExpiry(of: address("192.0.2.4")) == nil)
        #expect(list.learnedCount == 3)
        list.learn(address("192.0.2.1"), ttlSeconds: 2000, now: 0)    // refresh, not a new entry
        #expect(list.learnedCount == 3)
        #expect(list.learnedExpiry(of: address("192.0.2.3")) != nil)
    }

    @Test func learnedTableStaysBoundedUnderChurn() {
        var list = Self.whitelist("netflix.com", limits: .init(minimumTTL: 60, maximumTTL: 3600, capacity: 1000))
        var generator = SeededGenerator(seed: 7)
        var now: UInt64 = 0
        for step in 0..<20_000 {
            now += UInt64.random(in: 0...(second / 10), using: &generator)
            let host = UInt32.random(in: 0..<3000, using: &generator)
            list.learn(.v4(0xC633_6400 &+ host), ttlSeconds: UInt32.random(in: 0...4000, using: &generator), now: now)
            #expect(list.learnedCount <= 1000)
            if step % 1000 == 0 { list.expire(now: now) }
        }
        list.expire(now: now + 3600 * second)
        #expect(list.learnedCount == 0)
    }

    @Test func rawPacketDestination() {
        var list = Self.whitelist("198.51.100.0/24\n2001:db8::/32")
        let v4 = TestPacket.v4(to: "198.51.100.9"), v6 = TestPacket.v6(to: "2001:db8::9")
        let other = TestPacket.v4(to: "192.0.2.9")
        #expect(v4.withUnsafeBytes { list.allowsDestination(packet: $0, now: 0) })
        #expect(v6.withUnsafeBytes { list.allowsDestination(packet: $0, now: 0) })
        #expect(!other.withUnsafeBytes { list.allowsDestination(packet: $0, now: 0) })
        list.learn(address("192.0.2.9"), ttlSeconds: 60, now: 0)
        #expect(other.withUnsafeBytes { list.allowsDestination(packet: $0, now: 0) })
        #expect(![UInt8]([0x45, 0, 0]).withUnsafeBytes { list.allowsDestination(packet: $0, now: 0) })
        #expect(![UInt8]().withUnsafeBytes { list.allowsDestination(packet: $0, now: 0) })
    }

    /// The prefix table against a scan of every prefix, on random prefixes and addresses.
    @Test func prefixMatchingAgreesWithNaiveScan() {
        var generator = SeededGenerator(seed: 42)
        for round in 0..<20 {
            var list = ExitWhitelist()
            var prefixes: [IPPrefix] = []
            for _ in 0..<(round * 5 + 1) {
                let entry: IPPrefix?
                if Bool.random(using: &generator) {
                    // Few distinct high bytes so random addresses land inside often.
                    let value = UInt32.random(in: 0...3, using: &generator) << 30 | UInt32.random(in: 0...UInt32.max, using: &generator) >> 2
                    entry = IPPrefix(address: .v4(value), length: Int.random(in: 0...32, using: &generator))?.network
                } else {
                    let hi = UInt64.random(in: 0...3, using: &generator) << 62 | UInt64.random(in: 0...UInt64.max, using: &generator) >> 2
                    entry = IPPrefix(address: .v6(hi, UInt64.random(in: 0...UInt64.max, using: &generator)),
                                     length: Int.random(in: 0...128, using: &generator))?.network
                }
                guard let entry else { continue }
                prefixes.append(entry)
                list.addPrefix(entry)
            }
            for _ in 0..<2000 {
                let probe: IPAddress
                if Bool.random(using: &generator) {
                    probe = .v4(UInt32.random(in: 0...3, using: &generator) << 30 | UInt32.random(in: 0...UInt32.max, using: &generator) >> 2)
                } else {
                    probe = .v6(UInt64.random(in: 0...3, using: &generator) << 62 | UInt64.random(in: 0...UInt64.max, using: &generator) >> 2,
                                UInt64.random(in: 0...UInt64.max, using: &generator))
                }
                let naive = prefixes.contains { $0.contains(probe) }
                #expect(list.allowsDestination(probe, now: 0) == naive, "\(probe) in \(prefixes)")
            }
        }
    }

    @Test func programmaticEntries() throws {
        var list = ExitWhitelist()
        #expect(!list.allowsName("netflix.com"))
        try list.addDomainSuffix("*.Netflix.com")
        #expect(list.allowsName("www.netflix.com"))
        #expect(throws: WhitelistError.Reason.topLevelDomain) { try list.addDomainSuffix("com") }
        list.addPrefix(prefix("203.0.113.77/24"))
        list.addPrefix(prefix("203.0.113.0/24"))
        #expect(list.prefixes == [prefix("203.0.113.0/24")])
    }
}
