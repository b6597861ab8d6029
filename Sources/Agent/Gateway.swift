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

/// One interface's policy routing: its firewall mark, routing table and rule priorities.
struct PolicyRouting: Equatable, Sendable {
    var mark: UInt32
    var table: UInt32
    /// The "not fwmark" rule's priority; the suppress rule takes the one before.
    var priority: UInt32
    /// A gateway's per-LAN rules' priority (the suppress rule one before, the rule that sends
    /// marked packets to main two before), in a band ahead of every interface's catch-all rules.
    var lanPriority: UInt32

    /// Every priority this interface's rules may use.
    var priorities: [UInt32] { [priority - 1, priority, lanPriority - 2, lanPriority - 1, lanPriority] }
}

/// The rules of policy routing in the style of wg-quick, per interface: each interface has its
/// own mark, table and priorities, so two never share (or remove) a rule.
///
/// Every interface routed by policy has wg-quick's pair (`lookup main suppress_prefixlength 0`,
/// then `not fwmark M lookup T`) for the host's own traffic; as with wg-quick, the newest such
/// interface comes first. A gateway also has, in an earlier band, the same pair limited to
/// packets arriving from its LANs (`iif LAN lookup T`, after `fwmark M lookup main` for the
/// bypassed devices, since the kernel's "not" negates a whole rule), so each LAN keeps its own
/// tunnel whichever interface started last.
enum GatewayRouting {
    static let firstMarkPriority: UInt32 = 32765
    static let firstLANPriority: UInt32 = 32699

    /// The catch-all pair.
    static func rules(mark: UInt32, table: UInt32, priority: UInt32, ipv6: Bool) -> [PolicyRule] {
        (ipv6 ? [false, true] : [false]).flatMap { v6 in
            [PolicyRule(ipv6: v6, fwmarkNot: mark, table: table, priority: priority, suppressPrefixLength: nil),
             PolicyRule(ipv6: v6, fwmarkNot: nil, table: RouteNetlink.mainTable, priority: priority - 1, suppressPrefixLength: 0)]
        }
    }

    /// Packets that carry this interface's mark (its own UDP socket, bypassed LAN devices) go
    /// to main, ahead of every interface's catch-all: otherwise another interface's
    /// "not fwmark" rule would take them into its tunnel.
    static func markRule(_ routing: PolicyRouting, ipv6: Bool) -> [PolicyRule] {
        (ipv6 ? [false, true] : [false]).map { v6 in
            PolicyRule(ipv6: v6, fwmarkNot: nil, table: RouteNetlink.mainTable, priority: routing.lanPriority - 2, fwmark: routing.mark)
        }
    }

    /// A gateway's LAN rules: the suppress rule, then one rule per LAN.
    static func lanRules(_ routing: PolicyRouting, lans: [String], ipv6: Bool) -> [PolicyRule] {
        (ipv6 ? [false, true] : [false]).flatMap { v6 in
            [PolicyRule(ipv6: v6, fwmarkNot: nil, table: RouteNetlink.mainTable, priority: routing.lanPriority - 1, suppressPrefixLength: 0)]
                + lans.map { PolicyRule(ipv6: v6, fwmarkNot: nil, table: routing.table, priority: routing.lanPriority, inputInterface: $0) }
        }
    }

    /// Every rule of an interface routed by policy: the mark rule, a gateway's LAN rules, the catch-all pair.
    static func allRules(_ routing: PolicyRouting, lans: [String], ipv6: Bool) -> [PolicyRule] {
        markRule(routing, ipv6: ipv6) + lanRules(routing, lans: lans, ipv6: ipv6)
            + rules(mark: routing.mark, table: routing.table, priority: routing.priority, ipv6: ipv6)
    }

    /// Picks this interface's mark, table and rule priorities beside the interfaces in `others`
    /// and the rules the kernel has now (`installed`: anyone's, so agents with other state
    /// directories and other programs such as wg-quick are never shared with): the configured
    /// FwMark/Table when given (refused if that table is in use), otherwise the first free
    /// value from 51820 up, as wg-quick does.
    static func choose(mark requestedMark: UInt32?, table requestedTable: UInt32?, others: [HostChanges], installed: [InstalledRule] = [],
                       file: String) throws(AgentError) -> PolicyRouting {
        let reserved: Set<UInt32> = [0, 253, 254, 255]    // unspec, default, main, local
        let usedTables = Set(others.compactMap(\.routingTable) + installed.map(\.table).filter { !reserved.contains($0) })
        let usedMarks = Set(others.compactMap(\.firewallMark) + installed.map(\.mark).filter { $0 != 0 })
        let usedPriorities = Set(others.flatMap { $0.rules.map(\.priority) + ($0.reservedPriorities ?? []) } + installed.map(\.priority))
        if let requestedTable, let owner = others.first(where: { $0.routingTable == requestedTable }) {
            throw .config(ConfigError(file: file, line: nil, key: "Table",
                message: "routing table \(requestedTable) is used by warren interface \(owner.interface): give this config another Table"))
        }
        if let requestedTable, usedTables.contains(requestedTable) {
            // The host's state, not the config, may change: a platform error (the unit retries).
            throw .platform(step: "choosing routing table \(requestedTable)", PlatformError(call: "ip rule", errno: EEXIST,
                message: "a policy routing rule (ip rule) already looks up table \(requestedTable): remove it, or give this config another Table"))
        }
        var mark = requestedMark ?? Gateway.defaultMark
        if requestedMark == nil {
            while usedMarks.contains(mark) || usedTables.contains(mark) { mark &+= 1 }
        }
        var table = requestedTable ?? mark
        if requestedTable == nil, usedTables.contains(table) {
            table = Gateway.defaultMark
            while usedTables.contains(table) || usedMarks.contains(table) { table &+= 1 }
        }
        // A free run of `width` priorities ending at the returned one, stepping down.
        func freeRun(from first: UInt32, width: UInt32, floor: UInt32) throws(AgentError) -> UInt32 {
            var priority = first
            while (0..<width).contains(where: { usedPriorities.contains(priority - $0) }) {
                guard priority > floor + width else {
                    throw .platform(step: "choosing policy routing priorities", PlatformError(call: "ip rule", errno: ENOSPC,
                        message: "too many warren interfaces route by policy: stop one first"))
                }
                priority -= width
            }
            return priority
        }
        return PolicyRouting(mark: mark, table: table, priority: try freeRun(from: firstMarkPriority, width: 2, floor: firstLANPriority),
                             lanPriority: try freeRun(from: firstLANPriority, width: 3, floor: 30000))
    }
}

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
