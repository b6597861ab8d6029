import FoundationEssentials
import Glibc
import LinuxPlatform

// Every change `warren up` makes to the host beyond its own TUN device (whose addresses and
// routes go with it) is written here *before* it is made: nftables tables, policy routing rules,
// sysctls. A failed start, the clean stop and `warren down` after a crash all undo exactly what
// one interface's journal records, so no command ever removes what another interface, another
// program or a live agent owns.

/// One policy routing rule as `GatewayRouting` adds it.
struct PolicyRule: Codable, Hashable, Sendable {
    var ipv6: Bool
    var fwmarkNot: UInt32?
    var table: UInt32
    var priority: UInt32
    var suppressPrefixLength: Int?
    /// Only packets that arrive on this interface (a gateway's LAN).
    var inputInterface: String?
    /// Only packets that carry this mark.
    var fwmark: UInt32?

    var family: Int32 { ipv6 ? AF_INET6 : AF_INET }

    var text: String {
        RouteNetlink.ruleText(family: family, fwmarkNot: fwmarkNot, table: table, priority: priority,
                              suppressPrefixLength: suppressPrefixLength, inputInterface: inputInterface, fwmark: fwmark)
    }
}

/// What one interface changed on the host, as persisted (`NAME.changes.json`).
struct HostChanges: Codable, Equatable, Sendable {
    var interface: String
    /// nftables tables this interface created, e.g. "inet warren_wg0".
    var nftTables: [String] = []
    /// The gateway's kill switch table, also in `nftTables`: it outlives a plain stop.
    var killSwitchTable: String?
    var rules: [PolicyRule] = []
    /// Values of the sysctls before warren changed them (inherited from another interface that
    /// changed the same key first, so the last one to stop restores the true original).
    var sysctlOriginals: [String: String] = [:]
    /// The firewall mark and routing table this interface uses, so a second interface picks others.
    var firewallMark: UInt32?
    var routingTable: UInt32?
    /// The network namespace the changes were made in (`NetworkNamespace.current`).
    var networkNamespace: UInt64?

    var isEmpty: Bool { nftTables.isEmpty && rules.isEmpty && sysctlOriginals.isEmpty }

    static let suffix = ".changes.json"

    static func path(stateDirectory: String, interface: String) -> String {
        "\(stateDirectory)/\(interface)\(suffix)"
    }

    static func load(stateDirectory: String, interface: String) -> HostChanges? {
        guard let bytes = StateFile.read(path(stateDirectory: stateDirectory, interface: interface)) else { return nil }
        return try? JSONDecoder().decode(HostChanges.self, from: Data(bytes))
    }

    /// Every interface's journal in the state directory.
    static func all(stateDirectory: String) -> [HostChanges] {
        guard let directory = opendir(stateDirectory) else { return [] }
        defer { closedir(directory) }
        var out: [HostChanges] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(suffix) else { continue }
            let interface = String(name.dropLast(suffix.count))
            if InterfaceName.isValid(interface), let changes = load(stateDirectory: stateDirectory, interface: interface) {
                out.append(changes)
            }
        }
        return out.sorted { $0.interface < $1.interface }
    }
}

/// The one writer of an interface's `HostChanges`.
final class HostJournal: @unchecked Sendable {  // used by the main thread only
    let stateDirectory: String
    let interface: String
    private(set) var changes: HostChanges

    init(stateDirectory: String, interface: String) {
        self.stateDirectory = stateDirectory
        self.interface = interface
        changes = HostChanges.load(stateDirectory: stateDirectory, interface: interface)
            ?? LegacyGatewayState.migrate(stateDirectory: stateDirectory, interface: interface)
            ?? HostChanges(interface: interface)
        if changes.networkNamespace == nil { changes.networkNamespace = NetworkNamespace.current() }
    }

    var path: String { HostChanges.path(stateDirectory: stateDirectory, interface: interface) }

    /// The journals of every other interface in this network namespace: those in this state
    /// directory and those of running agents that keep theirs elsewhere (their lock says where).
    func others(runDirectory: String = AgentOptions.defaultRunDirectory) -> [HostChanges] {
        var directories = [stateDirectory]
        for agent in RunningAgents.described(runDirectory: runDirectory)
        where agent.networkNamespace == changes.networkNamespace && !directories.contains(agent.stateDirectory) {
            directories.append(agent.stateDirectory)
        }
        return directories.flatMap { HostChanges.all(stateDirectory: $0) }.filter {
            $0.interface != interface && ($0.networkNamespace == nil || $0.networkNamespace == changes.networkNamespace)
        }
    }

    private func save() throws(AgentError) {
        guard let data = try? JSONEncoder().encode(changes), StateFile.write(path, Array(data)) else {
            throw .platform(step: "recording host changes", PlatformError(call: "write", errno: errno,
                message: "cannot write \(path): the state directory must be writable (check --state-dir and free space)"))
        }
    }

    func recordTable(_ table: String, killSwitch: Bool = false) throws(AgentError) {
        if !changes.nftTables.contains(table) { changes.nftTables.append(table) }
        if killSwitch { changes.killSwitchTable = table }
        try save()
    }

    func recordRouting(mark: UInt32, table: UInt32) throws(AgentError) {
        changes.firewallMark = mark
        changes.routingTable = table
        try save()
    }

    /// Adds `rule` and keeps it in the journal only if this call created it: a rule that was
    /// already there belongs to whoever put it there.
    func addRule(_ rule: PolicyRule, netlink: RouteNetlink) throws(AgentError) {
        let known = changes.rules.contains(rule)
        if !known {
            changes.rules.append(rule)
            try save()
        }
        let created: Bool
        do {
            created = try netlink.addRule(family: rule.family, fwmarkNot: rule.fwmarkNot, table: rule.table,
                                          priority: rule.priority, suppressPrefixLength: rule.suppressPrefixLength,
                                          inputInterface: rule.inputInterface, fwmark: rule.fwmark)
        } catch {
            throw .platform(step: "adding policy routing rule \(rule.text)", error)
        }
        if !created && !known {
            changes.rules.removeAll { $0 == rule }
            try save()
        }
    }

    /// Sets `key` to `value`, remembering the value it had before warren touched it.
    func setSysctl(_ key: String, _ value: String) throws(AgentError) {
        if changes.sysctlOriginals[key] == nil {
            let inherited = others().lazy.compactMap { $0.sysctlOriginals[key] }.first
            guard let original = inherited ?? Sysctl.read(key) else {
                throw .platform(step: "setting \(key)", PlatformError(call: "sysctl", errno: ENOENT,
                    message: "the kernel has no setting \(key) in this network namespace"))
            }
            changes.sysctlOriginals[key] = original
            try save()
        }
        do { try Sysctl.write(key, value) } catch { throw .platform(step: "setting \(key)=\(value)", error) }
    }

    /// Undoes what the journal records, newest first, and returns a line per thing undone.
    /// `keepKillSwitch` leaves the gateway's kill switch table (and its boot copy) in place: a
    /// plain stop or a failed start keeps the LAN closed until `warren down`.
    @discardableResult
    func undo(keepKillSwitch: Bool, netlink: RouteNetlink?) -> [String] {
        var done: [String] = []
        var failed: [String] = []
        for table in changes.nftTables.reversed() where !(keepKillSwitch && table == changes.killSwitchTable) {
            do {
                if try Nftables.tableExists(table) {
                    try Nftables.deleteTable(table)
                    done.append("nftables table \(table)")
                }
                changes.nftTables.removeAll { $0 == table }
                if changes.killSwitchTable == table {
                    changes.killSwitchTable = nil
                    StateFile.remove(Gateway.bootCopyPath(stateDirectory: stateDirectory, interface: interface))
                }
            } catch {
                failed.append("FAILED to remove nftables table \(table): \(error)")
            }
        }
        if !changes.rules.isEmpty {
            if let netlink {
                for rule in changes.rules.reversed() {
                    do {
                        try netlink.removeRule(family: rule.family, fwmarkNot: rule.fwmarkNot, table: rule.table,
                                               priority: rule.priority, suppressPrefixLength: rule.suppressPrefixLength,
                                               inputInterface: rule.inputInterface, fwmark: rule.fwmark)
                        done.append("policy routing rule \(rule.text)")
                        changes.rules.removeAll { $0 == rule }
                    } catch {
                        failed.append("FAILED to remove policy routing rule \(rule.text): \(error)")
                    }
                }
            } else {
                failed.append("FAILED to remove \(changes.rules.count) policy routing rule(s): netlink is unavailable")
            }
        }
        // A sysctl another interface still relies on stays: that one restores it when it goes.
        let stillNeeded = Set(others().flatMap { $0.sysctlOriginals.keys })
        var restored: [String] = []
        for (key, value) in changes.sysctlOriginals.sorted(by: { $0.key < $1.key }) {
            if !stillNeeded.contains(key) {
                do { try Sysctl.write(key, value) } catch {
                    failed.append("FAILED to restore \(key)=\(value): \(error)")
                    continue
                }
                restored.append("\(key)=\(value)")
            }
            changes.sysctlOriginals[key] = nil
        }
        if !restored.isEmpty { done.append("forwarding settings: restored " + restored.joined(separator: ", ")) }
        if changes.nftTables.isEmpty && changes.rules.isEmpty && changes.sysctlOriginals.isEmpty && failed.isEmpty {
            StateFile.remove(path)
            changes = HostChanges(interface: interface, networkNamespace: NetworkNamespace.current())
        } else {
            changes.firewallMark = changes.rules.isEmpty ? nil : changes.firewallMark
            changes.routingTable = changes.rules.isEmpty ? nil : changes.routingTable
            _ = try? save()
        }
        return done + failed
    }
}

/// The state file of warren before the journal (`NAME.gateway.json`, shared table names), read
/// once so that `warren down` after an upgrade still removes what an old agent left.
struct LegacyGatewayState: Codable {
    var firewallMark: UInt32
    var table: UInt32
    var sysctlOriginals: [String: String]
    var providerTable: Bool?
    var gatewayTable: Bool?

    static func migrate(stateDirectory: String, interface: String) -> HostChanges? {
        let path = "\(stateDirectory)/\(interface).gateway.json"
        guard let bytes = StateFile.read(path), let old = try? JSONDecoder().decode(LegacyGatewayState.self, from: Data(bytes)) else {
            return nil
        }
        var changes = HostChanges(interface: interface, networkNamespace: NetworkNamespace.current())
        if old.gatewayTable == true {
            changes.nftTables.append("inet warren")
            changes.killSwitchTable = "inet warren"
        }
        if old.providerTable == true { changes.nftTables.append("inet warren_provider") }
        if old.firewallMark != 0 {
            changes.firewallMark = old.firewallMark
            changes.routingTable = old.table
            changes.rules = GatewayRouting.rules(mark: old.firewallMark, table: old.table,
                                                 priority: GatewayRouting.firstMarkPriority, ipv6: true)
        }
        changes.sysctlOriginals = old.sysctlOriginals
        guard let data = try? JSONEncoder().encode(changes),
              StateFile.write(HostChanges.path(stateDirectory: stateDirectory, interface: interface), Array(data)) else { return nil }
        StateFile.remove(path)
        return changes
    }
}
