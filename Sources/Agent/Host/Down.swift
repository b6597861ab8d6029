import Glibc
import LinuxPlatform

/// The agents of this host, as their locks and journals show them.
public enum RunningAgents {
    /// Interfaces whose agent is alive (its lock in the run directory is held), sorted. A user
    /// who may not read the run directory or a lock in it learns that it lacks the privilege,
    /// never "nothing runs".
    public static func names(runDirectory: String = AgentOptions.defaultRunDirectory) throws(AgentError) -> [String] {
        let files: [String]
        do { files = try DirectoryEntries.names(runDirectory) } catch {
            if error.errno == ENOENT { return [] }
            throw .privilege("cannot list the agents in \(runDirectory): run as root (the run directory and the agents' locks are root-only)")
        }
        var out: [String] = []
        for file in files where file.hasSuffix(".lock") {
            let name = String(file.dropLast(5))
            let path = "\(runDirectory)/\(file)"
            guard InterfaceName.isValid(name) else { continue }
            if InstanceLock.isUnreadable(path) {
                throw .privilege("cannot tell whether the agent of \(name) runs (\(path) is root-only): run as root")
            }
            if InstanceLock.holder(path) != nil { out.append(name) }
        }
        return out
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
        "netns=\(NetworkNamespace.current().map(String.init) ?? "") state=\(DirectoryEntries.absolute(stateDirectory))"
    }

    /// Every running agent whose lock carries a note (those this process may read).
    public static func described(runDirectory: String = AgentOptions.defaultRunDirectory) -> [Described] {
        ((try? names(runDirectory: runDirectory)) ?? []).compactMap { name in
            guard let (pid, note) = InstanceLock.holderAndNote(AgentOptions.lockPath(runDirectory: runDirectory, interface: name)),
                  let netnsRange = note.firstRange(of: "netns="), let stateRange = note.firstRange(of: " state=") else { return nil }
            let netns = UInt64(note[netnsRange.upperBound..<stateRange.lowerBound])
            return Described(interface: name, pid: pid, networkNamespace: netns, stateDirectory: String(note[stateRange.upperBound...]))
        }
    }

    /// The running agents of this network namespace (as `wg show` lists its interfaces).
    public static func inThisNamespace(runDirectory: String = AgentOptions.defaultRunDirectory) throws(AgentError) -> [String] {
        let here = NetworkNamespace.current()
        let described = described(runDirectory: runDirectory)
        return try names(runDirectory: runDirectory).filter { name in
            guard let agent = described.first(where: { $0.interface == name }), let netns = agent.networkNamespace else { return true }
            return netns == here
        }
    }

    /// Interfaces that left host changes in `stateDirectory` (a crash, or an armed kill switch),
    /// also as the state file of warren before the journal (`NAME.gateway.json`).
    public static func leftovers(stateDirectory: String) -> [String] {
        let legacy = ((try? DirectoryEntries.names(stateDirectory)) ?? []).filter { $0.hasSuffix(LegacyGatewayState.suffix) }
            .map { String($0.dropLast(LegacyGatewayState.suffix.count)) }
        return Array(Set(HostChanges.all(stateDirectory: stateDirectory).map(\.interface) + legacy)).sorted()
    }

    /// The interface a command without --interface means: the only running agent. Never a guess:
    /// none or several is an error that lists them.
    public static func only(command: String, runDirectory: String = AgentOptions.defaultRunDirectory) throws(AgentError) -> InterfaceName {
        let running = try inThisNamespace(runDirectory: runDirectory)
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
        /// What could not be removed (it stays recorded; `warren down` again retries it).
        public var failed: [String]
    }

    /// `down` changes nftables, rules and sysctls: without CAP_NET_ADMIN it says so at once.
    public static func requirePrivilege(_ what: String) throws(AgentError) {
        guard ProcessPrivilege.hasEffective(ProcessPrivilege.netAdmin) else {
            throw .privilege("warren down needs CAP_NET_ADMIN to remove nftables tables, rules and routes: run as root (sudo warren down\(what.isEmpty ? "" : " " + what))")
        }
    }

    public static func run(interface name: InterfaceName, stateDirectory: String,
                           runDirectory: String = AgentOptions.defaultRunDirectory) throws(AgentError) -> Result {
        try requirePrivilege("--interface \(name)")
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
        if !stopped, let pid = InstanceLock.holder(lockPath) {
            throw .usage("the agent of \(interface) (pid \(pid)) is running but does not answer on \(socketPath): stop it first (`systemctl stop warren@\(interface)` or `kill \(pid)`), then run `warren down --interface \(interface)` again; nothing was removed")
        }
        // Nothing recorded: nothing to undo, and no lock file made for a mistyped name.
        guard !HostJournal(stateDirectory: stateDirectory, interface: interface).changes.isEmpty else {   // migrates an old state file
            if stopped { return Result(stoppedAgent: true, removed: [], failed: []) }
            let running = ((try? RunningAgents.names(runDirectory: runDirectory)) ?? []).filter { $0 != interface }
            let leftovers = RunningAgents.leftovers(stateDirectory: stateDirectory)
            var known: [String] = []
            if !running.isEmpty { known.append("running: " + running.joined(separator: ", ")) }
            if !leftovers.isEmpty { known.append("state left in \(stateDirectory) by: " + leftovers.joined(separator: ", ")) }
            throw .usage("no warren interface named \(interface) (no agent, no state in \(stateDirectory))"
                + (known.isEmpty ? "; nothing is running" : "; " + known.joined(separator: "; ")) + ". Nothing was removed")
        }
        // Hold the interface's lock while undoing, so an agent that a service manager restarts
        // meanwhile cannot arm a kill switch that this `down` then removes.
        let lock: InstanceLock?
        do {
            try RunDirectory.create(runDirectory)
            lock = try InstanceLock.acquire(lockPath, waitingUpTo: 1)
        } catch let error as AgentError {
            throw error
        } catch {
            throw .platform(step: "locking interface \(interface)", error as? PlatformError ?? PlatformError(call: "flock", errno: 0, message: "\(error)"))
        }
        guard let lock else {
            let pid = InstanceLock.holder(lockPath).map { "pid \($0)" } ?? "a process"
            throw .usage(stopped
                ? "the agent of \(interface) (\(pid)) was asked to stop but is still running after 15 s: check its log, or stop it (`kill`), then run `warren down --interface \(interface)` again"
                : "the agent of \(interface) (\(pid)) is running but does not answer on \(socketPath): stop it first (`systemctl stop warren@\(interface)` or `kill`), then run `warren down --interface \(interface)` again; nothing was removed")
        }
        defer { lock.release() }
        // Read again under the lock: what an agent that ran meanwhile left is what goes.
        let journal = HostJournal(stateDirectory: stateDirectory, interface: interface)
        if let made = journal.changes.networkNamespace, let here = NetworkNamespace.current(), made != here {
            throw .usage("the state of \(interface) was made in another network namespace: run `warren down --interface \(interface)` there (e.g. with `ip netns exec`); nothing was removed")
        }
        let undone = journal.undo(keepKillSwitch: false, netlink: try? RouteNetlink())
        return Result(stoppedAgent: stopped, removed: undone.removed, failed: undone.failed)
    }
}
