@testable import Configuration
import Testing
import WireGuard
@testable import Agent

// The start-time warnings for keys warren reads but does not act on, and the DNS refusal.

private let file = "/etc/warren/wg0.conf"
private let privateKey = "AAsWISw3Qk1YY255hI+apbC7xtHc5/L9CBMeKTQ/SlU="
private let peerKey = "JTA7RlFcZ3J9iJOeqbS/ytXg6/YBDBciLThDTllkb3o="

/// The warnings for a config text, or the refusal it throws.
private func review(_ text: String) throws(ConfigError) -> [ConfigError] {
    try ConfigReview.warnings(for: try TunnelConfig.parse(text, file: file), file: file)
}

private func peer(_ allowed: String) -> String {
    "\n[Peer]\nPublicKey = \(peerKey)\nEndpoint = 192.0.2.1:51820\nAllowedIPs = \(allowed)\n"
}

@Suite struct ConfigReviewTests {
    @Test func stockConfigWithoutIgnoredKeysHasNoWarnings() throws {
        let warnings = try review("[Interface]\nPrivateKey = \(privateKey)\nAddress = 10.0.0.2/24\n" + peer("10.0.0.0/24"))
        #expect(warnings.isEmpty)
    }

    @Test func eachHookKeyGetsOneWarningAtItsFirstLine() throws {
        let text = """
            [Interface]
            PrivateKey = \(privateKey)
            PostUp = iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
            PostDown = iptables -t nat -D POSTROUTING -o eth0 -j MASQUERADE
            PostUp = logger up
            PreUp = true
            PostUp = logger again
            """ + peer("10.0.0.0/24")
        let warnings = try review(text)
        #expect(warnings.map(\.key) == ["PostUp", "PostDown", "PreUp"])
        #expect(warnings.map(\.line) == [3, 4, 6])
        let postUp = try #require(warnings.first)
        #expect(postUp.description.hasPrefix("\(file):3: PostUp: ignored: warren never runs hook commands"))
        #expect(postUp.description.contains("(also on lines 5, 7)"))
        #expect(warnings[1].description.contains("also on") == false)
    }

    @Test func saveConfigTrueIsWarnedFalseIsNot() throws {
        let base = "[Interface]\nPrivateKey = \(privateKey)\n"
        #expect(try review(base + "SaveConfig = true\n" + peer("10.0.0.0/24")).map(\.key) == ["SaveConfig"])
        #expect(try review(base + "SaveConfig = false\n" + peer("10.0.0.0/24")).isEmpty)
    }

    @Test func dnsOnASplitTunnelIsWarnedAsIgnored() throws {
        let warnings = try review("[Interface]\nPrivateKey = \(privateKey)\nDNS = 10.0.0.53\n" + peer("10.0.0.0/24"))
        #expect(warnings.count == 1)
        #expect(warnings.first?.key == "DNS")
        #expect(warnings.first?.line == 3)
        #expect(warnings.first?.message.hasPrefix("ignored without [Gateway]") == true)
    }

    @Test(arguments: ["0.0.0.0/0", "10.0.0.0/24, ::/0"])
    func dnsOnAFullTunnelWithoutGatewayIsRefused(allowed: String) {
        let text = "[Interface]\nPrivateKey = \(privateKey)\nAddress = 10.0.0.2/24\nDNS = 10.0.0.53, corp.example\n" + peer(allowed)
        do {
            let warnings = try review(text)
            Issue.record("not refused; warnings: \(warnings)")
        } catch {
            #expect(error.key == "DNS")
            #expect(error.line == 4)
            #expect(error.message.hasPrefix("refusing to start: the [Peer] on line 6 routes"))
            #expect(error.message.contains(allowed.contains("::/0") ? "::/0" : "0.0.0.0/0"))
            #expect(error.message.contains("10.0.0.53, corp.example"))
        }
    }

    @Test func searchDomainsAloneOnAFullTunnelAreOnlyWarned() throws {
        let warnings = try review("[Interface]\nPrivateKey = \(privateKey)\nDNS = corp.example\n" + peer("0.0.0.0/0"))
        #expect(warnings.map(\.key) == ["DNS"])
    }

    @Test func dnsOnAFullTunnelWithGatewayIsAppliedWithoutWarning() throws {
        let text = "[Interface]\nPrivateKey = \(privateKey)\nDNS = 10.0.0.53\n" + peer("0.0.0.0/0") + "\n[Gateway]\nLAN = lan0\n"
        #expect(try review(text).isEmpty)
    }

    @Test func dnsWithExitOrProviderIsWarnedAsIgnored() throws {
        let exit = try review("[Interface]\nDNS = 10.0.0.53\n\n[Exit]\nProvider = x\n")
        #expect(exit.map(\.key) == ["DNS"])
        #expect(exit.first?.message.contains("the provider names the resolver") == true)
        let provider = try review("[Interface]\nDNS = 10.0.0.53\n\n[Provider]\nWAN = eth0\n")
        #expect(provider.map(\.key) == ["DNS"])
        #expect(provider.first?.message.contains("own DNS forwarder") == true)
    }
}
