import Configuration
import Glibc
import LinuxPlatform
import PacketPath
import Payment
import Policy
import Session
import Synchronization
import WarrenCrypto
import WireGuard

// `warren up`: the agent's life in named steps.
//
//   run    privilege -> state directory -> interface lock -> leftovers of a crashed run undone
//          -> bringUp (BringUp.swift: every host change through the one journal) -> serve
//          -> wait for a stop reason (Shutdown) -> stop
//   stop   the roles end (final bill, session close, channels written) -> control socket and
//          TUN device close -> the journal is undone (an armed kill switch stays, unless
//          `warren down`) -> the reason's exit code
//
// A failed start takes the same undo: there is one list of host changes and one way back.

public final class TunnelAgent {
    let options: AgentOptions
    var config: TunnelConfig
    let log: EventLog
    /// The one clock every part of the agent reads (a test gives a virtual one).
    let clock: TimeSource
    /// The test switches, read once where the agent is made.
    let knobs: TestKnobs
    let shutdown = Shutdown()

    let gatewayConfig: GatewayConfig?
    let providerConfig: ProviderConfig?
    let exitConfig: ExitConfig?
    var gateway: Gateway?
    var tun: TUNDevice?

    public convenience init(options: AgentOptions, config: TunnelConfig, gateway: GatewayConfig?,
                            provider: ProviderConfig? = nil, exit: ExitConfig? = nil) {
        self.init(options: options, config: config, gateway: gateway, provider: provider, exit: exit,
                  clock: .system, knobs: .fromProcessEnvironment())
    }

    init(options: AgentOptions, config: TunnelConfig, gateway: GatewayConfig?, provider: ProviderConfig?, exit: ExitConfig?,
         clock: TimeSource, knobs: TestKnobs) {
        self.options = options
        self.config = config
        gatewayConfig = gateway
        providerConfig = provider
        exitConfig = exit
        self.clock = clock
        self.knobs = knobs
        log = EventLog(prefix: options.interfaceName)
    }

    public static func load(options: AgentOptions) throws(AgentError) -> TunnelAgent {
        do throws(ConfigError) {
            let config = try TunnelConfig.load(path: options.configPath)
            let gateway = try GatewayConfig.from(config, file: options.configPath)
            let provider = try ProviderConfig.from(config, file: options.configPath)
            let exit = try ExitConfig.from(config, file: options.configPath)
            if let provider, exit != nil {
                throw ConfigError(file: options.configPath, line: provider.line, key: nil,
                                  message: "a node is a provider or a consumer of one, not both: keep [Provider] or [Exit]")
            }
            let warnings = try ConfigReview.warnings(for: config, file: options.configPath)
            let agent = TunnelAgent(options: options, config: config, gateway: gateway, provider: provider, exit: exit)
            for warning in warnings { agent.log.warning("\(warning)") }
            return agent
        } catch {
            throw .config(error)
        }
    }

    /// Brings the interface up, runs until a stop reason (a termination signal, `warren down`,
    /// the consumer ending its session, a lost session), then removes what it added.
    /// A start that fails part-way undoes every host change it made (the journal) before the
    /// error goes up; only a gateway's kill switch stays, so its LAN is never opened by a failure.
    public func run() throws(AgentError) -> Int32 {
        // Signals must be blocked before any thread starts, so only the signal thread sees them.
        SignalWaiter.blockTerminationSignals()
        try requirePrivilege()
        try prepareStateDirectory()
        // Touch nothing (the kill switch least of all) while another agent owns this interface.
        let lock = try acquireInterfaceLock()
        defer { lock.release() }
        try ensureInterfaceIsFree(options.interfaceName)
        let journal = HostJournal(stateDirectory: options.stateDirectory, interface: options.interfaceName)
        undoLeftovers(journal)
        warnIfSecretsAreReadable()
        do { try shutdown.listenForSignals() } catch { throw .platform(step: "starting the signal thread", error) }

        let running: Running
        do {
            running = try bringUp(journal: journal)
        } catch {
            undoFailedStart(journal)
            throw error
        }
        let reason = shutdown.wait()
        log.info("\(reason): removing interface \(options.interfaceName)")
        return stop(running, journal: journal)
    }

    /// Said up front, before a lock file or a state directory fails for want of it.
    private func requirePrivilege() throws(AgentError) {
        guard ProcessPrivilege.hasEffective(ProcessPrivilege.netAdmin) else {
            throw .privilege("warren up needs CAP_NET_ADMIN (TUN device, addresses, routes, nftables): run as root or grant CAP_NET_ADMIN")
        }
    }

    /// An earlier run crashed (or its gateway is now off): its changes go before ours start.
    private func undoLeftovers(_ journal: HostJournal) {
        guard !journal.changes.isEmpty else { return }
        for line in journal.undo(keepKillSwitch: gatewayConfig?.killSwitch == true, netlink: try? RouteNetlink()).lines {
            log.info("removed leftover state of an earlier run: \(line)")
        }
    }

    /// One undo for every failure: the TUN device (its addresses and routes go with it), then
    /// every recorded table, rule and sysctl. The config's kill switch stays, not only one this
    /// start got as far as arming: one left armed by an earlier run must not be opened by a failure.
    private func undoFailedStart(_ journal: HostJournal) {
        tun?.close()
        for line in journal.undo(keepKillSwitch: gatewayConfig?.killSwitch == true, netlink: try? RouteNetlink()).lines {
            log.info("start failed, undone: \(line)")
        }
    }

    /// The roles end first (they still need the tunnel), then the host changes are undone.
    private func stop(_ running: Running, journal: HostJournal) -> Int32 {
        running.consumer?.end(socket: running.socket, clock: clock)
        // Sessions end with the agent: channels are written and the watchdog claims at once.
        running.provider?.endAll(reason: "the agent is stopping")
        running.control.close()
        tun?.close()
        let down = shutdown.removesKillSwitch
        // A plain stop keeps an armed kill switch: the LAN stays closed until the agent is back or `warren down`.
        let keepKillSwitch = !down && gateway?.config.killSwitch == true
        for line in journal.undo(keepKillSwitch: keepKillSwitch, netlink: try? RouteNetlink()).lines {
            log.info(down ? "down: removed \(line)" : "removed \(line)")
        }
        if keepKillSwitch { log.info("kill switch stays armed while the agent is down; `warren down` removes it") }
        if let cause = shutdown.cause { log.error("\(cause)") }
        return shutdown.exitCode
    }

    /// As wg-quick: a config holding a private key must be readable by its owner only.
    private func warnIfSecretsAreReadable() {
        guard !config.interface.privateKey.isEmpty, let mode = FilePermissions.mode(of: options.configPath), mode & 0o077 != 0 else { return }
        log.warning("\(options.configPath) holds a private key and is readable by others (mode \(String(mode, radix: 8))): run `chmod 600 \(options.configPath)`")
    }

    /// The interface's lock, taken before anything else: a second agent for the same name stops here.
    private func acquireInterfaceLock() throws(AgentError) -> InstanceLock {
        let name = options.interfaceName
        try RunDirectory.create(options.runDirectory)
        let path = AgentOptions.lockPath(runDirectory: options.runDirectory, interface: name)
        // A `warren status` that is just reading the lock holds it for an instant: retry briefly.
        for _ in 0..<10 {
            let lock: InstanceLock?
            do { lock = try InstanceLock.acquire(path, note: RunningAgents.lockNote(stateDirectory: options.stateDirectory)) } catch { throw .platform(step: "locking interface \(name)", error) }
            if let lock { return lock }
            usleep(20_000)
        }
        let pid = InstanceLock.holder(path).map { " (pid \($0))" } ?? ""
        throw .usage("another warren agent\(pid) is running for interface \(name): stop it first (`warren down --interface \(name)`) or choose another name")
    }

    private func ensureInterfaceIsFree(_ name: String) throws(AgentError) {
        if let netlink = try? RouteNetlink(), (try? netlink.interfaceIndex(named: name)) != nil {
            throw .platform(step: "starting \(name)", PlatformError(call: "rtnl_link_get_kernel", errno: EEXIST,
                message: "an interface named \(name) already exists (another program owns it): remove it or choose another --interface"))
        }
    }

    private func prepareStateDirectory() throws(AgentError) {
        try StateDirectory.create(options.stateDirectory)
    }
}
