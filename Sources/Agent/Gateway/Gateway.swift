import Policy
import Configuration
import FoundationEssentials
import Glibc
import LinuxPlatform
import WireGuard

// Gateway mode: every LAN device's traffic leaves through the tunnel, fail-closed.
//
// Order matters for "never a leaking instant": the nftables kill switch is
// applied first, before the TUN device exists; policy routing and forwarding
// come after. On SIGTERM (and after a failed start) the routing and sysctls are
// undone but the nftables table stays, so the LAN stays closed while the agent
// restarts; only `warren down` (or turning the gateway off in the config) removes it.
// Everything is per interface: table `inet warren_NAME`, its own mark, routing
// table and rule priorities, recorded in `NAME.changes.json` (HostJournal).

/// A running gateway: the parts `warren up` installs; `HostJournal` records and undoes them.
final class Gateway: @unchecked Sendable {  // status() only reads constants; state changes before serving
    static let defaultMark: UInt32 = 51820
    static let forwardingV4 = "net.ipv4.ip_forward"
    static let forwardingV6 = "net.ipv6.conf.all.forwarding"
    static let validMark = "net.ipv4.conf.all.src_valid_mark"

    let config: GatewayConfig
    let interface: String
    let routing: PolicyRouting
    var mark: UInt32 { routing.mark }
    var table: UInt32 { routing.table }
    let tunnelIPv6: Bool
    let ruleset: GatewayRuleset
    let stateDirectory: String
    let log: EventLog

    /// The copy of the kill switch that the boot scripts load before the network comes up.
    static func bootCopyPath(stateDirectory: String, interface: String) -> String {
        "\(stateDirectory)/\(interface).killswitch.nft"
    }

    /// `preliminary`: a consumer arming the kill switch before its session says which
    /// addresses and resolver it gets; IPv6 stays blocked and DNS unredirected until then.
    init(config: GatewayConfig, tunnel: TunnelConfig, interface: InterfaceName, routing: PolicyRouting,
         stateDirectory: String, file: String, log: EventLog, preliminary: Bool = false) throws(AgentError) {
        self.config = config
        self.interface = interface.text
        self.stateDirectory = stateDirectory
        self.log = log
        self.routing = routing
        let hasIPv6Address = tunnel.interface.addresses.contains { !$0.address.isV4 }
        switch preliminary ? .block : config.ipv6 {
        case .tunnel?:
            guard hasIPv6Address else {
                throw .config(ConfigError(file: file, line: config.line, key: "IPv6",
                                          message: "IPv6 = tunnel needs an IPv6 Address in [Interface] (the exit must give the tunnel one); or set IPv6 = block"))
            }
            tunnelIPv6 = true
        case .block?: tunnelIPv6 = false
        case nil: tunnelIPv6 = hasIPv6Address
        }
        let dns = preliminary ? [] : tunnel.interface.dns.compactMap { IPAddress(parsing: $0) }
        ruleset = GatewayRuleset(table: GatewayRuleset.tableName(for: interface), tunnelInterface: interface.text,
                                 lanInterfaces: config.lanInterfaces, killSwitch: config.killSwitch,
                                 tunnelIPv6: tunnelIPv6, bypass: config.bypass,
                                 dnsV4: dns.first { $0.isV4 }, dnsV6: dns.first { !$0.isV4 },
                                 firewallMark: routing.mark, mtu: tunnel.interface.mtu ?? 1420)
    }

    /// Step 1, before the TUN device exists: the kill switch, recorded first.
    func armKillSwitch(journal: HostJournal) throws(AgentError) {
        try journal.recordTable(ruleset.table, killSwitch: config.killSwitch)
        do { try Nftables.apply(ruleset.text()) } catch { throw .platform(step: "installing nftables table \(ruleset.table)", error) }
        // A copy for the boot scripts: loading it before the network comes up closes the LAN from power-on.
        if config.killSwitch {
            _ = StateFile.write(Gateway.bootCopyPath(stateDirectory: stateDirectory, interface: interface), Array(ruleset.text().utf8))
        }
        log.info("kill switch armed: nftables table \(ruleset.table) for LAN \(config.lanInterfaces.joined(separator: ", "))")
    }

    /// Step 2, once the TUN device is up: policy routing and forwarding.
    func routeThroughTunnel(_ netlink: RouteNetlink, journal: HostJournal) throws(AgentError) {
        for rule in GatewayRouting.allRules(routing, lans: config.lanInterfaces, ipv6: tunnelIPv6) {
            try journal.addRule(rule, netlink: netlink)
        }
        try journal.setSysctl(Gateway.validMark, "1")
        try journal.setSysctl(Gateway.forwardingV4, "1")
        if tunnelIPv6 { try journal.setSysctl(Gateway.forwardingV6, "1") }
    }

    func status() -> GatewayStatus {
        GatewayStatus(
            lan: config.lanInterfaces, killSwitch: config.killSwitch,
            killSwitchArmed: config.killSwitch && ((try? Nftables.tableExists(ruleset.table)) ?? false),
            bypass: config.bypass.map(\.description),
            dns: [ruleset.dnsV4, ruleset.dnsV6].compactMap { $0?.description },
            ipv6: tunnelIPv6 ? "tunnel" : "block",
            killSwitchDropped: Gateway.counter(GatewayRuleset.killSwitchCounter, table: ruleset.table),
            ipv6Blocked: Gateway.counter(GatewayRuleset.ipv6Counter, table: ruleset.table),
            firewallMark: mark, table: table, nftTable: ruleset.table)
    }

    /// Packets counted by a named counter of `table`, 0 if it cannot be read.
    static func counter(_ name: String, table: String) -> UInt64 {
        guard let json = try? Nftables.listJSON(["counter"] + table.split(separator: " ").map(String.init) + [name]),
              let range = json.firstRange(of: "\"packets\":") else { return 0 }
        let digits = json[range.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }
        return UInt64(digits) ?? 0
    }
}

public struct GatewayStatus: Codable, Sendable, Equatable {
    public var lan: [String]
    public var killSwitch: Bool
    public var killSwitchArmed: Bool
    public var bypass: [String]
    public var dns: [String]
    public var ipv6: String
    public var killSwitchDropped: UInt64
    public var ipv6Blocked: UInt64
    public var firewallMark: UInt32
    public var table: UInt32
    /// The interface's own nftables table, e.g. "inet warren_wg0".
    public var nftTable: String?
}
