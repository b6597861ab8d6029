@testable import Configuration
@testable import Policy
import Glibc
import Testing
@testable import Agent
@testable import LinuxPlatform
import WireGuard

@Suite struct GatewayRulesetTests {
    func ruleset(killSwitch: Bool = true, ipv6: Bool = false) -> GatewayRuleset {
        GatewayRuleset(table: GatewayRuleset.tableName(for: try! InterfaceName("wg-gw")), tunnelInterface: "wg-gw", lanInterfaces: ["lan0", "lan1"], killSwitch: killSwitch, tunnelIPv6: ipv6,
                       bypass: [IPPrefix(parsing: "192.168.50.7")!, IPPrefix(parsing: "fd50::7")!],
                       dnsV4: IPAddress(parsing: "10.64.0.1"), dnsV6: IPAddress(parsing: "fd64::1"), firewallMark: 0xca6c, mtu: 1420)
    }

    @Test func replacesTheTableInOneTransaction() {
        let text = ruleset().text()
        #expect(text.hasPrefix("add table inet warren_wg_2dgw\ndelete table inet warren_wg_2dgw\ntable inet warren_wg_2dgw {\n"))
    }

    @Test func killSwitchDropsLANTrafficNotGoingToTheTunnel() {
        let text = ruleset().text()
        let accept = text.firstRange(of: "iifname { \"lan0\", \"lan1\" } oifname \"wg-gw\" accept")
        let drop = text.firstRange(of: "iifname { \"lan0\", \"lan1\" } counter name killswitch_dropped drop")
        #expect(accept != nil && drop != nil)
        if let accept, let drop { #expect(accept.lowerBound < drop.lowerBound) }
        #expect(!ruleset(killSwitch: false).text().contains("killswitch_dropped drop"))
    }

    @Test func dnsIsRedirectedPerFamily() {
        #expect(ruleset().text().contains("th dport 53 dnat ip to 10.64.0.1"))
        #expect(!ruleset(ipv6: false).text().contains("dnat ip6 to"))
        #expect(ruleset(ipv6: true).text().contains("th dport 53 dnat ip6 to fd64::1"))
    }

    @Test func ipv6IsDroppedWhenBlocked() {
        #expect(ruleset(ipv6: false).text().contains("meta nfproto ipv6 ip6 saddr != @bypass6 counter name ipv6_blocked drop"))
        #expect(!ruleset(ipv6: true).text().contains("ipv6_blocked drop"))
    }

    @Test func bypassIsMarkedForTheMainTable() {
        let text = ruleset().text()
        #expect(text.contains("elements = { 192.168.50.7/32 }"))
        #expect(text.contains("ip saddr @bypass4 meta mark set 0xca6c"))
    }

    /// nft itself checks the syntax (`nft -c` changes nothing).
    @Test(.enabled(if: getuid() == 0 && access("/usr/sbin/nft", X_OK) == 0, "needs root and nft"))
    func nftAcceptsTheRuleset() throws {
        for (kill, v6) in [(true, false), (true, true), (false, true)] {
            let result = try Nftables.run(["-c", "-f", "-"], input: ruleset(killSwitch: kill, ipv6: v6).text())
            #expect(result.status == 0, "nft -c: \(result.output)")
        }
    }
}

@Suite struct GatewayConfigTests {
    let base = "[Interface]\nPrivateKey = 2FGmD0AR40/z0kBm7D+Bj6Jr6nNrP7WtxLMsxdMHp1Q=\nAddress = 10.64.0.2/32\n"

    func parse(_ gateway: String) throws -> GatewayConfig? {
        let config = try TunnelConfig.parse(base + gateway, file: "gw.conf")
        return try GatewayConfig.from(config, file: "gw.conf")
    }

    @Test func parsesEveryKey() throws {
        let gateway = try parse("[Gateway]\nLAN = lan0, lan1\nKillSwitch = off\nBypass = 192.168.1.50, 192.168.1.48/29\nIPv6 = block\n")
        #expect(gateway == GatewayConfig(lanInterfaces: ["lan0", "lan1"], killSwitch: false,
                                         bypass: [IPPrefix(parsing: "192.168.1.50/32")!, IPPrefix(parsing: "192.168.1.48/29")!],
                                         ipv6: .block, line: 4))
    }

    @Test func defaultsAreFailClosed() throws {
        let gateway = try parse("[Gateway]\nLAN = br-lan\n")
        #expect(gateway?.killSwitch == true)
        #expect(gateway?.ipv6 == nil)
        #expect(try parse("") == nil)
    }

    @Test func errorsNameFileLineAndKey() {
        #expect(throws: ConfigError(file: "gw.conf", line: 6, key: "KillSwitch", message: "'maybe' is not on or off")) {
            _ = try parse("[Gateway]\nKillSwitch = maybe\n".replacingFirstLine(with: "[Gateway]\nLAN = lan0"))
        }
        #expect(throws: ConfigError(file: "gw.conf", line: 4, key: "LAN",
                                    message: "[Gateway] needs LAN = the interface(s) of the home network, e.g. LAN = br-lan")) {
            _ = try parse("[Gateway]\nIPv6 = tunnel\n")
        }
        #expect(throws: ConfigError(file: "gw.conf", line: 6, key: "Colour",
                                    message: "unknown key in [Gateway] (valid keys: LAN, KillSwitch, Bypass, IPv6)")) {
            _ = try parse("[Gateway]\nLAN = lan0\nColour = blue\n")
        }
    }
}

extension String {
    func replacingFirstLine(with replacement: String) -> String {
        guard let newline = firstIndex(of: "\n") else { return replacement }
        return replacement + self[newline...]
    }
}

@Suite struct ProviderRulesetTests {
    let ruleset = ProviderRuleset(table: "inet warren_provider_wpv", tunnelInterface: "wpv", wanInterface: "wan0",
                                  pool: [IPPrefix(parsing: "10.99.0.0/24")!, IPPrefix(parsing: "fd99::/64")!],
                                  dnsListeners: [.init(address: IPAddress(parsing: "10.99.0.1")!, port: 41053),
                                                 .init(address: IPAddress(parsing: "fd99::1")!, port: 42053)],
                                  hostNetworks: ["192.0.2.0/24", "192.168.77.0/24", "2001:db8:1::/64", "2001:db8:77::/64"].compactMap { IPPrefix(parsing: $0) })

    @Test func blocksLocalRangesSMTPAndTheHost() {
        let text = ruleset.text()
        #expect(text.contains("iifname \"wpv\" tcp dport 25 counter name blocked_smtp drop"))
        #expect(text.contains("iifname \"wpv\" ip daddr @protected4 counter name blocked_local drop"))
        #expect(text.contains("iifname \"wpv\" oifname != \"wan0\" counter name blocked_not_wan drop"))
        #expect(text.contains("iifname \"wpv\" counter name blocked_host drop"))
        // The payment port is open from the tunnel; it and the resolver are closed to everything else.
        #expect(text.contains("iifname \"wpv\" ip6 daddr fd99::1 udp dport 4747 accept"))
        #expect(text.contains("iifname != \"wpv\" ip daddr 10.99.0.1 udp dport { 4747, 41053 } counter name blocked_host drop"))
        for range in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "224.0.0.0/4"] {
            #expect(ProviderRuleset.protectedV4.contains(range))
        }
        for range in ["fc00::/7", "fe80::/10", "ff00::/8"] { #expect(ProviderRuleset.protectedV6.contains(range)) }
    }

    /// The host's networks, global IPv6 included, are a set of their own, dropped from the tunnel.
    @Test func hostNetworksAreDropped() {
        let text = ruleset.text()
        #expect(text.contains("\tset host4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 192.0.2.0/24, 192.168.77.0/24 }\n\t}"))
        #expect(text.contains("\tset host6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { 2001:db8:1::/64, 2001:db8:77::/64 }\n\t}"))
        let forward = text.components(separatedBy: "chain forward")[1].components(separatedBy: "chain dns_redirect")[0]
        let lines = forward.split(separator: "\n").map { $0.trimmingPrefix("\t\t") }
        let host4 = lines.firstIndex(of: "iifname \"wpv\" ip daddr @host4 counter name blocked_local drop")
        let host6 = lines.firstIndex(of: "iifname \"wpv\" ip6 daddr @host6 counter name blocked_local drop")
        let notWAN = lines.firstIndex { $0.hasPrefix("iifname \"wpv\" oifname != \"wan0\"") }
        #expect(host4 != nil && host6 != nil && notWAN != nil, "\(lines)")
        if let host4, let host6, let notWAN { #expect(host4 < notWAN && host6 < notWAN) }
        let empty = ProviderRuleset(table: "inet warren_provider_wpv", tunnelInterface: "wpv", wanInterface: "wan0", pool: [], dnsListeners: [], hostNetworks: [])
        #expect(empty.text().contains("\tset host6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}"))
    }

    @Test func hostSetsAreReplacedInOneTransaction() {
        let update = ProviderRuleset.hostSetsUpdate(["192.0.2.0/24", "2001:db8:77::/64", "2001:db8:99::/56"].compactMap { IPPrefix(parsing: $0) }, table: "inet warren_provider")
        #expect(update == """
            flush set inet warren_provider host4
            add element inet warren_provider host4 { 192.0.2.0/24 }
            flush set inet warren_provider host6
            add element inet warren_provider host6 { 2001:db8:77::/64, 2001:db8:99::/56 }

            """)
        #expect(ProviderRuleset.hostSetsUpdate([], table: "inet warren_provider") == "flush set inet warren_provider host4\nflush set inet warren_provider host6\n")
    }

    /// Port 53 of each tunnel address goes to the forwarder's own port; nothing else opens it.
    @Test func dnsIsRedirectedToTheForwardersPort() {
        let text = ruleset.text()
        #expect(text.contains("type nat hook prerouting priority dstnat; policy accept;"))
        #expect(text.contains("iifname \"wpv\" ip daddr 10.99.0.1 udp dport 53 dnat ip to 10.99.0.1:41053"))
        #expect(text.contains("iifname \"wpv\" ip6 daddr fd99::1 udp dport 53 dnat ip6 to [fd99::1]:42053"))
        #expect(text.contains("iifname \"wpv\" ip daddr 10.99.0.1 udp dport 41053 ct status dnat accept"))
        #expect(text.contains("iifname \"wpv\" ip6 daddr fd99::1 udp dport 42053 ct status dnat accept"))
        #expect(text.contains("iifname \"wpv\" ip daddr 10.99.0.1 tcp dport 53 reject with tcp reset"))
        #expect(!text.contains("dport 53 accept"), "port 53 itself is never opened: nothing of ours listens there")
    }

    @Test func masqueradesOnlyThePoolOnTheWAN() {
        let text = ruleset.text()
        #expect(text.contains("oifname \"wan0\" ip saddr 10.99.0.0/24 masquerade"))
        #expect(text.contains("oifname \"wan0\" ip6 saddr fd99::/64 masquerade"))
        #expect(text.components(separatedBy: "masquerade").count == 3)
    }

    @Test(.enabled(if: getuid() == 0 && access("/usr/sbin/nft", X_OK) == 0, "needs root and nft"))
    func nftAcceptsTheRulesetAndTheUpdate() throws {
        let update = ProviderRuleset.hostSetsUpdate(["192.0.2.0/24", "198.51.100.7/32", "2001:db8:77::/64"].compactMap { IPPrefix(parsing: $0) }, table: ruleset.table)
        let result = try Nftables.run(["-c", "-f", "-"], input: ruleset.text() + update)
        #expect(result.status == 0, "nft -c: \(result.output)")
    }
}
