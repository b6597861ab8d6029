import WireGuard

/// The nftables table of gateway mode (`inet warren_NAME`, one per interface), as one ruleset text that
/// `nft -f` applies in a single transaction.
///
/// The table is never tied to the agent's process: it stays when the agent
/// dies, so the kill switch holds while nothing is running. Its rules match
/// interfaces by name, which keeps them valid while the TUN device is gone.
public struct GatewayRuleset: Sendable, Equatable {
    /// The table of the interface whose nftables token (letters and digits kept, every other
    /// byte `_xx`) is `token`: its own, so no other interface's command can touch it.
    public static func tableName(token: String) -> String { "inet warren_\(token)" }

    public var table: String
    public static let killSwitchCounter = "killswitch_dropped"
    public static let ipv6Counter = "ipv6_blocked"

    public var tunnelInterface: String
    public var lanInterfaces: [String]
    public var killSwitch: Bool
    public var tunnelIPv6: Bool
    public var bypass: [IPPrefix]
    /// Resolver reached through the tunnel that LAN DNS is redirected to, per family.
    public var dnsV4: IPAddress?
    public var dnsV6: IPAddress?
    /// The mark the agent's own socket carries; bypassed LAN traffic gets it too, to use the main table.
    public var firewallMark: UInt32
    public var mtu: Int

    public init(table: String, tunnelInterface: String, lanInterfaces: [String], killSwitch: Bool, tunnelIPv6: Bool, bypass: [IPPrefix],
                dnsV4: IPAddress?, dnsV6: IPAddress?, firewallMark: UInt32, mtu: Int) {
        self.table = table
        self.tunnelInterface = tunnelInterface
        self.lanInterfaces = lanInterfaces
        self.killSwitch = killSwitch
        self.tunnelIPv6 = tunnelIPv6
        self.bypass = bypass
        self.dnsV4 = dnsV4
        self.dnsV6 = dnsV6
        self.firewallMark = firewallMark
        self.mtu = mtu
    }

    /// The full transaction: create-if-missing, delete, then define, so the old
    /// table is replaced atomically and there is no instant without rules.
    public func text() -> String {
        let lan = "{ " + lanInterfaces.map { "\"\($0)\"" }.joined(separator: ", ") + " }"
        let tun = "\"\(tunnelInterface)\""
        let bypass4 = bypass.filter { $0.address.isV4 }.map(\.description)
        let bypass6 = bypass.filter { !$0.address.isV4 }.map(\.description)
        let mark = "0x" + String(firewallMark, radix: 16)
        var out = "add table \(table)\ndelete table \(table)\n"
        out += "table \(table) {\n"
        out += "\tcounter \(GatewayRuleset.killSwitchCounter) {\n\t}\n"
        out += "\tcounter \(GatewayRuleset.ipv6Counter) {\n\t}\n"
        out += "\tset bypass4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
        if !bypass4.isEmpty { out += "\t\telements = { \(bypass4.joined(separator: ", ")) }\n" }
        out += "\t}\n"
        out += "\tset bypass6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n"
        if !bypass6.isEmpty { out += "\t\telements = { \(bypass6.joined(separator: ", ")) }\n" }
        out += "\t}\n"

        // Bypassed devices carry the agent's mark, so policy routing sends them to the main table.
        out += "\tchain mark_bypass {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n"
        out += "\t\tiifname \(lan) ip saddr @bypass4 meta mark set \(mark)\n"
        out += "\t\tiifname \(lan) ip6 saddr @bypass6 meta mark set \(mark)\n"
        out += "\t}\n"

        // LAN DNS, to any address, goes to the tunnel's resolver.
        out += "\tchain redirect_dns {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        out += "\t\tiifname \(lan) ip saddr @bypass4 return\n"
        out += "\t\tiifname \(lan) ip6 saddr @bypass6 return\n"
        if let dnsV4 {
            out += "\t\tiifname \(lan) meta nfproto ipv4 meta l4proto { tcp, udp } th dport 53 dnat ip to \(dnsV4)\n"
        }
        if let dnsV6, tunnelIPv6 {
            out += "\t\tiifname \(lan) meta nfproto ipv6 meta l4proto { tcp, udp } th dport 53 dnat ip6 to \(dnsV6)\n"
        }
        out += "\t}\n"

        out += "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        // Clamp MSS both ways so TCP never needs fragments inside the tunnel.
        let mss4 = max(536, mtu - 40), mss6 = max(1220, mtu - 60)
        out += "\t\toifname \(tun) tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n"
        out += "\t\tiifname \(tun) meta nfproto ipv4 tcp flags syn / syn,rst tcp option maxseg size > \(mss4) tcp option maxseg size set \(mss4)\n"
        out += "\t\tiifname \(tun) meta nfproto ipv6 tcp flags syn / syn,rst tcp option maxseg size > \(mss6) tcp option maxseg size set \(mss6)\n"
        if !tunnelIPv6 {
            out += "\t\tiifname \(lan) meta nfproto ipv6 ip6 saddr != @bypass6 counter name \(GatewayRuleset.ipv6Counter) drop\n"
            out += "\t\toifname \(lan) meta nfproto ipv6 iifname \(tun) drop\n"
        }
        out += "\t\tiifname \(lan) oifname \(tun) accept\n"
        out += "\t\tiifname \(lan) ip saddr @bypass4 accept\n"
        out += "\t\tiifname \(lan) ip6 saddr @bypass6 accept\n"
        if killSwitch {
            out += "\t\tiifname \(lan) counter name \(GatewayRuleset.killSwitchCounter) drop\n"
        }
        out += "\t}\n"

        out += "\tchain source_nat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        out += "\t\toifname \(tun) masquerade\n"
        out += "\t\toifname != \(tun) ip saddr @bypass4 masquerade\n"
        out += "\t\toifname != \(tun) ip6 saddr @bypass6 masquerade\n"
        out += "\t}\n"
        out += "}\n"
        return out
    }
}
