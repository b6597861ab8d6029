import FoundationEssentials
import Glibc
import LinuxPlatform
import WireGuard

// Gateway mode: every LAN device's traffic leaves through the tunnel, fail-closed.
//
// Order matters for "never a leaking instant": the nftables kill switch is
// applied first, before the TUN device exists; policy routing and forwarding
// come after. On SIGTERM the routing and sysctls are undone but the nftables
// table stays, so the LAN stays closed while the agent restarts; only
// `warren down` (or turning the gateway off in the config) removes it.

/// What gateway mode installed, kept in the state directory so `warren down`
/// can undo it after a crash.
struct GatewayState: Codable, Equatable {
    var interface: String
    var firewallMark: UInt32
    var table: UInt32
    var ipv6Rules: Bool
    /// Values of the sysctls before the first `up` changed them.
    var sysctlOriginals: [String: String]
    /// Provider mode's nftables table was installed.
    var providerTable: Bool?
    /// Gateway mode's kill switch table was installed.
    var gatewayTable: Bool?

    static func path(stateDirectory: String, interface: String) -> String {
        "\(stateDirectory)/\(interface).gateway.json"
    }

    static func load(stateDirectory: String, interface: String) -> GatewayState? {
        guard let bytes = StateFile.read(path(stateDirectory: stateDirectory, interface: interface)) else { return nil }
        return try? JSONDecoder().decode(GatewayState.self, from: Data(bytes))
    }

    func save(stateDirectory: String) -> Bool {
        guard let data = try? JSONEncoder().encode(self) else { return false }
        return StateFile.write(GatewayState.path(stateDirectory: stateDirectory, interface: interface), Array(data))
    }
}

/// The rules of policy routing in the style of wg-quick.
enum GatewayRouting {
    static let suppressPriority: UInt32 = 32764
    static let markPriority: UInt32 = 32765

    static func families(ipv6: Bool) -> [Int32] { ipv6 ? [AF_INET, AF_INET6] : [AF_INET] }

    static func addRules(_ netlink: RouteNetlink, mark: UInt32, table: UInt32, ipv6: Bool) throws(PlatformError) {
        for family in families(ipv6: ipv6) {
            try netlink.addRule(family: family, fwmarkNot: mark, table: table, priority: markPriority, suppressPrefixLength: nil)
            try netlink.addRule(family: family, fwmarkNot: nil, table: RouteNetlink.mainTable, priority: suppressPriority, suppressPrefixLength: 0)
        }
    }

    /// Removes both rules in both families (removing an absent rule succeeds).
    static func removeRules(_ netlink: RouteNetlink, mark: UInt32, table: UInt32) {
        // Both families always: a crash may have left v6 rules even if v6 is now blocked.
        for family in [AF_INET, AF_INET6] {
            try? netlink.removeRule(family: family, fwmarkNot: mark, table: table, priority: markPriority, suppressPrefixLength: nil)
            try? netlink.removeRule(family: family, fwmarkNot: nil, table: RouteNetlink.mainTable, priority: suppressPriority, suppressPrefixLength: 0)
        }
    }
}

/// A running gateway: the parts `warren up` installs and removes.
final class Gateway: @unchecked Sendable {  // status() only reads constants; state changes before serving
    static let defaultMark: UInt32 = 51820
    static let forwardingV4 = "net.ipv4.ip_forward"
    static let forwardingV6 = "net.ipv6.conf.all.forwarding"
    static let validMark = "net.ipv4.conf.all.src_valid_mark"

    let config: GatewayConfig
    let interface: String
    let mark: UInt32
    let table: UInt32
    let tunnelIPv6: Bool
    let ruleset: GatewayRuleset
    let stateDirectory: String
    let log: EventLog
    private var state: GatewayState

    /// `preliminary`: a consumer arming the kill switch before its session says which
    /// addresses and resolver it gets; IPv6 stays blocked and DNS unredirected until then.
    init(config: GatewayConfig, tunnel: TunnelConfig, interface: String, stateDirectory: String, file: String, log: EventLog,
         preliminary: Bool = false) throws(AgentError) {
        self.config = config
        self.interface = interface
        self.stateDirectory = stateDirectory
        self.log = log
        mark = tunnel.interface.fwMark ?? Gateway.defaultMark
        if case .number(let number) = tunnel.interface.table { table = number } else { table = mark }
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
        ruleset = GatewayRuleset(tunnelInterface: interface, lanInterfaces: config.lanInterfaces, killSwitch: config.killSwitch,
                                 tunnelIPv6: tunnelIPv6, bypass: config.bypass,
                                 dnsV4: dns.first { $0.isV4 }, dnsV6: dns.first { !$0.isV4 },
                                 firewallMark: mark, mtu: tunnel.interface.mtu ?? 1420)
        // Keep the originals of an earlier run that crashed: today's values are ours.
        let previous = GatewayState.load(stateDirectory: stateDirectory, interface: interface)
        state = GatewayState(interface: interface, firewallMark: mark, table: table, ipv6Rules: tunnelIPv6,
                             sysctlOriginals: previous?.sysctlOriginals ?? [:], gatewayTable: true)
    }

    /// Step 1, before the TUN device exists: the kill switch and the persisted state.
    func armKillSwitch() throws(AgentError) {
        for key in [Gateway.forwardingV4, Gateway.forwardingV6, Gateway.validMark] where state.sysctlOriginals[key] == nil {
            if let value = Sysctl.read(key) { state.sysctlOriginals[key] = value }
        }
        guard state.save(stateDirectory: stateDirectory) else {
            throw .platform(step: "saving gateway state", PlatformError(call: "write", errno: errno,
                message: "cannot write \(GatewayState.path(stateDirectory: stateDirectory, interface: interface)): check --state-dir"))
        }
        do { try Nftables.apply(ruleset.text()) } catch { throw .platform(step: "installing nftables table inet warren", error) }
        // A copy for the boot scripts: loading it before the network comes up closes the LAN from power-on.
        _ = StateFile.write("\(stateDirectory)/\(interface).killswitch.nft", Array(ruleset.text().utf8))
        log.info("kill switch armed: nftables table inet warren for LAN \(config.lanInterfaces.joined(separator: ", "))")
    }

    /// Step 2, once the TUN device is up: policy routing and forwarding.
    func routeThroughTunnel(_ netlink: RouteNetlink) throws(AgentError) {
        do { try GatewayRouting.addRules(netlink, mark: mark, table: table, ipv6: tunnelIPv6) } catch {
            throw .platform(step: "adding policy routing rules (fwmark \(mark), table \(table))", error)
        }
        do {
            try Sysctl.write(Gateway.validMark, "1")
            try Sysctl.write(Gateway.forwardingV4, "1")
            if tunnelIPv6 { try Sysctl.write(Gateway.forwardingV6, "1") }
        } catch {
            throw .platform(step: "enabling forwarding", error)
        }
    }

    /// On SIGTERM: routing and sysctls go, the kill switch stays.
    func stopRouting(_ netlink: RouteNetlink) {
        GatewayRouting.removeRules(netlink, mark: mark, table: table)
        Gateway.restoreSysctls(state.sysctlOriginals, log: log)
    }

    static func restoreSysctls(_ originals: [String: String], log: EventLog?) {
        for (key, value) in originals.sorted(by: { $0.key < $1.key }) {
            do { try Sysctl.write(key, value) } catch { log?.warning("restoring \(key)=\(value): \(error)") }
        }
    }

    /// Everything gone: what `warren down` does, with or without a running agent.
    /// Returns a line per thing removed.
    /// `killSwitch` false keeps the gateway table (a plain stop of a non-gateway agent must
    /// never open another agent's LAN).
    static func removeEverything(stateDirectory: String, interface: String, netlink: RouteNetlink?, killSwitch: Bool = true) -> [String] {
        var removed: [String] = []
        let state = GatewayState.load(stateDirectory: stateDirectory, interface: interface)
        if killSwitch, (try? Nftables.tableExists(GatewayRuleset.table)) == true {
            do {
                try Nftables.deleteTable(GatewayRuleset.table)
                removed.append("nftables table \(GatewayRuleset.table)")
            } catch {
                removed.append("FAILED to remove nftables table \(GatewayRuleset.table): \(error)")
            }
        }
        if state?.providerTable == true, (try? Nftables.tableExists(ProviderRuleset.table)) == true {
            try? Nftables.deleteTable(ProviderRuleset.table)
            removed.append("nftables table \(ProviderRuleset.table)")
        }
        if let netlink, state == nil || state?.firewallMark != 0 {
            let mark = state?.firewallMark ?? defaultMark
            let table = state?.table ?? mark
            GatewayRouting.removeRules(netlink, mark: mark, table: table)
            // Only claim it when this interface had installed them.
            if state != nil { removed.append("policy routing rules for fwmark \(mark), table \(table)") }
        }
        if let state {
            restoreSysctls(state.sysctlOriginals, log: nil)
            if !state.sysctlOriginals.isEmpty {
                removed.append("forwarding settings: restored " + state.sysctlOriginals.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
            }
        }
        StateFile.remove(GatewayState.path(stateDirectory: stateDirectory, interface: interface))
        StateFile.remove("\(stateDirectory)/\(interface).killswitch.nft")
        return removed
    }

    func status() -> GatewayStatus {
        GatewayStatus(
            lan: config.lanInterfaces, killSwitch: config.killSwitch,
            killSwitchArmed: config.killSwitch && ((try? Nftables.tableExists(GatewayRuleset.table)) ?? false),
            bypass: config.bypass.map(\.description),
            dns: [ruleset.dnsV4, ruleset.dnsV6].compactMap { $0?.description },
            ipv6: tunnelIPv6 ? "tunnel" : "block",
            killSwitchDropped: Gateway.counter(GatewayRuleset.killSwitchCounter),
            ipv6Blocked: Gateway.counter(GatewayRuleset.ipv6Counter),
            firewallMark: mark, table: table)
    }

    /// Packets counted by a named counter of the table, 0 if it cannot be read.
    static func counter(_ name: String) -> UInt64 {
        guard let json = try? Nftables.listJSON(["counter"] + GatewayRuleset.table.split(separator: " ").map(String.init) + [name]),
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
}
