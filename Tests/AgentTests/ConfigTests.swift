#if canImport(Glibc)
@testable import Configuration
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import WarrenTestSupport
import WireGuard
@testable import Agent

/// 32 bytes whose base64 text is `keyText[i]` (computed independently, with Python's base64).
private func keyBytes(_ i: Int) -> [UInt8] { (0..<32).map { UInt8((i * 37 + $0 * 11) % 256) } }

private let keyText = [
    "AAsWISw3Qk1YY255hI+apbC7xtHc5/L9CBMeKTQ/SlU=",
    "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o=",
    "SlVga3aBjJeirbjDztnk7/oFEBsmMTxHUl1oc36JlJ8=",
    "b3qFkJumsbzH0t3o8/4JFB8qNUBLVmFsd4KNmKOuucQ=",
    "lJ+qtcDL1uHs9wINGCMuOURPWmVwe4aRnKeyvcjT3uk=",
    "ucTP2uXw+wYRHCcyPUhTXml0f4qVoKu2wczX4u34Aw4=",
]

private func prefix(_ text: String) -> IPPrefix { IPPrefix(parsing: text)! }

private let file = "/etc/warren/wg0.conf"

/// The error that parsing `text` throws, or nil (recording an issue) if it parses.
private func parseError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        _ = try TunnelConfig.parse(text, file: file)
        Issue.record("parsed without error", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// A minimal valid [Interface] followed by `rest`; the [Interface] header is line 1.
private func withInterface(_ rest: String) -> String {
    "[Interface]\nPrivateKey = \(keyText[0])\n" + rest
}

@Suite struct ConfigTests {
    // MARK: Whole files

    @Test func fullWgQuickFileParsesToExactStruct() throws {
        let text = """
            # warren tunnel to the office
            [Interface]
            PrivateKey = \(keyText[0])
            Address = 10.0.0.1/24, fd00::1/64
            address = 10.0.1.1          # keys are case-insensitive; a bare address is a host prefix
            ListenPort = 51820
            MTU = 1420
            DNS = 10.0.0.53, fd00::53,corp.example.com
            FwMark = 0xca6c
            Table = 1234
            PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
            PostDown = iptables -D FORWARD -i %i -j ACCEPT
            PostUp = logger up
            SaveConfig = true

            ; an INI comment
            [Peer]
            PublicKey = \(keyText[1])
            PresharedKey = \(keyText[2])
            Endpoint = [2001:db8::7]:51820
            AllowedIPs = 10.0.0.2/32,  fd00::2/128
            AllowedIPs = 192.168.10.0/24
            PersistentKeepalive = 25

            [peer]
              publickey=\(keyText[3])
              endpoint = vpn.example.com:4500
              allowedips = 0.0.0.0/0, ::/0
              persistentkeepalive = off

            [Peer]
            PublicKey = \(keyText[4])
            Endpoint = 198.51.100.7:1
            AllowedIPs =
            """
        let config = try TunnelConfig.parse(text, file: file)
        let expected = TunnelConfig(
            interface: InterfaceConfig(
                privateKey: keyBytes(0),
                addresses: [prefix("10.0.0.1/24"), prefix("fd00::1/64"), prefix("10.0.1.1/32")],
                listenPort: 51820,
                mtu: 1420,
                dns: ["10.0.0.53", "fd00::53", "corp.example.com"],
                fwMark: 0xca6c,
                table: .number(1234),
                hooks: [
                    "PostUp": [
                        "iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE",
                        "logger up",
                    ],
                    "PostDown": ["iptables -D FORWARD -i %i -j ACCEPT"],
                ],
                saveConfig: true,
                keyLines: [
                    "PrivateKey": [3], "Address": [4, 5], "ListenPort": [6], "MTU": [7], "DNS": [8], "FwMark": [9],
                    "Table": [10], "PostUp": [11, 13], "PostDown": [12], "SaveConfig": [14],
                ]
            ),
            peers: [
                PeerConfig(
                    publicKey: keyBytes(1), presharedKey: keyBytes(2),
                    endpoint: EndpointSpec(host: "2001:db8::7", port: 51820),
                    allowedIPs: [prefix("10.0.0.2/32"), prefix("fd00::2/128"), prefix("192.168.10.0/24")],
                    persistentKeepalive: 25, line: 17
                ),
                PeerConfig(
                    publicKey: keyBytes(3), endpoint: EndpointSpec(host: "vpn.example.com", port: 4500),
                    allowedIPs: [prefix("0.0.0.0/0"), prefix("::/0")], persistentKeepalive: nil, line: 25
                ),
                PeerConfig(
                    publicKey: keyBytes(4), endpoint: EndpointSpec(host: "198.51.100.7", port: 1),
                    allowedIPs: [], line: 31
                ),
            ]
        )
        #expect(config == expected)
        #expect(config.peers[0].endpoint?.description == "[2001:db8::7]:51820")
        #expect(config.peers[1].endpoint?.description == "vpn.example.com:4500")
    }

    /// The examples from the wg-quick(8) and wg(8) man pages, byte for byte, and a typical
    /// server config with Windows line endings.
    @Test func stockWireGuardExamplesWorkUnchanged() throws {
        let wgQuick = """
            [Interface]
            Address = 10.200.100.8/24
            DNS = 10.200.100.1
            PrivateKey = oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=

            [Peer]
            PublicKey = GtL7fZc/bLnqZldpVofMCD6hDjrK28SsdLxevJ+qtKU=
            PresharedKey = /UwcSPg38hW/D9Y3tcS1FOV0K1wuURMbS0sesJEP5ak=
            AllowedIPs = 0.0.0.0/0
            Endpoint = demo.wireguard.com:51820

            """
        let quick = try TunnelConfig.parse(wgQuick, file: file)
        #expect(quick.interface.addresses == [prefix("10.200.100.8/24")])
        #expect(quick.interface.dns == ["10.200.100.1"])
        #expect(quick.interface.table == .auto)
        #expect(quick.interface.saveConfig == false)
        #expect(quick.peers.count == 1)
        #expect(quick.peers[0].endpoint == EndpointSpec(host: "demo.wireguard.com", port: 51820))
        #expect(quick.peers[0].presharedKey?.count == 32)
        #expect(quick.extraSections.isEmpty)

        let wg = """
            [Interface]
            PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
            ListenPort = 51820

            [Peer]
            PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
            Endpoint = 192.95.5.67:1234
            AllowedIPs = 10.192.122.3/32, 10.192.124.1/24

            [Peer]
            PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
            Endpoint = [2607:5300:60:6b0::c05f:543]:2468
            AllowedIPs = 10.192.122.4/32, 192.168.0.0/16

            [Peer]
            PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
            Endpoint = test.wireguard.com:18981
            AllowedIPs = 10.10.10.230/32
            """
        let plain = try TunnelConfig.parse(wg, file: file)
        #expect(plain.interface.listenPort == 51820)
        #expect(plain.peers.map(\.line) == [5, 10, 15])
        #expect(plain.peers[1].endpoint?.host == "2607:5300:60:6b0::c05f:543")
        #expect(plain.peers[1].endpoint?.description == "[2607:5300:60:6b0::c05f:543]:2468")
        #expect(plain.peers[0].allowedIPs == [prefix("10.192.122.3/32"), prefix("10.192.124.1/24")])

        let server = [
            "\u{FEFF}[Interface]",
            "Address = 10.8.0.1/24",
            "ListenPort = 51820",
            "PrivateKey = \(keyText[5])",
            "PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE",
            "PostDown = iptables -D FORWARD -i %i -j ACCEPT; iptables -t nat -D POSTROUTING -o eth0 -j MASQUERADE",
            "",
            "[Peer]",
            "# laptop",
            "PublicKey = \(keyText[1])",
            "AllowedIPs = 10.8.0.2/32",
            "",
        ].joined(separator: "\r\n")
        let parsed = try TunnelConfig.parse(server, file: file)
        #expect(parsed.interface.privateKey == keyBytes(5))
        #expect(parsed.interface.hooks["PostUp"]?.first?.hasSuffix("MASQUERADE") == true)
        #expect(parsed.peers.first?.line == 8)
    }

    @Test func reservedSectionsAreKeptRaw() throws {
        let text = withInterface("""
            [Gateway]
            LAN = br-lan
            KillSwitch = on   # comment stripped

            [provider]
            Price = 10
            """)
        let config = try TunnelConfig.parse(text, file: file)
        #expect(config.extraSections == [
            RawSection(name: "Gateway", line: 3, entries: [
                RawEntry(key: "LAN", value: "br-lan", line: 4),
                RawEntry(key: "KillSwitch", value: "on", line: 5),
            ]),
            RawSection(name: "Provider", line: 7, entries: [RawEntry(key: "Price", value: "10", line: 8)]),
        ])
    }

    @Test func valueVariants() throws {
        func interface(_ lines: String) throws -> InterfaceConfig {
            try TunnelConfig.parse(withInterface(lines), file: file).interface
        }
        #expect(try interface("FwMark = off").fwMark == nil)
        #expect(try interface("FwMark = 0").fwMark == nil)
        #expect(try interface("FwMark = 51820").fwMark == 51820)
        #expect(try interface("FwMark = 0xFFFFFFFF").fwMark == UInt32.max)
        #expect(try interface("Table = off").table == .off)
        #expect(try interface("Table = auto").table == .auto)
        #expect(try interface("Table = main").table == .number(254))
        #expect(try interface("ListenPort = 0").listenPort == 0)
        #expect(try interface("MTU = 576\nAddress = 10.0.0.1/24").mtu == 576)
        #expect(try interface("MTU = 1280\nAddress = fd00::1/64").mtu == 1280)
        #expect(try interface("SaveConfig = FALSE").saveConfig == false)
        #expect(try interface("DNS = 1.1.1.1\nDNS = example.com.").dns == ["1.1.1.1", "example.com."])
        let peer = try TunnelConfig.parse(withInterface("[Peer]\nPublicKey = \(keyText[1])\nPersistentKeepalive = 0"),
                                          file: file).peers[0]
        #expect(peer.persistentKeepalive == nil)
        #expect(peer.endpoint == nil)
    }

    // MARK: Errors

    @Test func errorDescriptionsNameFileLineAndKey() {
        let cases: [(String, String)] = [
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nAllowedIPs = 10.0.0.2/32, 10.0.0.300/32"),
             "/etc/warren/wg0.conf:5: AllowedIPs: '10.0.0.300/32' is not an IP prefix (expected e.g. 10.0.0.2/32 or fd00::2/128)"),
            (withInterface("[Peer]\nPublicKey = abc"),
             "/etc/warren/wg0.conf:4: PublicKey: 'abc' is not a key: expected 44 characters of base64 for a 32-byte key (as printed by `warren keygen` or `wg genkey`)"),
            ("[Interface]\nPrivateKey = not-a-key-but-secret",
             "/etc/warren/wg0.conf:2: PrivateKey: the value (20 characters) is not a key: expected 44 characters of base64 for a 32-byte key (as printed by `warren keygen` or `wg genkey`)"),
            ("[Interface]\nAddress = 10.0.0.1/24\n",
             "/etc/warren/wg0.conf:1: PrivateKey: missing from this [Interface] section (generate one with `warren keygen` or `wg genkey`)"),
            (withInterface("\n[Peer]\nEndpoint = 1.2.3.4:51820"),
             "/etc/warren/wg0.conf:4: PublicKey: missing from this [Peer] section (the peer's key, as printed by `warren pubkey` or `wg pubkey`)"),
            (withInterface("endpoint = 1.2.3.4:5"),
             "/etc/warren/wg0.conf:3: endpoint: belongs in [Peer], not [Interface] (valid keys: PrivateKey, Address, ListenPort, MTU, DNS, FwMark, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig)"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nAllowedIP = 10.0.0.2/32"),
             "/etc/warren/wg0.conf:5: AllowedIP: unknown key in [Peer]; did you mean AllowedIPs? (valid keys: PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive)"),
            ("PrivateKey = \(keyText[0])\n[Interface]",
             "/etc/warren/wg0.conf:1: PrivateKey: is outside any section (keys go under [Interface] or [Peer])"),
            (withInterface("[Peers]"),
             "/etc/warren/wg0.conf:3: unknown section [Peers] (expected [Interface] or [Peer], or warren's [Gateway], [Provider] or [Exit])"),
            ("# nothing here\n",
             "/etc/warren/wg0.conf: has no [Interface] section (every config needs one, with at least a PrivateKey)"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\n\n[Peer]\nPublicKey = \(keyText[1])"),
             "/etc/warren/wg0.conf:7: PublicKey: '\(keyText[1])' is already the key of the [Peer] on line 3; each peer needs its own key"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nEndpoint = 192.0.2.1"),
             "/etc/warren/wg0.conf:5: Endpoint: '192.0.2.1' has no port (expected host:port, e.g. 203.0.113.1:51820, [2001:db8::1]:51820 or vpn.example.com:51820)"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nEndpoint = [fd00::1]"),
             "/etc/warren/wg0.conf:5: Endpoint: '[fd00::1]' has no port (expected e.g. [fd00::1]:51820)"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nEndpoint = fd00::1:51820"),
             "/etc/warren/wg0.conf:5: Endpoint: 'fd00::1:51820': an IPv6 endpoint needs brackets around the address (expected e.g. [fd00::1]:51820)"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nEndpoint = vpn.example.com:0"),
             "/etc/warren/wg0.conf:5: Endpoint: port '0' is not 1...65535"),
            (withInterface("ListenPort = 65536"),
             "/etc/warren/wg0.conf:3: ListenPort: '65536' is not a port (expected 1...65535, or 0 for a random port)"),
            (withInterface("MTU = 1280\nMTU = 1420"),
             "/etc/warren/wg0.conf:4: MTU: appears twice in this section (first on line 3)"),
            (withInterface("MTU = 1200\nAddress = 10.0.0.1/24, fd00::1/64"),
             "/etc/warren/wg0.conf:3: MTU: 1200 is below 1280, the IPv6 minimum, and the interface has the IPv6 address fd00::1/64"),
            (withInterface("MTU = 9001"),
             "/etc/warren/wg0.conf:3: MTU: '9001' is not an MTU (expected 576...9000, at least 1280 with IPv6)"),
            (withInterface("Address = 10.0.0.1/33"),
             "/etc/warren/wg0.conf:3: Address: '10.0.0.1/33' has a bad prefix length (expected /0 to /32 for IPv4)"),
            (withInterface("Address = 10.0.0.1/24,,fd00::1/64"),
             "/etc/warren/wg0.conf:3: Address: '10.0.0.1/24,,fd00::1/64' has an empty item between commas"),
            (withInterface("Address = 10.0.0.1/24\nAddress = 10.0.0.1/24"),
             "/etc/warren/wg0.conf:4: Address: '10.0.0.1/24' is listed twice"),
            (withInterface("DNS = 10.0.0.256"),
             "/etc/warren/wg0.conf:3: DNS: '10.0.0.256' is not an IP address (expected a resolver like 10.0.0.1 or fd00::1, or a search domain)"),
            (withInterface("FwMark = 0x100000000"),
             "/etc/warren/wg0.conf:3: FwMark: '0x100000000' is not a firewall mark (expected a 32-bit number like 51820 or 0xca6c, or off)"),
            (withInterface("Table = 0"),
             "/etc/warren/wg0.conf:3: Table: '0' is not a routing table (expected auto, off, main, or a number 1...4294967295)"),
            (withInterface("SaveConfig = yes"),
             "/etc/warren/wg0.conf:3: SaveConfig: 'yes' is not true or false"),
            (withInterface("DNS ="),
             "/etc/warren/wg0.conf:3: DNS: has no value"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nPersistentKeepalive = 65536"),
             "/etc/warren/wg0.conf:5: PersistentKeepalive: '65536' is not a keepalive interval (expected seconds 1...65535, e.g. 25, or 0 or off for none)"),
            (withInterface("[Interface]\nPrivateKey = \(keyText[1])"),
             "/etc/warren/wg0.conf:3: a second [Interface] section (the first is on line 1); one file describes one interface"),
            (withInterface("[Peer\n"),
             "/etc/warren/wg0.conf:3: '[Peer' is not a section header (expected e.g. [Peer])"),
            (withInterface("ListenPort 51820"),
             "/etc/warren/wg0.conf:3: 'ListenPort 51820' is neither KEY = VALUE nor a [Section] header"),
            (withInterface("[Peer]\nPublicKey = \(keyText[1])\nPresharedKey = \(keyText[2].dropLast())"),
             "/etc/warren/wg0.conf:5: PresharedKey: the value (43 characters) is not a key: expected 44 characters of base64 for a 32-byte key (as printed by `warren keygen` or `wg genkey`)"),
        ]
        for (text, expected) in cases {
            let error = parseError(text)
            #expect(error?.description == expected, "input:\n\(text)")
        }
    }

    @Test func errorFieldsAreStructured() {
        let error = parseError(withInterface("[Peer]\nPublicKey = \(keyText[1])\nallowedips = 10.0.0.0/40"))
        #expect(error == ConfigError(file: file, line: 5, key: "AllowedIPs",
                                     message: "'10.0.0.0/40' has a bad prefix length (expected /0 to /32 for IPv4)"))
        let unknown = parseError(withInterface("Bogus = 1"))
        #expect(unknown?.key == "Bogus")
        #expect(unknown?.line == 3)
        #expect(unknown?.message.hasPrefix("unknown key in [Interface] (valid keys: PrivateKey,") == true)
    }

    @Test func secretsAreNeverEchoed() {
        let secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0=="
        let error = parseError("[Interface]\nPrivateKey = \(secret)")
        #expect(error?.key == "PrivateKey")
        #expect(error?.description.contains(secret) == false)
    }

    // MARK: Files

    @Test func loadReadsAFileAndNamesUnreadableOnes() throws {
        var template = Array("/tmp/warren-config-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let text = Array(withInterface("[Peer]\nPublicKey = bad\n").utf8)
        #expect(text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == text.count)
        close(fd)

        do {
            _ = try TunnelConfig.load(path: path)
            Issue.record("bad file loaded")
        } catch {
            #expect(error.file == path)
            #expect(error.line == 4)
            #expect(error.key == "PublicKey")
        }

        do {
            _ = try TunnelConfig.load(path: "/nonexistent/warren/wg0.conf")
            Issue.record("missing file loaded")
        } catch {
            #expect(error.description == "/nonexistent/warren/wg0.conf: cannot read: no such file or directory: check the path")
        }

        do {
            _ = try TunnelConfig.load(path: "/tmp")
            Issue.record("directory loaded")
        } catch {
            #expect(error.description == "/tmp: cannot read: is a directory: give the config file, not its directory")
        }
    }

    // MARK: Base64

    @Test func base64KnownVectors() {
        let vectors: [(String, String)] = [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
        ]
        for (plain, encoded) in vectors {
            #expect(Base64Key.encode(Array(plain.utf8)) == encoded)
            #expect(Base64Key.decode(encoded) == Array(plain.utf8))
        }
        for i in 0..<keyText.count {
            #expect(Base64Key.encode(keyBytes(i)) == keyText[i])
            #expect(Base64Key.decode(Substring(keyText[i])) == keyBytes(i))
        }
    }

    @Test func base64RoundTripsEveryLength() {
        var rng = SeededGenerator(seed: 7)
        for length in 0..<100 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let text = Base64Key.encode(bytes)
            #expect(text.utf8.count == (length + 2) / 3 * 4)
            #expect(Base64Key.decode(text) == bytes)
        }
    }

    @Test(arguments: [
        "Zg=", "Zg", "Z===", "====", "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm-v", "Zm_v", "=Zm9",
        "Zg==Zg==", "Zm=v", "Zé==",
        "AAsWISw3Qk1YY255hI+apbC7xtHc5/L9CBMeKTQ/SlV=",   // unused bits set in the last character
        "AAsWISw3Qk1YY255hI-apbC7xtHc5_L9CBMeKTQ_SlU=",   // URL-safe alphabet
    ])
    func base64RejectsBadInput(_ text: String) {
        #expect(Base64Key.decode(text) == nil)
    }

    // MARK: Fuzz

    /// Thousands of files made of shuffled, truncated and corrupted config lines: the parser
    /// must either succeed or throw a ConfigError that points inside the file; never trap.
    @Test func randomAndTruncatedInputNeverCrash() {
        let fragments = [
            "[Interface]", "[Peer]", "[Gateway]", "[peer", "[]", "[", "]", "#", ";", "=", "==", "\t", " ",
            "PrivateKey = \(keyText[0])", "PublicKey = \(keyText[1])", "PublicKey = \(keyText[2])",
            "PresharedKey = \(keyText[3])", "Address = 10.0.0.1/24, fd00::1/64", "Address = ::ffff:1.2.3.4/96",
            "AllowedIPs = 0.0.0.0/0, ::/0", "AllowedIPs = ,", "Endpoint = [fd00::1]:51820", "Endpoint = [::]",
            "Endpoint = a.b:1", "Endpoint = :", "Endpoint = [", "Endpoint = []:1", "ListenPort = 99999999999999999999999",
            "MTU = 1280", "MTU = -1", "DNS = 1.1.1.1, example.com", "DNS = :::", "FwMark = 0x", "FwMark = 0xg",
            "Table = 4294967296", "SaveConfig = true", "PersistentKeepalive = 25", "PostUp = echo %i; true",
            "\u{FEFF}", "\r", "é", "👍", "\u{0}", "Key = [Peer]", "1.2.3.4/33", "::::", "0x", "/",
        ]
        let alphabet = Array("[]=#;:,./0123456789abcdefx ABCDEFPeerInterface\t\r-+%é\u{0}👍")
        var rng = SeededGenerator(seed: 0x5eed)
        var parsed = 0, rejected = 0

        func check(_ text: String) {
            let lineCount = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).count
            do {
                _ = try TunnelConfig.parse(text, file: "fuzz.conf")
                parsed += 1
            } catch {
                rejected += 1
                #expect(error.file == "fuzz.conf")
                if let line = error.line { #expect((1...lineCount).contains(line), "\(error) for:\n\(text)") }
                #expect(!error.message.isEmpty)
            }
        }

        for _ in 0..<3000 {
            var lines: [String] = []
            for _ in 0..<Int(rng.next() % 8) {
                var line = fragments[Int(rng.next() % UInt64(fragments.count))]
                switch rng.next() % 4 {
                case 0: line = String(line.prefix(Int(rng.next() % UInt64(line.count + 1))))
                case 1: line = String((0..<Int(rng.next() % 24)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
                case 2:
                    var chars = Array(line)
                    if !chars.isEmpty { chars[Int(rng.next() % UInt64(chars.count))] = alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                    line = String(chars)
                default: break
                }
                lines.append(line)
            }
            check(lines.joined(separator: rng.next() % 5 == 0 ? "\r\n" : "\n"))
        }

        // Every prefix of a valid file.
        let valid = withInterface("Address = 10.0.0.1/24\n[Peer]\nPublicKey = \(keyText[1])\nEndpoint = [fd00::1]:51820\nAllowedIPs = 10.0.0.2/32\n")
        for length in 0...valid.count { check(String(valid.prefix(length))) }

        #expect(parsed > 0)
        #expect(rejected > 0)
    }
}
