import WireGuard

/// The nftables table of provider mode (`inet warren_provider_NAME`, one per interface): the second
/// line of defence behind the data-plane policy. Consumers may only leave
/// through the WAN, never reach private or local ranges, the host itself
/// (except its in-tunnel DNS forwarder), each other, or port 25; NAT applies
/// to the pool only.
public struct ProviderRuleset: Sendable, Equatable {
    public static func tableName(for name: InterfaceName) -> String { "inet warren_provider_\(name.nftablesToken)" }

    public var table: String
    public static let protectedV4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                                     "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"]
    public static let protectedV6 = ["::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "ff00::/8"]

    public var tunnelInterface: String
    public var wanInterface: String
    public var pool: [IPPrefix]
    /// The provider's own tunnel addresses, where its DNS forwarder listens.
    public var dnsAddresses: [IPAddress]

    public init(table: String, tunnelInterface: String, wanInterface: String, pool: [IPPrefix], dnsAddresses: [IPAddress]) {
        self.table = table
        self.tunnelInterface = tunnelInterface
        self.wanInterface = wanInterface
        self.pool = pool
        self.dnsAddresses = dnsAddresses
    }

    public func text() -> String {
        let tun = "\"\(tunnelInterface)\"", wan = "\"\(wanInterface)\""
        var out = "add table \(table)\ndelete table \(table)\n"
        out += "table \(table) {\n"
        for name in ["blocked_local", "blocked_smtp", "blocked_not_wan", "blocked_host"] { out += "\tcounter \(name) {\n\t}\n" }
        out += "\tset protected4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { \(ProviderRuleset.protectedV4.joined(separator: ", ")) }\n\t}\n"
        out += "\tset protected6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { \(ProviderRuleset.protectedV6.joined(separator: ", ")) }\n\t}\n"
        out += "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        out += "\t\tiifname \(tun) tcp dport 25 counter name blocked_smtp drop\n"
        out += "\t\tiifname \(tun) ip daddr @protected4 counter name blocked_local drop\n"
        out += "\t\tiifname \(tun) ip6 daddr @protected6 counter name blocked_local drop\n"
        out += "\t\tiifname \(tun) oifname != \(wan) counter name blocked_not_wan drop\n"
        // Nothing from outside may open a connection to a consumer.
        out += "\t\toifname \(tun) ct state != { established, related } drop\n"
        out += "\t}\n"
        out += "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
        for address in dnsAddresses {
            let family = address.isV4 ? "ip" : "ip6"
            out += "\t\tiifname \(tun) \(family) daddr \(address) meta l4proto { tcp, udp } th dport 53 accept\n"
            out += "\t\tiifname \(tun) \(family) daddr \(address) udp dport \(PaymentPort.number) accept\n"
            // The resolver and the payment port serve the tunnel only, even if the WAN routes to them.
            out += "\t\tiifname != \(tun) \(family) daddr \(address) meta l4proto { tcp, udp } th dport { 53, \(PaymentPort.number) } counter name blocked_host drop\n"
        }
        out += "\t\tiifname \(tun) ct state { established, related } accept\n"
        out += "\t\tiifname \(tun) counter name blocked_host drop\n"
        out += "\t}\n"
        out += "\tchain source_nat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        for prefix in pool {
            let family = prefix.address.isV4 ? "ip" : "ip6"
            out += "\t\toifname \(wan) \(family) saddr \(prefix.network) masquerade\n"
        }
        out += "\t}\n}\n"
        return out
    }
}
