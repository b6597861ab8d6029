import Glibc
import LinuxPlatform
import Payment
import Policy
import Session
import Synchronization
import WireGuard

/// Where an agent keeps its files; one agent per interface.
public struct AgentOptions: Sendable {
    public var configPath: String
    public var interfaceName: String
    public var stateDirectory: String
    public var runDirectory: String

    public static let defaultInterface = "warren0"
    public static let defaultStateDirectory = "/var/lib/warren"
    public static let defaultRunDirectory = "/run/warren"

    public init(configPath: String, interfaceName: String = AgentOptions.defaultInterface,
                stateDirectory: String = AgentOptions.defaultStateDirectory, runDirectory: String = AgentOptions.defaultRunDirectory) {
        self.configPath = configPath
        self.interfaceName = interfaceName
        self.stateDirectory = stateDirectory
        self.runDirectory = runDirectory
    }

    public static func controlSocketPath(runDirectory: String = defaultRunDirectory, interface: String) -> String {
        "\(runDirectory)/\(interface).sock"
    }
}

/// Everything that can stop `warren up`, each saying what, where and what to do.
public enum AgentError: Error, CustomStringConvertible {
    case config(ConfigError)
    case platform(step: String, PlatformError)
    case endpoint(file: String, line: Int, host: String, PlatformError)
    case session(String)

    public var description: String {
        switch self {
        case .config(let error):
            return "\(error)"
        case .platform(let step, let error):
            return "\(step): \(error)"
        case .endpoint(let file, let line, let host, let error):
            return "\(file):\(line): Endpoint: \(host): \(error)"
        case .session(let message):
            return message
        }
    }
}

/// `warren up`: a WireGuard interface in the foreground until SIGINT/SIGTERM.
public final class TunnelAgent {
    let options: AgentOptions
    var config: TunnelConfig
    let log: EventLog
    private var installedRoutes: [(String, UInt32)] = []
    private var installedAddresses: [String] = []

    let gatewayConfig: GatewayConfig?
    let providerConfig: ProviderConfig?
    let exitConfig: ExitConfig?
    private var gateway: Gateway?
    private var forwarder: DNSForwarder?
    private var defaultRouting: (mark: UInt32, table: UInt32)?
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
            return TunnelAgent(options: options, config: config, gateway: gateway, provider: provider, exit: exit)
        } catch {
            throw .config(error)
        }
    }

    /// Brings the interface up, runs until a termination signal, then removes what it added.
    public func run() throws(AgentError) -> Int32 {
        // Signals must be blocked before any thread starts, so only sigwait sees them.
        SignalWaiter.blockTerminationSignals()
        let environment = TestKnobs()
        try prepareStateDirectory()
        let name = options.interfaceName
        let file = options.configPath
        // Touch nothing (the kill switch least of all) while another agent owns this interface.
        try ensureInterfaceIsFree(name)

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
                                                            tariff: tariff, log: log)
            }
            provider = service
        }

        // The kill switch goes in before anything can forward (and again once the session is known).
        if let gatewayConfig {
            let gateway = try Gateway(config: gatewayConfig, tunnel: config, interface: name,
                                      stateDirectory: options.stateDirectory, file: file, log: log, preliminary: exitConfig != nil)
            try gateway.armKillSwitch()
            self.gateway = gateway
        } else if GatewayState.load(stateDirectory: options.stateDirectory, interface: name) != nil {
            // The gateway was turned off in the config (or a crash left state): clean it up.
            let wasGateway = GatewayState.load(stateDirectory: options.stateDirectory, interface: name)?.gatewayTable == true
            for line in Gateway.removeEverything(stateDirectory: options.stateDirectory, interface: name, netlink: try? RouteNetlink(), killSwitch: wasGateway) {
                log.info("removed leftover state of an earlier run: \(line)")
            }
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
                throw .session(reason)
            }
            let opened = try openExit(exitConfig, identity: identity, socket: socket)
            exitSession = opened
            if let wallet = opened.grant.providerWallet.flatMap(EthereumAddress.init(bytes:)), opened.grant.prices != .free {
                do {
                    payment = try ConsumerPayment.start(stateDirectory: options.stateDirectory, config: exitConfig.payment, grant: opened.grant,
                                                        providerWallet: wallet, log: log, file: file)
                } catch {
                    Self.sendClose(identity: identity, session: opened, socket: socket)
                    throw error
                }
            }
            if let gatewayConfig {
                let gateway = try Gateway(config: gatewayConfig, tunnel: config, interface: name,
                                          stateDirectory: options.stateDirectory, file: file, log: log, preliminary: false)
                try gateway.armKillSwitch()
                self.gateway = gateway
            }
        }

        // A default route through the tunnel needs wg-quick's policy routing.
        let routesDefault = config.peers.contains { $0.allowedIPs.contains { $0.length == 0 } }
        let mark = gateway?.mark ?? config.interface.fwMark ?? (routesDefault ? Gateway.defaultMark : nil)
        if let mark {
            // The mark keeps the tunnel's own datagrams on the main table (no routing loop).
            do { try socket.setFirewallMark(mark) } catch { throw .platform(step: "marking the UDP socket", error) }
        }

        let peers = try resolvePeers()
        let mtu = config.interface.mtu ?? 1420
        let tunnel = Tunnel(privateKey: config.interface.privateKey, mtu: mtu)
        if let rekey = environment.rekeyAfterTime { tunnel.rekeyAfterTime = rekey }
        for (peer, endpoint) in peers {
            tunnel.addPeer(publicKey: peer.publicKey, presharedKey: peer.presharedKey, endpoint: endpoint,
                           allowedIPs: peer.allowedIPs, persistentKeepaliveSeconds: peer.persistentKeepalive ?? 0)
        }

        let tun: TUNDevice
        do { tun = try TUNDevice.create(name: name) } catch { throw .platform(step: "creating interface \(name)", error) }

        let netlink: RouteNetlink
        do {
            netlink = try RouteNetlink()
            try configureInterface(netlink: netlink, tun: tun, mtu: mtu, policyRouted: mark != nil && routesDefault)
            if let gateway {
                try gateway.routeThroughTunnel(netlink)
            } else if routesDefault, let mark {
                try installDefaultRouting(netlink, mark: mark)
            }
            if let provider { try startProvider(provider, netlink: netlink) }
        } catch let error as AgentError {
            teardown(netlink: try? RouteNetlink(), tun: tun)
            throw error
        } catch {
            teardown(netlink: try? RouteNetlink(), tun: tun)
            throw .platform(step: "configuring \(name)", error as? PlatformError ?? PlatformError(call: "netlink", errno: 0, message: "\(error)"))
        }

        let plane = DataPlane(tunnel: tunnel, tun: tun, socket: socket, log: log, forcedUnderLoad: environment.underLoad)
        if let provider {
            provider.plane = plane
            plane.sessionHandler = { [provider] message, source, now in provider.handle(message, from: source, now: now) }
            plane.inboundFilter = { [provider] peer, packet, now in provider.admitFromConsumer(peer, packet: packet, now: now) }
            plane.housekeeping = { [provider] now in provider.housekeeping(now: now) }
            if let billing = provider.billing {
                plane.tunnel.withLock { $0.sendGate = { [provider] peer, packet in provider.admitToConsumer(peer, packet: packet) } }
                do {
                    try billing.startSockets(addresses: provider.providerAddresses.map(\.address)) { [provider] bytes, source in
                        provider.handlePayment(bytes, from: source)
                    }
                } catch {
                    teardown(netlink: netlink, tun: tun)
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
                teardown(netlink: netlink, tun: tun)
                throw .session("the provider charges but gave no tunnel address to pay to: it is not a warren provider this version can pay")
            }
            do { try payment.start(tunnelAddress: own, providerAddress: paymentTarget) } catch {
                teardown(netlink: netlink, tun: tun)
                throw .platform(step: "opening the payment port \(PaymentPort.number) on \(own)", error)
            }
        }
        var keeper: ExitSessionKeeper?
        if let exitSession, let identity, let providerKey = config.peers.last?.publicKey {
            let sessionKeeper = ExitSessionKeeper(identity: identity, opened: exitSession, providerKey: providerKey, plane: plane,
                                                  payment: payment, log: log)
            plane.sessionHandler = { [sessionKeeper] message, source, _ in sessionKeeper.offer(message, from: source) }
            plane.housekeeping = { [sessionKeeper] now in sessionKeeper.housekeeping(now: now) }
            keeper = sessionKeeper
        }
        let socketPath = AgentOptions.controlSocketPath(runDirectory: options.runDirectory, interface: tun.name)
        let control: ControlSocketListener
        do {
            control = try ControlSocketListener(path: socketPath)
        } catch {
            teardown(netlink: netlink, tun: tun)
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
            teardown(netlink: netlink, tun: tun)
            throw .platform(step: "starting the data plane", error)
        }
        log.info("interface \(interfaceName) up: listening on UDP port \(listenPort), mtu \(mtu), \(peers.count) peer(s), control socket \(socketPath)")

        let signal = SignalWaiter.wait()
        log.info("received signal \(signal): removing interface \(interfaceName)")
        if let payment {
            // The last invoice is paid before the close, so the provider's claim equals our last voucher.
            payment.finish()
            usleep(200_000)      // the last voucher is on its way through the tunnel
        }
        if var exitSession, let identity {
            // Tell the provider at once, so it frees our addresses without waiting for the idle timeout.
            if let keeper { exitSession.grant = keeper.grant }
            Self.sendClose(identity: identity, session: exitSession, socket: socket)
        }
        // Sessions end with the agent: channels are written and the watchdog claims at once.
        provider?.endAll(reason: "the agent is stopping")
        control.close()
        teardown(netlink: netlink, tun: tun)
        if fullShutdown.full.load(ordering: .sequentiallyConsistent) {
            for line in Gateway.removeEverything(stateDirectory: options.stateDirectory, interface: interfaceName, netlink: netlink) {
                log.info("down: removed \(line)")
            }
        } else if let gateway, gateway.config.killSwitch {
            log.info("kill switch stays armed while the agent is down; `warren down` removes it")
        } else if gateway != nil {
            // KillSwitch = off: the LAN is not to be held closed, so nothing of ours stays.
            _ = Gateway.removeEverything(stateDirectory: options.stateDirectory, interface: interfaceName, netlink: netlink)
        } else {
            // Nothing of ours should outlive a plain stop.
            _ = Gateway.removeEverything(stateDirectory: options.stateDirectory, interface: interfaceName, netlink: netlink, killSwitch: false)
        }
        if let reason = payment?.stopReason.withLock({ $0 }) {
            log.error("session ended by this consumer: \(reason)")
            return 3
        }
        if let reason = keeper?.lostReason {
            log.error("session lost: \(reason)")
            return 4
        }
        return 0
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

    private func startProvider(_ provider: ProviderService, netlink: RouteNetlink) throws(AgentError) {
        var state = GatewayState.load(stateDirectory: options.stateDirectory, interface: options.interfaceName)
            ?? GatewayState(interface: options.interfaceName, firewallMark: 0, table: 0, ipv6Rules: false, sysctlOriginals: [:])
        for key in [Gateway.forwardingV4, Gateway.forwardingV6] where state.sysctlOriginals[key] == nil {
            if let value = Sysctl.read(key) { state.sysctlOriginals[key] = value }
        }
        state.providerTable = true
        _ = state.save(stateDirectory: options.stateDirectory)
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
            hostWatch = try ProviderHostWatch(provider: provider, log: log)
            networks = try hostWatch.read()
        } catch { throw .platform(step: "starting the DNS forwarder and reading the host's networks", error) }
        hostWatch.install(networks)
        let ruleset = ProviderRuleset(tunnelInterface: options.interfaceName, wanInterface: provider.config.wan, pool: provider.config.pool,
                                      dnsListeners: provider.dnsListeners, hostNetworks: networks.prefixes)
        do { try Nftables.apply(ruleset.text()) } catch { throw .platform(step: "installing nftables table \(ProviderRuleset.table)", error) }
        do {
            try Sysctl.write(Gateway.forwardingV4, "1")
            if provider.config.pool.contains(where: { !$0.address.isV4 }) { try Sysctl.write(Gateway.forwardingV6, "1") }
        } catch { throw .platform(step: "enabling forwarding", error) }
        do {
            try forwarder.start()
            try hostWatch.start()
        } catch { throw .platform(step: "starting the DNS forwarder and the host network watch", error) }
        self.forwarder = forwarder
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

    private func installDefaultRouting(_ netlink: RouteNetlink, mark: UInt32) throws(AgentError) {
        let table: UInt32
        if case .number(let number) = config.interface.table { table = number } else { table = mark }
        let v6 = config.interface.addresses.contains { !$0.address.isV4 }
        var state = GatewayState.load(stateDirectory: options.stateDirectory, interface: options.interfaceName)
            ?? GatewayState(interface: options.interfaceName, firewallMark: mark, table: table, ipv6Rules: v6, sysctlOriginals: [:])
        state.firewallMark = mark
        state.table = table
        if state.sysctlOriginals[Gateway.validMark] == nil, let value = Sysctl.read(Gateway.validMark) {
            state.sysctlOriginals[Gateway.validMark] = value
        }
        _ = state.save(stateDirectory: options.stateDirectory)
        do {
            try GatewayRouting.addRules(netlink, mark: mark, table: table, ipv6: v6)
            try Sysctl.write(Gateway.validMark, "1")
        } catch {
            throw .platform(step: "adding policy routing rules (fwmark \(mark), table \(table))", error)
        }
        defaultRouting = (mark, table)
    }

    private func ensureInterfaceIsFree(_ name: String) throws(AgentError) {
        let socketPath = AgentOptions.controlSocketPath(runDirectory: options.runDirectory, interface: name)
        if (try? ControlSocketClient.request(path: socketPath, line: "status", timeoutSeconds: 2)) != nil {
            throw .platform(step: "starting \(name)", PlatformError(call: "connect", errno: EBUSY,
                message: "another warren agent is running for interface \(name) (it answers on \(socketPath)): stop it first or choose another --interface"))
        }
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

    private func configureInterface(netlink: RouteNetlink, tun: TUNDevice, mtu: Int, policyRouted: Bool) throws(AgentError) {
        let name = tun.name
        let index: Int32
        do { index = try netlink.interfaceIndex(named: name) } catch { throw .platform(step: "finding \(name)", error) }
        do { try netlink.setLink(index: index, up: false, mtu: mtu) } catch { throw .platform(step: "setting MTU \(mtu) on \(name)", error) }
        // No automatic IPv6 link-local address (as kernel WireGuard): otherwise neighbour
        // discovery and multicast chatter go into the tunnel and the peer drops them.
        try? Sysctl.write("net.ipv6.conf.\(name).addr_gen_mode", "1")
        for address in config.interface.addresses {
            do {
                try netlink.addAddress(address.description, interfaceIndex: index)
                installedAddresses.append(address.description)
            } catch {
                throw .platform(step: "adding address \(address) to \(name)", error)
            }
        }
        do { try netlink.setLink(index: index, up: true, mtu: nil) } catch { throw .platform(step: "bringing \(name) up", error) }

        let table: UInt32
        switch config.interface.table {
        case .off where !policyRouted: return
        case _ where gateway != nil: table = gateway?.table ?? Gateway.defaultMark
        case .number(let number): table = number
        case _ where policyRouted: table = config.interface.fwMark ?? Gateway.defaultMark
        default: table = RouteNetlink.mainTable
        }
        for peer in config.peers {
            for prefix in peer.allowedIPs {
                let network = prefix.network
                if network.length == 0 && !policyRouted {
                    // A default route through the tunnel needs policy routing so the
                    // tunnel's own packets do not loop; that is gateway mode's job.
                    log.warning("not routing \(network) through \(name): a default route needs gateway mode ([Gateway] section); other AllowedIPs are routed")
                    continue
                }
                do {
                    try netlink.addRoute(network.description, interfaceIndex: index, table: table)
                    installedRoutes.append((network.description, table))
                } catch {
                    throw .platform(step: "adding route \(network) via \(name)", error)
                }
            }
        }
    }

    private func teardown(netlink: RouteNetlink?, tun: TUNDevice) {
        if let netlink {
            gateway?.stopRouting(netlink)
            if let (mark, table) = defaultRouting { GatewayRouting.removeRules(netlink, mark: mark, table: table) }
        }
        guard let netlink else { tun.close(); return }
        if let index = try? netlink.interfaceIndex(named: tun.name) {
            for (route, table) in installedRoutes.reversed() {
                do { try netlink.removeRoute(route, interfaceIndex: index, table: table) } catch {
                    log.warning("removing route \(route): \(error)")
                }
            }
            for address in installedAddresses.reversed() {
                do { try netlink.removeAddress(address, interfaceIndex: index) } catch {
                    log.warning("removing address \(address): \(error)")
                }
            }
        }
        // Closing a non-persistent TUN device deletes the interface with it.
        tun.close()
    }
}

/// Environment switches for tests only; documented in docs/OPERATIONS.md.
struct TestKnobs {
    var rekeyAfterTime: UInt64?
    var underLoad = false

    init() {
        if let text = getenv("WARREN_REKEY_AFTER_TIME").map({ String(cString: $0) }), let seconds = UInt64(text), seconds > 0 {
            rekeyAfterTime = seconds * 1_000_000_000
        }
        underLoad = getenv("WARREN_UNDER_LOAD").map { String(cString: $0) } == "1"
    }
}

/// Whether the coming shutdown is a `warren down` (everything goes) or a plain stop.
final class ShutdownRequest: Sendable {
    let full = Atomic<Bool>(false)
}

