import Configuration
import Glibc
import LinuxPlatform
import Payment
import Policy
import Session
import Synchronization
import WarrenCrypto
import WireGuard

/// Where an agent keeps its files; one agent per interface.
public struct AgentOptions: Sendable {
    public var configPath: String
    public var interface: InterfaceName
    public var stateDirectory: String
    public var runDirectory: String

    public static let defaultStateDirectory = StandardPaths.stateDirectory
    public static let defaultRunDirectory = StandardPaths.runDirectory

    public init(configPath: String, interface: InterfaceName,
                stateDirectory: String = AgentOptions.defaultStateDirectory, runDirectory: String = AgentOptions.defaultRunDirectory) {
        self.configPath = configPath
        self.interface = interface
        self.stateDirectory = stateDirectory
        self.runDirectory = runDirectory
    }

    public var interfaceName: String { interface.text }

    public static func controlSocketPath(runDirectory: String = defaultRunDirectory, interface: String) -> String {
        "\(runDirectory)/\(interface).sock"
    }

    /// Held by the agent of `interface` for its whole life (see `InstanceLock`).
    public static func lockPath(runDirectory: String = defaultRunDirectory, interface: String) -> String {
        "\(runDirectory)/\(interface).lock"
    }
}

/// Everything that can stop `warren up`, each saying what, where and what to do.
public enum AgentError: Error, CustomStringConvertible {
    case config(ConfigError)
    case platform(step: String, PlatformError)
    case endpoint(file: String, line: Int, host: String, PlatformError)
    case session(String)
    /// A command used wrongly (a bad name, an ambiguous target): the text says what to type.
    case usage(String)
    /// The command lacks a privilege; the text names the capability.
    case privilege(String)
    /// A consumer at today's spending cap (MaxSpend) asks for no session.
    case spendingCap(String)

    /// `warren up`'s exit status for the error, so that a service manager restarts the agent
    /// only when a restart can help (init/warren@.service: RestartPreventExitStatus=).
    /// 78 (EX_CONFIG): the config is wrong, every restart would fail the same way. 3: the
    /// consumer stops paying (as at its cap in a session) until 00:00 UTC or a higher
    /// MaxSpend. 1: everything else, which may pass (no network yet, the provider not
    /// answering, a missing module).
    public var exitStatus: Int32 {
        switch self {
        case .config: return Self.configExitStatus
        case .spendingCap: return 3
        case .usage: return 64          // EX_USAGE: a bad name, another agent on the interface
        case .privilege: return 77      // EX_NOPERM: the capability is missing, a restart will not grant it
        case .platform, .endpoint, .session: return 1
        }
    }

    /// EX_CONFIG of sysexits.h; systemd shows it as status=78/CONFIG.
    public static let configExitStatus: Int32 = 78

    public var description: String {
        switch self {
        case .config(let error):
            return "\(error)"
        case .platform(let step, let error):
            return "\(step): \(error)"
        case .endpoint(let file, let line, let host, let error):
            return "\(file):\(line): Endpoint: \(host): \(error)"
        case .session(let message), .usage(let message), .privilege(let message), .spendingCap(let message):
            return message
        }
    }
}

/// `warren up`: a WireGuard interface in the foreground until SIGINT/SIGTERM.
public final class TunnelAgent {
    let options: AgentOptions
    var config: TunnelConfig
    let log: EventLog

    let gatewayConfig: GatewayConfig?
    let providerConfig: ProviderConfig?
    let exitConfig: ExitConfig?
    private var gateway: Gateway?
    private var tun: TUNDevice?
    /// Set by a `down` request: tear down the kill switch too.
    private let fullShutdown = ShutdownRequest()

    public init(options: AgentOptions, config: TunnelConfig, gateway: GatewayConfig?,
                provider: ProviderConfig? = nil, exit: ExitConfig? = nil) {
        self.options = options
        self.config = config
        gatewayConfig = gateway
        providerConfig = provider
        exitConfig = exit
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

    /// Brings the interface up, runs until a termination signal, then removes what it added.
    /// A start that fails part-way undoes every host change it made (the journal) before the
    /// error goes up; only a gateway's kill switch stays, so its LAN is never opened by a failure.
    public func run() throws(AgentError) -> Int32 {
        // Signals must be blocked before any thread starts, so only sigwait sees them.
        SignalWaiter.blockTerminationSignals()
        // Said up front, before a lock file or a state directory fails for want of it.
        guard ProcessPrivilege.hasEffective(ProcessPrivilege.netAdmin) else {
            throw .privilege("warren up needs CAP_NET_ADMIN (TUN device, addresses, routes, nftables): run as root or grant CAP_NET_ADMIN")
        }
        try prepareStateDirectory()
        let name = options.interfaceName
        // Touch nothing (the kill switch least of all) while another agent owns this interface.
        let lock = try acquireInterfaceLock()
        defer { lock.release() }
        try ensureInterfaceIsFree(name)

        let journal = HostJournal(stateDirectory: options.stateDirectory, interface: name)
        if !journal.changes.isEmpty {
            // An earlier run crashed (or its gateway is now off): its changes go before ours start.
            let keep = gatewayConfig?.killSwitch == true
            for line in journal.undo(keepKillSwitch: keep, netlink: try? RouteNetlink()).lines {
                log.info("removed leftover state of an earlier run: \(line)")
            }
        }
        warnIfSecretsAreReadable()
        let running: Running
        do {
            running = try bringUp(journal: journal)
        } catch {
            // One undo for every failure: the TUN device (its addresses and routes go with it),
            // then every recorded table, rule and sysctl; the kill switch stays armed.
            tun?.close()
            // The config's kill switch, not whether this start got as far as arming it: a kill
            // switch left armed by an earlier run must not be opened by a failure before that.
            for line in journal.undo(keepKillSwitch: gatewayConfig?.killSwitch == true, netlink: try? RouteNetlink()).lines {
                log.info("start failed, undone: \(line)")
            }
            throw error
        }

        let signal = SignalWaiter.wait()
        log.info("received signal \(signal): removing interface \(name)")
        if let payment = running.payment {
            // The last invoice is paid before the close, so the provider's claim equals our last voucher.
            payment.finish()
            usleep(200_000)      // the last voucher is on its way through the tunnel
        }
        if var exitSession = running.exitSession, let identity = running.identity {
            // Tell the provider at once, so it frees our addresses without waiting for the idle timeout.
            if let keeper = running.keeper { exitSession.grant = keeper.grant }
            Self.sendClose(identity: identity, session: exitSession, socket: running.socket)
        }
        // Sessions end with the agent: channels are written and the watchdog claims at once.
        running.provider?.endAll(reason: "the agent is stopping")
        running.control.close()
        tun?.close()
        let full = fullShutdown.full.load(ordering: .sequentiallyConsistent)
        // A plain stop keeps an armed kill switch: the LAN stays closed until the agent is back or `warren down`.
        let keepKillSwitch = !full && gateway?.config.killSwitch == true
        for line in journal.undo(keepKillSwitch: keepKillSwitch, netlink: try? RouteNetlink()).lines {
            log.info(full ? "down: removed \(line)" : "removed \(line)")
        }
        if keepKillSwitch { log.info("kill switch stays armed while the agent is down; `warren down` removes it") }
        if let reason = running.payment?.stopReason.withLock({ $0 }) {
            log.error("session ended by this consumer: \(reason)")
            return 3
        }
        if let reason = running.keeper?.lostReason {
            log.error("session lost: \(reason)")
            return 4
        }
        return 0
    }

    /// As wg-quick: a config holding a private key must be readable by its owner only.
    private func warnIfSecretsAreReadable() {
        guard !config.interface.privateKey.isEmpty, let mode = FilePermissions.mode(of: options.configPath), mode & 0o077 != 0 else { return }
        log.warning("\(options.configPath) holds a private key and is readable by others (mode \(String(mode, radix: 8))): run `chmod 600 \(options.configPath)`")
    }

    /// What a started agent runs with, for the stop.
    private struct Running {
        var identity: NodeIdentity?
        var socket: UDPSocket
        var control: ControlSocketListener
        var provider: ProviderService?
        var payment: ConsumerPayment?
        var exitSession: ExitSession.Opened?
        var keeper: ExitSessionKeeper?
    }

    /// The steps of `warren up`; each host change goes through the journal.
    private func bringUp(journal: HostJournal) throws(AgentError) -> Running {
        let environment = TestKnobs()
        let name = options.interfaceName
        let file = options.configPath

        // Provider and consumer roles use the node identity's X25519 form as the WireGuard key.
        var identity: NodeIdentity?
        if providerConfig != nil || exitConfig != nil {
            let loaded = try IdentityStore.loadOrCreate(stateDirectory: options.stateDirectory)
            identity = loaded
            if config.interface.privateKey.isEmpty { config.interface.privateKey = loaded.wireGuardPrivateKey }
        }
        var provider: ProviderService?
        if let providerConfig, let identity {
            let service = try makeProvider(providerConfig, identity: identity)
            config.interface.addresses += service.providerAddresses
            if providerConfig.price != .free {
                let tariff = Tariff(perGiB: providerConfig.price.perGiB.baseUnits, perMinute: providerConfig.price.perMinute.baseUnits)
                service.billing = try ProviderBilling.start(stateDirectory: options.stateDirectory, config: providerConfig.payment,
                                                            tariff: tariff, overchargePercent: environment.overchargePercent, log: log)
            }
            provider = service
        }

        // An interface routed by policy gets its own mark, routing table and rule priorities,
        // chosen beside the other interfaces' and recorded before any rule exists.
        let routesDefault = config.peers.contains { $0.allowedIPs.contains { $0.length == 0 } }
            || (exitConfig != nil)
        var routing: PolicyRouting?
        if gatewayConfig != nil || routesDefault {
            var requestedTable: UInt32?
            if case .number(let number) = config.interface.table { requestedTable = number }
            routing = try journal.chooseRouting(mark: config.interface.fwMark, table: requestedTable, installed: {
                guard let netlink = try? RouteNetlink() else { return [] }
                return ((try? netlink.rules(family: AF_INET)) ?? []) + ((try? netlink.rules(family: AF_INET6)) ?? [])
            }, file: file)
        }

        // The kill switch goes in before anything can forward (and again once the session is known).
        if let gatewayConfig, let routing {
            let gateway = try Gateway(config: gatewayConfig, tunnel: config, interface: options.interface, routing: routing,
                                      stateDirectory: options.stateDirectory, file: file, log: log, preliminary: exitConfig != nil)
            self.gateway = gateway
            try gateway.armKillSwitch(journal: journal)
        }

        let socket: UDPSocket
        do {
            socket = try UDPSocket(port: config.interface.listenPort ?? 0)
            // As wireguard-go: 7 MiB each way, so bursts at line rate are not dropped between reads.
            if !socket.setBufferSizes(7 << 20) { log.warning("UDP buffers capped by net.core.rmem_max/wmem_max (no CAP_NET_ADMIN)") }
        } catch {
            throw .platform(step: "opening UDP port \(config.interface.listenPort ?? 0)", error)
        }

        var exitSession: ExitSession.Opened?
        var payment: ConsumerPayment?
        if let exitConfig, let identity {
            if let reason = ConsumerPayment.capReachedToday(stateDirectory: options.stateDirectory, config: exitConfig.payment,
                                                            now: UInt64(time(nil))) {
                throw .spendingCap(reason)
            }
            let opened = try openExit(exitConfig, identity: identity, socket: socket)
            exitSession = opened
            if let wallet = opened.grant.providerWallet.flatMap(EthereumAddress.init(bytes:)), opened.grant.prices != .free {
                do {
                    payment = try ConsumerPayment.start(stateDirectory: options.stateDirectory, config: exitConfig.payment, grant: opened.grant,
                                                        providerWallet: wallet, stopPayingAfter: environment.stopPayingAfter,
                                                        log: log, file: file)
                } catch {
                    Self.sendClose(identity: identity, session: opened, socket: socket)
                    throw error
                }
            }
            if let gatewayConfig, let routing {
                let gateway = try Gateway(config: gatewayConfig, tunnel: config, interface: options.interface, routing: routing,
                                          stateDirectory: options.stateDirectory, file: file, log: log, preliminary: false)
                self.gateway = gateway
                try gateway.armKillSwitch(journal: journal)
            }
        }

        // A default route through the tunnel needs wg-quick's policy routing.
        let mark: UInt32? = gateway?.mark ?? config.interface.fwMark ?? (routesDefault ? routing?.mark : nil)
        if let mark {
            // The mark keeps the tunnel's own datagrams on the main table (no routing loop).
            do { try socket.setFirewallMark(mark) } catch { throw .platform(step: "marking the UDP socket", error) }
        }

        let peers = try resolvePeers()
        let mtu = config.interface.mtu ?? 1420
        let tunnel = Tunnel(privateKey: config.interface.privateKey, mtu: mtu, entropy: SystemEntropy())
        if let rekey = environment.rekeyAfterTime { tunnel.rekeyAfterTime = rekey }
        for (peer, endpoint) in peers {
            tunnel.addPeer(publicKey: peer.publicKey, presharedKey: peer.presharedKey, endpoint: endpoint,
                           allowedIPs: peer.allowedIPs, persistentKeepaliveSeconds: peer.persistentKeepalive ?? 0)
        }

        let tun: TUNDevice
        do { tun = try TUNDevice.create(name: name) } catch { throw .platform(step: "creating interface \(name)", error) }
        self.tun = tun

        let netlink: RouteNetlink
        do { netlink = try RouteNetlink() } catch { throw .platform(step: "opening netlink", error) }
        let policyRouted = mark != nil && routesDefault
        try configureInterface(netlink: netlink, tun: tun, mtu: mtu, policyRouted: policyRouted, routingTable: routing?.table ?? RouteNetlink.mainTable)
        if let gateway {
            try gateway.routeThroughTunnel(netlink, journal: journal)
        } else if routesDefault, let routing {
            try installDefaultRouting(netlink, routing: routing, journal: journal)
        }
        if let provider { try startProvider(provider, journal: journal) }

        var keeper: ExitSessionKeeper?
        if let exitSession, let identity, let providerKey = config.peers.last?.publicKey {
            keeper = ExitSessionKeeper(identity: identity, opened: exitSession, providerKey: providerKey, payment: payment, log: log)
        }
        let role: any DataPlaneRole
        if let provider { role = ProviderRole(service: provider) }
        else if let keeper { role = ConsumerRole(keeper: keeper) }
        else if gateway != nil { role = GatewayRole() }
        else { role = PlainTunnelRole() }
        let plane = DataPlane(tunnel: tunnel, device: tun, socket: socket, role: role, log: log, forcedUnderLoad: environment.underLoad)
        if let provider {
            provider.plane = plane
            if let billing = provider.billing {
                do {
                    try billing.startSockets(addresses: provider.providerAddresses.map(\.address)) { [provider] bytes, source in
                        provider.handlePayment(bytes, from: source)
                    }
                } catch {
                    throw .platform(step: "opening the payment port \(PaymentPort.number) on the tunnel addresses", error)
                }
            }
        }
        let paymentTarget = exitSession?.grant.providerTunnelIPv4 ?? exitSession?.grant.providerTunnelIPv6
        if let payment, let exitSession {
            let providerKey = config.peers.last?.publicKey ?? []
            payment.counts = { [plane] in
                plane.tunnel.withLock { tunnel in
                    let peer = tunnel.peer(publicKey: providerKey)
                    return (peer?.innerSentBytes ?? 0, peer?.innerReceivedBytes ?? 0)
                }
            }
            guard let own = exitSession.grant.consumerIPv4?.address ?? exitSession.grant.consumerIPv6?.address, let paymentTarget else {
                throw .session("the provider charges but gave no tunnel address to pay to: it is not a warren provider this version can pay")
            }
            do { try payment.start(tunnelAddress: own, providerAddress: paymentTarget) } catch {
                throw .platform(step: "opening the payment port \(PaymentPort.number) on \(own)", error)
            }
        }
        let socketPath = AgentOptions.controlSocketPath(runDirectory: options.runDirectory, interface: tun.name)
        let control: ControlSocketListener
        do {
            control = try ControlSocketListener(path: socketPath)
        } catch {
            throw .platform(step: "opening the control socket", error)
        }
        let listenPort = Int(socket.localPort)
        let addresses = config.interface.addresses
        let withPSK = Set(config.peers.filter { $0.presharedKey != nil }.map(\.publicKey))
        let interfaceName = tun.name
        let dns = config.interface.dns
        let gateway = self.gateway
        let fullShutdown = self.fullShutdown
        let identityText = identity.map { $0.publicIdentity.description }
        let exitStatus = exitSession.map { ExitStatus(provider: exitConfig?.provider ?? "", sessionID: $0.grant.sessionID,
                                                      addresses: [$0.grant.consumerIPv4, $0.grant.consumerIPv6].compactMap { $0?.description }) }
        control.serve { [plane, provider, payment] request in
            let command = request.split(separator: " ").first.map(String.init) ?? ""
            switch command {
            case "status":
                var status = plane.tunnel.withLock {
                    AgentStatus.snapshot(of: $0, interface: interfaceName, listenPort: listenPort, addresses: addresses, presharedKeys: withPSK)
                }
                status.dns = dns
                status.tunWriteErrors = plane.tunWriteErrors.load(ordering: .relaxed)
                status.udpSendErrors = plane.sendErrors.load(ordering: .relaxed)
                status.gateway = gateway?.status()
                status.identity = identityText
                status.provider = provider?.status()
                status.exit = exitStatus
                status.payment = payment?.status()
                return status.jsonBytes()
            case "down":
                // The main thread does the teardown when it sees the signal.
                fullShutdown.full.store(true, ordering: .sequentiallyConsistent)
                kill(getpid(), SIGTERM)
                return Array("{\"ok\":true}".utf8)
            default:
                return Array("{\"error\":\"unknown request\"}".utf8)
            }
        }

        do { try plane.start() } catch {
            control.close()
            throw .platform(step: "starting the data plane", error)
        }
        log.info("interface \(interfaceName) up: listening on UDP port \(listenPort), mtu \(mtu), \(peers.count) peer(s), control socket \(socketPath)")
        return Running(identity: identity, socket: socket, control: control, provider: provider, payment: payment,
                       exitSession: exitSession, keeper: keeper)
    }

    static func sendClose(identity: NodeIdentity, session: ExitSession.Opened, socket: UDPSocket) {
        guard let target = SocketAddress(session.endpoint) else { return }
        let close = SessionClose.make(identity: identity, sessionID: session.grant.sessionID, now: AgentClock.now())
        close.withUnsafeBytes { _ = try? socket.send($0, to: target) }
    }

    private func makeProvider(_ providerConfig: ProviderConfig, identity: NodeIdentity) throws(AgentError) -> ProviderService {
        var whitelist: ExitWhitelist?
        if providerConfig.exit == .whitelist, let path = providerConfig.whitelistPath {
            guard let bytes = StateFile.read(path, limit: 4 << 20) else {
                throw .config(ConfigError(file: options.configPath, line: providerConfig.line, key: "Whitelist",
                                          message: "cannot read \(path): give an existing file (e.g. /etc/warren/whitelists/streaming)"))
            }
            do { whitelist = try ExitWhitelist(parsing: String(decoding: bytes, as: UTF8.self), file: path) } catch {
                throw .config(ConfigError(file: path, line: nil, key: nil, message: "\(error)"))
            }
        }
        return ProviderService(identity: identity, config: providerConfig, whitelist: whitelist,
                               hostAddresses: InterfaceAddresses.all().compactMap { IPAddress(bytes: $0) }, mtu: config.interface.mtu ?? 1420, log: log)
    }

    private func startProvider(_ provider: ProviderService, journal: HostJournal) throws(AgentError) {
        guard let upstream = DNSForwarder.systemUpstream() else {
            throw .platform(step: "starting the DNS forwarder", PlatformError(call: "resolv.conf", errno: 0,
                message: "no nameserver in /etc/resolv.conf: the forwarder needs an upstream resolver"))
        }
        // The forwarder's ports and the host's networks go into the table, so both come first.
        let forwarder = DNSForwarder(provider: provider, upstream: upstream, log: log)
        let hostWatch: ProviderHostWatch
        let networks: HostNetworks
        do {
            provider.dnsListeners = try forwarder.bind(on: provider.providerAddresses.map(\.address))
            hostWatch = try ProviderHostWatch(provider: provider, table: ProviderRuleset.tableName(for: options.interface), log: log)
            networks = try hostWatch.read()
        } catch { throw .platform(step: "starting the DNS forwarder and reading the host's networks", error) }
        hostWatch.install(networks)
        let ruleset = ProviderRuleset(table: ProviderRuleset.tableName(for: options.interface), tunnelInterface: options.interfaceName,
                                      wanInterface: provider.config.wan, pool: provider.config.pool,
                                      dnsListeners: provider.dnsListeners, hostNetworks: networks.prefixes)
        try journal.recordTable(ruleset.table)
        do { try Nftables.apply(ruleset.text()) } catch { throw .platform(step: "installing nftables table \(ruleset.table)", error) }
        try journal.setSysctl(Gateway.forwardingV4, "1")
        if provider.config.pool.contains(where: { !$0.address.isV4 }) { try journal.setSysctl(Gateway.forwardingV6, "1") }
        do {
            try forwarder.start()
            try hostWatch.start()
        } catch { throw .platform(step: "starting the DNS forwarder and the host network watch", error) }
        provider.hostWatch = hostWatch
        log.info("provider \(provider.identity.publicIdentity) ready: exit \(provider.config.exit.rawValue) via \(provider.config.wan), pool \(provider.config.pool.map(\.description).joined(separator: ", "))")
    }

    private func openExit(_ exitConfig: ExitConfig, identity: NodeIdentity, socket: UDPSocket) throws(AgentError) -> ExitSession.Opened {
        let address: ProviderAddress
        do { address = try ProviderAddress(parsing: exitConfig.provider) } catch {
            throw .config(ConfigError(file: options.configPath, line: exitConfig.providerLine, key: "Provider", message: "\(error)"))
        }
        let limit = exitConfig.maxPrice.map { SessionPrices(perGiB: $0.perGiB.baseUnits, perMinute: $0.perMinute.baseUnits) }
            ?? SessionPrices(perGiB: .max, perMinute: .max)
        let opened = try ExitSession.open(socket: socket, identity: identity, provider: address, maxPrices: limit, log: log)
        let grant = opened.grant
        config.interface.addresses = [grant.consumerIPv4, grant.consumerIPv6].compactMap { $0 }
        config.interface.dns = [grant.dnsIPv4, grant.dnsIPv6].compactMap { $0?.description }
        config.interface.mtu = Int(grant.mtu)
        var peer = PeerConfig(publicKey: address.identity.wireGuardPublicKey, line: exitConfig.line)
        peer.endpoint = EndpointSpec(host: opened.endpoint.address.description, port: opened.endpoint.port)
        peer.allowedIPs = [IPPrefix(parsing: "0.0.0.0/0"), IPPrefix(parsing: "::/0")].compactMap { $0 }
        peer.persistentKeepalive = 25
        config.peers.append(peer)
        log.info("session \(grant.sessionID) with provider \(address): addresses \(config.interface.addresses.map(\.description).joined(separator: ", ")), dns \(config.interface.dns.joined(separator: ", ")), mtu \(grant.mtu)")
        return opened
    }

    private func installDefaultRouting(_ netlink: RouteNetlink, routing: PolicyRouting, journal: HostJournal) throws(AgentError) {
        let v6 = config.interface.addresses.contains { !$0.address.isV4 }
        for rule in GatewayRouting.allRules(routing, lans: [], ipv6: v6) {
            try journal.addRule(rule, netlink: netlink)
        }
        try journal.setSysctl(Gateway.validMark, "1")
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

    private func resolvePeers() throws(AgentError) -> [(PeerConfig, Endpoint?)] {
        var out: [(PeerConfig, Endpoint?)] = []
        for peer in config.peers {
            guard let spec = peer.endpoint else {
                out.append((peer, nil))
                continue
            }
            do {
                let addresses = try SocketAddress.resolve(host: spec.host, port: spec.port)
                out.append((peer, addresses.first.map { Endpoint($0) }))
            } catch {
                throw .endpoint(file: options.configPath, line: peer.line, host: spec.description, error)
            }
        }
        return out
    }

    /// Addresses, MTU and routes of the TUN device: they go with the device when it closes.
    private func configureInterface(netlink: RouteNetlink, tun: TUNDevice, mtu: Int, policyRouted: Bool, routingTable: UInt32) throws(AgentError) {
        let name = tun.name
        let index: Int32
        do { index = try netlink.interfaceIndex(named: name) } catch { throw .platform(step: "finding \(name)", error) }
        do { try netlink.setLink(index: index, up: false, mtu: mtu) } catch { throw .platform(step: "setting MTU \(mtu) on \(name)", error) }
        // No automatic IPv6 link-local address (as kernel WireGuard): otherwise neighbour
        // discovery and multicast chatter go into the tunnel and the peer drops them.
        try? Sysctl.write("net.ipv6.conf.\(name).addr_gen_mode", "1")
        for address in config.interface.addresses {
            do { try netlink.addAddress(address.description, interfaceIndex: index) } catch {
                throw .platform(step: "adding address \(address) to \(name)", error)
            }
        }
        do { try netlink.setLink(index: index, up: true, mtu: nil) } catch { throw .platform(step: "bringing \(name) up", error) }

        let table: UInt32
        switch config.interface.table {
        case .off where !policyRouted: return
        case _ where gateway != nil || policyRouted: table = routingTable
        case .number(let number): table = number
        default: table = RouteNetlink.mainTable
        }
        for peer in config.peers {
            for prefix in peer.allowedIPs {
                // A default route makes the interface policy-routed (its own table), so the
                // tunnel's own packets, which carry the mark, never loop into it.
                let network = prefix.network
                do { try netlink.addRoute(network.description, interfaceIndex: index, table: table) } catch {
                    throw .platform(step: "adding route \(network) via \(name)", error)
                }
            }
        }
    }
}

/// Environment switches for tests only; documented in docs/OPERATIONS.md.
struct TestKnobs {
    var rekeyAfterTime: UInt64?
    var underLoad = false
    /// A provider's invoices ask this many percent more than due (WARREN_TEST_OVERCHARGE_PERCENT),
    /// to show that a consumer refuses them.
    var overchargePercent: UInt64 = 0
    /// WARREN_TEST_STOP_PAYING_AFTER: the consumer stops paying once it received this many bytes (0: never pays).
    var stopPayingAfter: UInt64?

    init() {
        if let text = getenv("WARREN_REKEY_AFTER_TIME").map({ String(cString: $0) }), let seconds = UInt64(text), seconds > 0 {
            rekeyAfterTime = seconds * 1_000_000_000
        }
        underLoad = getenv("WARREN_UNDER_LOAD").map { String(cString: $0) } == "1"
        overchargePercent = getenv("WARREN_TEST_OVERCHARGE_PERCENT").flatMap { UInt64(String(cString: $0)) } ?? 0
        stopPayingAfter = getenv("WARREN_TEST_STOP_PAYING_AFTER").flatMap { UInt64(String(cString: $0)) }
    }
}

/// Whether the coming shutdown is a `warren down` (everything goes) or a plain stop.
final class ShutdownRequest: Sendable {
    let full = Atomic<Bool>(false)
}

