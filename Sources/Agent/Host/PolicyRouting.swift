import Configuration
import Glibc
import LinuxPlatform
import WireGuard

// Policy routing for every interface that routes more than its peers (a gateway, a full
// tunnel, a consumer): each gets its own mark, table and rule priorities, chosen around the
// kernel's existing rules and the other interfaces' journals.

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
