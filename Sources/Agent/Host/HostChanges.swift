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
    /// The rule priorities this interface chose, recorded before its rules exist so that an
    /// agent starting at the same moment picks others.
    var reservedPriorities: [UInt32]?
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
        let names = (try? DirectoryEntries.names(stateDirectory)) ?? []
        return names.compactMap { name -> HostChanges? in
            guard name.hasSuffix(suffix) else { return nil }
            let interface = String(name.dropLast(suffix.count))
            return InterfaceName.isValid(interface) ? load(stateDirectory: stateDirectory, interface: interface) : nil
        }
    }
}

/// What an `undo` did: each thing removed or restored, and each it could not (which stays in
/// the journal for the next try).
struct Undone: Sendable {
    var removed: [String]
    var failed: [String]

    /// One line per thing, for a log.
    var lines: [String] { removed + failed.map { "FAILED: " + $0 } }
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
            throw .platform(step: "recording host changes", PlatformError(call: "write", errno: 0,
                message: "cannot write \(path): the state directory must be writable (check --state-dir and free space)"))
        }
    }

    func recordTable(_ table: String, killSwitch: Bool = false) throws(AgentError) {
        if !changes.nftTables.contains(table) { changes.nftTables.append(table) }
        if killSwitch { changes.killSwitchTable = table }
        try save()
    }

    /// Chooses this interface's policy routing beside every other interface and the kernel's
    /// rules, and records it before any rule exists, all under the host lock (two agents
    /// starting at once never pick the same table or priorities).
    func chooseRouting(mark: UInt32?, table: UInt32?, installed: () -> [InstalledRule], file: String) throws(AgentError) -> PolicyRouting {
        try HostLock.holding { () throws(AgentError) -> PolicyRouting in
            let routing = try GatewayRouting.choose(mark: mark, table: table, others: others(), installed: installed(), file: file)
            changes.firewallMark = routing.mark
            changes.routingTable = routing.table
            changes.reservedPriorities = routing.priorities
            try save()
            return routing
        }
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
        // Our own leftovers were undone before this start, so a rule that was there already is
        // someone else's: it stays theirs, whatever we planned.
        if !created {
            changes.rules.removeAll { $0 == rule }
            try save()
        }
    }

    /// Sets `key` to `value`, remembering the value it had before warren touched it.
    func setSysctl(_ key: String, _ value: String) throws(AgentError) {
        try HostLock.holding { () throws(AgentError) in try setSysctlLocked(key, value) }
    }

    private func setSysctlLocked(_ key: String, _ value: String) throws(AgentError) {
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
    func undo(keepKillSwitch: Bool, netlink: RouteNetlink?) -> Undone {
        // Under the host lock, so a sysctl is never restored while another agent inherits it.
        let lock = try? InstanceLock.acquire(HostLock.path, waitingUpTo: HostLock.waitSeconds)
        defer { lock?.release() }
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
                failed.append("nftables table \(table): \(error)")
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
                        failed.append("policy routing rule \(rule.text): \(error)")
                    }
                }
            } else {
                failed.append("\(changes.rules.count) policy routing rule(s): netlink is unavailable")
            }
        }
        // A sysctl another interface still relies on stays: that one restores it when it goes.
        let stillNeeded = Set(others().flatMap { $0.sysctlOriginals.keys })
        var restored: [String] = []
        for (key, value) in changes.sysctlOriginals.sorted(by: { $0.key < $1.key }) {
            if !stillNeeded.contains(key) {
                do { try Sysctl.write(key, value) } catch {
                    failed.append("restoring \(key)=\(value): \(error)")
                    continue
                }
                restored.append("\(key)=\(value)")
            }
            changes.sysctlOriginals[key] = nil
        }
        if !restored.isEmpty { done.append("forwarding settings: restored " + restored.joined(separator: ", ")) }
        if changes.isEmpty && failed.isEmpty {
            StateFile.remove(path)
            changes = HostChanges(interface: interface, networkNamespace: NetworkNamespace.current())
        } else {
            if changes.rules.isEmpty {
                changes.firewallMark = nil
                changes.routingTable = nil
                changes.reservedPriorities = nil
            }
            _ = try? save()
        }
        return Undone(removed: done, failed: failed)
    }
}

/// The state file of warren before the journal (`NAME.gateway.json`, shared table names), read
/// once so that `warren down` after an upgrade still removes what an old agent left.
struct LegacyGatewayState: Codable {
    static let suffix = ".gateway.json"

    var firewallMark: UInt32
    var table: UInt32
    var sysctlOriginals: [String: String]
    var providerTable: Bool?
    var gatewayTable: Bool?

    static func migrate(stateDirectory: String, interface: String) -> HostChanges? {
        let path = "\(stateDirectory)/\(interface)\(suffix)"
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

/// One lock for the whole host, held for the short steps where agents must not interleave:
/// choosing marks, tables and priorities, and setting or restoring a shared sysctl.
enum HostLock {
    static let path = AgentOptions.defaultRunDirectory + "/host.flock"
    static let waitSeconds = 10

    static func holding<T>(_ body: () throws(AgentError) -> T) throws(AgentError) -> T {
        let lock: InstanceLock?
        do {
            try RunDirectory.create(AgentOptions.defaultRunDirectory)
            lock = try InstanceLock.acquire(path, waitingUpTo: waitSeconds)
        } catch let error as AgentError {
            throw error
        } catch {
            throw .platform(step: "locking \(path)", error as? PlatformError ?? PlatformError(call: "flock", errno: 0, message: "\(error)"))
        }
        guard let lock else {
            throw .platform(step: "locking \(path)", PlatformError(call: "flock", errno: EWOULDBLOCK,
                message: "another warren agent held the host lock for \(waitSeconds) s: check for a hung agent (fuser \(path))"))
        }
        defer { lock.release() }
        return try body()
    }
}
