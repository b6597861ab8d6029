import Glibc
import LinuxPlatform

/// The agents of this host, as their locks and journals show them.
public enum RunningAgents {
    /// Interfaces whose agent is alive (its lock in the run directory is held), sorted.
    public static func names(runDirectory: String = AgentOptions.defaultRunDirectory) -> [String] {
        guard let directory = opendir(runDirectory) else { return [] }
        defer { closedir(directory) }
        var out: [String] = []
        while let entry = readdir(directory) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard file.hasSuffix(".lock") else { continue }
            let name = String(file.dropLast(5))
            if InterfaceName.isValid(name), InstanceLock.holder("\(runDirectory)/\(file)") != nil { out.append(name) }
        }
        return out.sorted()
    }

    /// A running agent as its lock describes it.
    public struct Described: Sendable {
        public var interface: String
        public var pid: Int32
        public var networkNamespace: UInt64?
        public var stateDirectory: String
    }

    /// What `TunnelAgent` writes into its lock: where its journal lives and in which namespace.
    static func lockNote(stateDirectory: String) -> String {
        var absolute = stateDirectory
        if let resolved = realpath(stateDirectory, nil) {
            absolute = String(cString: resolved)
            free(resolved)
        }
        return "netns=\(NetworkNamespace.current().map(String.init) ?? "") state=\(absolute)"
    }

    /// Every running agent whose lock carries a note.
    public static func described(runDirectory: String = AgentOptions.defaultRunDirectory) -> [Described] {
        names(runDirectory: runDirectory).compactMap { name in
            guard let (pid, note) = InstanceLock.holderAndNote(AgentOptions.lockPath(runDirectory: runDirectory, interface: name)),
                  let netnsRange = note.firstRange(of: "netns="), let stateRange = note.firstRange(of: " state=") else { return nil }
            let netns = UInt64(note[netnsRange.upperBound..<stateRange.lowerBound])
            return Described(interface: name, pid: pid, networkNamespace: netns, stateDirectory: String(note[stateRange.upperBound...]))
        }
    }

    /// The running agents of this network namespace (as `wg show` lists its interfaces).
    public static func inThisNamespace(runDirectory: String = AgentOptions.defaultRunDirectory) -> [String] {
        let here = NetworkNamespace.current()
        let described = described(runDirectory: runDirectory)
        return names(runDirectory: runDirectory).filter { name in
            guard let agent = described.first(where: { $0.interface == name }), let netns = agent.networkNamespace else { return true }
            return netns == here
        }
    }

    /// Interfaces that left host changes in `stateDirectory` (a crash, or an armed kill switch).
    public static func leftovers(stateDirectory: String) -> [String] {
        HostChanges.all(stateDirectory: stateDirectory).map(\.interface)
    }

    /// The interface a command without --interface means: the only running agent. Never a guess:
    /// none or several is an error that lists them.
    public static func only(command: String, runDirectory: String = AgentOptions.defaultRunDirectory) throws(AgentError) -> InterfaceName {
        let running = inThisNamespace(runDirectory: runDirectory)
        switch running.count {
        case 1: return try InterfaceName(running[0])
        case 0: throw .usage("no warren agent is running: nothing for `warren \(command)` to act on (give --interface NAME for one that crashed)")
        default: throw .usage("\(running.count) warren agents are running (\(running.joined(separator: ", "))): say which with `warren \(command) --interface NAME`")
        }
    }
}

/// `warren down`: stop the interface's agent if it runs, then undo what its journal records
/// (the kill switch, rules, sysctls), also after a crash. Nothing another interface owns is touched.
public enum Down {
    public struct Result: Sendable {
        public var stoppedAgent: Bool
        public var removed: [String]
        public var failed: Bool { removed.contains { $0.hasPrefix("FAILED") } }
    }

    public static func run(interface name: InterfaceName, stateDirectory: String,
                           runDirectory: String = AgentOptions.defaultRunDirectory) throws(AgentError) -> Result {
        guard ProcessPrivilege.hasEffective(ProcessPrivilege.netAdmin) else {
            throw .privilege("warren down needs CAP_NET_ADMIN to remove nftables tables, rules and routes: run it as root (sudo warren down --interface \(name))")
        }
        let interface = name.text
        let socketPath = AgentOptions.controlSocketPath(runDirectory: runDirectory, interface: interface)
        let lockPath = AgentOptions.lockPath(runDirectory: runDirectory, interface: interface)
        var stopped = false
        do {
            _ = try ControlSocketClient.request(path: socketPath, line: "down", timeoutSeconds: 5)
            stopped = true
            // The agent undoes everything itself, then lets go of its lock; wait for that (bounded).
            for _ in 0..<150 where InstanceLock.holder(lockPath) != nil { usleep(100_000) }
        } catch {
            if error.errno == EACCES || error.errno == EPERM {
                throw .privilege("warren down cannot reach the agent of \(interface) at \(socketPath): the control socket is root-only, run as root")
            }
        }
        if let pid = InstanceLock.holder(lockPath) {
            throw .usage(stopped
                ? "the agent of \(interface) (pid \(pid)) was asked to stop but is still running after 15 s: check its log, or stop it with `kill \(pid)`, then run `warren down --interface \(interface)` again"
                : "the agent of \(interface) (pid \(pid)) is running but does not answer on \(socketPath): stop it first (`kill \(pid)` or `systemctl stop warren@\(interface)`), then run `warren down --interface \(interface)` again; nothing was removed")
        }
        guard HostChanges.load(stateDirectory: stateDirectory, interface: interface) != nil else {
            if stopped { return Result(stoppedAgent: true, removed: []) }
            let running = RunningAgents.names(runDirectory: runDirectory)
            let leftovers = RunningAgents.leftovers(stateDirectory: stateDirectory)
            var known: [String] = []
            if !running.isEmpty { known.append("running: " + running.joined(separator: ", ")) }
            if !leftovers.isEmpty { known.append("state left in \(stateDirectory) by: " + leftovers.joined(separator: ", ")) }
            throw .usage("no warren interface named \(interface) (no agent, no state in \(stateDirectory))"
                + (known.isEmpty ? "; nothing is running" : "; " + known.joined(separator: "; ")) + ". Nothing was removed")
        }
        let journal = HostJournal(stateDirectory: stateDirectory, interface: interface)
        let removed = journal.undo(keepKillSwitch: false, netlink: try? RouteNetlink())
        return Result(stoppedAgent: stopped, removed: removed)
    }
}
