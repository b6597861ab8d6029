import WireGuard

/// The nftables table of provider mode (`inet warren_provider_NAME`, one per interface): the second
/// line of defence behind the data-plane policy. Consumers may only leave
/// through the WAN, never reach private or local ranges, the host itself
/// (except its in-tunnel DNS forwarder), the host's networks (sets `host4` and
/// `host6`, kept current by `hostSetsUpdate`), each other, or port 25; NAT
/// applies to the pool only.
///
/// The forwarder listens on an unprivileged port of each tunnel address; a
/// consumer asks port 53 of that address, and `dns_redirect` rewrites the port
/// (dnat to the same address, so the answer goes back from port 53). Nothing
/// listens on port 53, so a resolver of the host (dnsmasq, Pi-hole, a router's
/// own DNS on `*:53`) never clashes with the provider.
public struct ProviderRuleset: Sendable, Equatable {
    /// The table of the interface whose nftables token (letters and digits kept, every other
    /// byte `_xx`) is `token`: its own, so no other interface's command can touch it.
    public static func tableName(token: String) -> String { "inet warren_provider_\(token)" }

    public var table: String
    public static let protectedV4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                                     "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"]
    public static let protectedV6 = ["::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "ff00::/8"]

    /// Where the DNS forwarder listens: a tunnel address and the port the kernel gave it.
    public struct DNSListener: Sendable, Equatable {
        public var address: IPAddress
        public var port: UInt16
        public init(address: IPAddress, port: UInt16) {
            self.address = address
            self.port = port
        }
    }

    public var tunnelInterface: String
    public var wanInterface: String
    public var pool: [IPPrefix]
    /// The provider's own tunnel addresses and its DNS forwarder's port on each.
    public var dnsListeners: [DNSListener]
    /// The host's networks (`HostNetworks.prefixes`), for the sets `host4` and `host6`.
    public var hostNetworks: [IPPrefix]

    public init(table: String, tunnelInterface: String, wanInterface: String, pool: [IPPrefix], dnsListeners: [DNSListener], hostNetworks: [IPPrefix]) {
        self.table = table
        self.tunnelInterface = tunnelInterface
        self.wanInterface = wanInterface
        self.pool = pool
        self.dnsListeners = dnsListeners
        self.hostNetworks = hostNetworks
    }

    public func text() -> String {
        let tun = "\"\(tunnelInterface)\"", wan = "\"\(wanInterface)\""
        var out = "add table \(table)\ndelete table \(table)\n"
        out += "table \(table) {\n"
        for name in ["blocked_local", "blocked_smtp", "blocked_not_wan", "blocked_host"] { out += "\tcounter \(name) {\n\t}\n" }
        out += "\tset protected4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { \(ProviderRuleset.protectedV4.joined(separator: ", ")) }\n\t}\n"
        out += "\tset protected6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { \(ProviderRuleset.protectedV6.joined(separator: ", ")) }\n\t}\n"
        for (name, v4) in [("host4", true), ("host6", false)] {
            let elements = hostNetworks.filter { $0.address.isV4 == v4 }.map(\.network.description)
            out += "\tset \(name) {\n\t\ttype \(v4 ? "ipv4_addr" : "ipv6_addr")\n\t\tflags interval\n"
            if !elements.isEmpty { out += "\t\telements = { \(elements.joined(separator: ", ")) }\n" }
            out += "\t}\n"
        }
        out += "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        out += "\t\tiifname \(tun) tcp dport 25 counter name blocked_smtp drop\n"
        out += "\t\tiifname \(tun) ip daddr @protected4 counter name blocked_local drop\n"
        out += "\t\tiifname \(tun) ip6 daddr @protected6 counter name blocked_local drop\n"
        out += "\t\tiifname \(tun) ip daddr @host4 counter name blocked_local drop\n"
        out += "\t\tiifname \(tun) ip6 daddr @host6 counter name blocked_local drop\n"
        out += "\t\tiifname \(tun) oifname != \(wan) counter name blocked_not_wan drop\n"
        // Nothing from outside may open a connection to a consumer.
        out += "\t\toifname \(tun) ct state != { established, related } drop\n"
        out += "\t}\n"
        // A consumer's DNS to port 53 of a tunnel address goes to the forwarder's own port.
        out += "\tchain dns_redirect {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        for listener in dnsListeners {
            let (family, target) = listener.address.isV4 ? ("ip", "\(listener.address):\(listener.port)") : ("ip6", "[\(listener.address)]:\(listener.port)")
            out += "\t\tiifname \(tun) \(family) daddr \(listener.address) udp dport 53 dnat \(family) to \(target)\n"
        }
        out += "\t}\n"
        out += "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
        for listener in dnsListeners {
            let family = listener.address.isV4 ? "ip" : "ip6", address = listener.address
            // Only a redirected query reaches the forwarder's port, and only from the tunnel.
            out += "\t\tiifname \(tun) \(family) daddr \(address) udp dport \(listener.port) ct status dnat accept\n"
            out += "\t\tiifname \(tun) \(family) daddr \(address) udp dport \(PaymentPort.number) accept\n"
            // DNS over TCP is not served: refuse it at once rather than let a client wait.
            out += "\t\tiifname \(tun) \(family) daddr \(address) tcp dport 53 reject with tcp reset\n"
            // The resolver and the payment port serve the tunnel only, even if the WAN routes to them.
            let ports = Set([listener.port, PaymentPort.number]).sorted().map(String.init).joined(separator: ", ")
            out += "\t\tiifname != \(tun) \(family) daddr \(address) udp dport { \(ports) } counter name blocked_host drop\n"
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

    /// One transaction that replaces the elements of `host4` and `host6` with `networks`
    /// (disjoint, as `HostNetworks` makes them): the sets are never seen half-filled.
    public static func hostSetsUpdate(_ networks: [IPPrefix], table: String) -> String {
        var out = ""
        for (name, v4) in [("host4", true), ("host6", false)] {
            out += "flush set \(table) \(name)\n"
            let elements = networks.filter { $0.address.isV4 == v4 }.map(\.network.description)
            if !elements.isEmpty { out += "add element \(table) \(name) { \(elements.joined(separator: ", ")) }\n" }
        }
        return out
    }
}
