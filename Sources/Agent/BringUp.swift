import Configuration
import Glibc
import LinuxPlatform
import PacketPath
import Payment
import Policy
import Session
import WarrenCrypto
import WireGuard

// The steps of `warren up`, in order. Each host change goes through the journal before it is
// made; a step that fails throws, and `run` undoes the journal (one list, one way back).
//
//   identity -> provider (and its billing) -> policy routing chosen -> kill switch armed
//   -> UDP socket -> exit session (and its payment; the kill switch again, now knowing the
//   tunnel's addresses) -> socket mark -> tunnel -> TUN device -> addresses and routes
//   -> provider's host side (DNS, nftables, forwarding) -> data plane with its role
//   -> payment sockets -> control socket -> data plane threads

extension TunnelAgent {
    /// What a started agent runs with, for the stop.
    struct Running {
        var socket: UDPSocket
        var control: ControlSocketListener
        var provider: ProviderService?
        var consumer: ConsumerSide?
    }

    /// A consumer's session with its provider, and what it pays.
    struct ConsumerSide {
        var identity: NodeIdentity
        var opened: ExitSession.Opened
        var payment: ConsumerPayment?
        var keeper: ExitSessionKeeper?

        /// The last invoice is paid before the close, so the provider's claim equals our last
        /// voucher; then the provider hears at once that we are gone, so it frees our addresses
        /// without waiting for the idle timeout.
        func end(socket: UDPSocket, clock: TimeSource) {
            if let payment {
                payment.finish()
                usleep(200_000)      // the last voucher is on its way through the tunnel
            }
            var session = opened
            if let keeper { session.grant = keeper.grant }
            TunnelAgent.sendClose(identity: identity, session: session, socket: socket, now: clock.now())
        }
    }

    func bringUp(journal: HostJournal) throws(AgentError) -> Running {
        let identity = try loadIdentity()
        let provider = try prepareProvider(identity: identity)
        let routing = try chooseRouting(journal: journal)
        // The kill switch goes in before anything can forward (and again once the session is known).
        try armKillSwitch(routing: routing, preliminary: exitConfig != nil, journal: journal)
        let socket = try openSocket()
        var consumer = try openExitSession(identity: identity, socket: socket)
        if consumer != nil { try armKillSwitch(routing: routing, preliminary: false, journal: journal) }
        let mark = try markSocket(socket, routing: routing)
        let (tunnel, peerCount) = try makeTunnel()
        let tun = try createDevice()
        try routeInterface(tun, routing: routing, mark: mark, journal: journal)
        if let provider { try startProvider(provider, journal: journal) }
        if var side = consumer, let providerKey = config.peers.last?.publicKey {
            side.keeper = ExitSessionKeeper(identity: side.identity, opened: side.opened, providerKey: providerKey,
                                            payment: side.payment, shutdown: shutdown, clock: clock, log: log)
            consumer = side
        }
        let plane = DataPlane(tunnel: tunnel, device: tun, socket: socket, role: role(provider: provider, consumer: consumer),
                              clock: clock, log: log, forcedUnderLoad: knobs.underLoad)
        try startPayments(plane: plane, provider: provider, consumer: consumer)
        let control = try serveControl(plane: plane, socket: socket, identity: identity, provider: provider, consumer: consumer)
        do { try plane.start() } catch {
            control.close()
            throw .platform(step: "starting the data plane", error)
        }
        log.info("interface \(tun.name) up: listening on UDP port \(socket.localPort), mtu \(tunnel.mtu), \(peerCount) peer(s), control socket \(AgentOptions.controlSocketPath(runDirectory: options.runDirectory, interface: tun.name))")
        return Running(socket: socket, control: control, provider: provider, consumer: consumer)
    }

    /// Whether the interface routes everything (a /0 peer, or a consumer's exit): then it is
    /// policy-routed, as wg-quick does it.
    var routesDefault: Bool {
        exitConfig != nil || config.peers.contains { $0.allowedIPs.contains { $0.length == 0 } }
    }

    /// Provider and consumer use the node identity's X25519 form as the WireGuard key.
    private func loadIdentity() throws(AgentError) -> NodeIdentity? {
        guard providerConfig != nil || exitConfig != nil else { return nil }
        let identity = try IdentityStore.loadOrCreate(stateDirectory: options.stateDirectory)
        if config.interface.privateKey.isEmpty { config.interface.privateKey = identity.wireGuardPrivateKey }
        return identity
    }

    /// The provider's sessions and, when it charges, its billing (channel files, ledger).
    private func prepareProvider(identity: NodeIdentity?) throws(AgentError) -> ProviderService? {
        guard let providerConfig, let identity else { return nil }
        let service = try makeProvider(providerConfig, identity: identity)
        config.interface.addresses += service.providerAddresses
        if providerConfig.price != .free {
            service.billing = try ProviderBilling.start(stateDirectory: options.stateDirectory, config: providerConfig.payment,
                                                        tariff: providerConfig.price, overchargePercent: knobs.overchargePercent,
                                                        clock: clock, log: log)
        }
        return service
    }

    /// An interface routed by policy gets its own mark, routing table and rule priorities,
    /// chosen beside the other interfaces' and recorded before any rule exists.
    private func chooseRouting(journal: HostJournal) throws(AgentError) -> PolicyRouting? {
        guard gatewayConfig != nil || routesDefault else { return nil }
        var requestedTable: UInt32?
        if case .number(let number) = config.interface.table { requestedTable = number }
        return try journal.chooseRouting(mark: config.interface.fwMark, table: requestedTable, installed: {
            guard let netlink = try? RouteNetlink() else { return [] }
            return ((try? netlink.rules(family: AF_INET)) ?? []) + ((try? netlink.rules(family: AF_INET6)) ?? [])
        }, file: options.configPath)
    }

    /// A gateway's nftables table with its kill switch (Gateway/GatewayRuleset.swift).
    private func armKillSwitch(routing: PolicyRouting?, preliminary: Bool, journal: HostJournal) throws(AgentError) {
        guard let gatewayConfig, let routing else { return }
        let gateway = try Gateway(config: gatewayConfig, tunnel: config, interface: options.interface, routing: routing,
                                  stateDirectory: options.stateDirectory, file: options.configPath, log: log, preliminary: preliminary)
        self.gateway = gateway
        try gateway.armKillSwitch(journal: journal)
    }

    private func openSocket() throws(AgentError) -> UDPSocket {
        do {
            let socket = try UDPSocket(port: config.interface.listenPort ?? 0)
            // As wireguard-go: 7 MiB each way, so bursts at line rate are not dropped between reads.
            if !socket.setBufferSizes(7 << 20) { log.warning("UDP buffers capped by net.core.rmem_max/wmem_max (no CAP_NET_ADMIN)") }
            return socket
        } catch {
            throw .platform(step: "opening UDP port \(config.interface.listenPort ?? 0)", error)
        }
    }

    /// A consumer's session (refused at today's spending cap before it is asked for) and, when
    /// the provider charges, its payment channel.
    private func openExitSession(identity: NodeIdentity?, socket: UDPSocket) throws(AgentError) -> ConsumerSide? {
        guard let exitConfig, let identity else { return nil }
        if let reason = ConsumerPayment.capReachedToday(stateDirectory: options.stateDirectory, config: exitConfig.payment,
                                                        now: clock.now().wall / 1_000_000_000) {
            throw .spendingCap(reason)
        }
        let opened = try openExit(exitConfig, identity: identity, socket: socket)
        var side = ConsumerSide(identity: identity, opened: opened)
        if let wallet = opened.grant.providerWallet.flatMap(EthereumAddress.init(bytes:)), opened.grant.prices != .free {
            do {
                side.payment = try ConsumerPayment.start(stateDirectory: options.stateDirectory, config: exitConfig.payment, grant: opened.grant,
                                                         providerWallet: wallet, stopPayingAfter: knobs.stopPayingAfter, shutdown: shutdown,
                                                         clock: clock, log: log, file: options.configPath)
            } catch {
                Self.sendClose(identity: identity, session: opened, socket: socket, now: clock.now())
                throw error
            }
        }
        return side
    }

    /// The mark keeps the tunnel's own datagrams on the main table (no routing loop) when a
    /// default route goes through the tunnel.
    private func markSocket(_ socket: UDPSocket, routing: PolicyRouting?) throws(AgentError) -> UInt32? {
        let mark: UInt32? = gateway?.mark ?? config.interface.fwMark ?? (routesDefault ? routing?.mark : nil)
        if let mark {
            do { try socket.setFirewallMark(mark) } catch { throw .platform(step: "marking the UDP socket", error) }
        }
        return mark
    }

    private func makeTunnel() throws(AgentError) -> (Tunnel, peers: Int) {
        let peers = try resolvePeers()
        let tunnel = Tunnel(privateKey: config.interface.privateKey, mtu: config.interface.mtu ?? 1420, entropy: SystemEntropy())
        if let rekey = knobs.rekeyAfterTime { tunnel.rekeyAfterTime = rekey }
        for (peer, endpoint) in peers {
            tunnel.addPeer(publicKey: peer.publicKey, presharedKey: peer.presharedKey, endpoint: endpoint,
                           allowedIPs: peer.allowedIPs, persistentKeepaliveSeconds: peer.persistentKeepalive ?? 0)
        }
        return (tunnel, peers.count)
    }

    private func createDevice() throws(AgentError) -> TUNDevice {
        let name = options.interfaceName
        let device: TUNDevice
        do { device = try TUNDevice.create(name: name) } catch { throw .platform(step: "creating interface \(name)", error) }
        tun = device        // closed by the stop, or by the undo of a failed start
        return device
    }

    /// Addresses and routes on the device, then the gateway's or the full tunnel's policy routing.
    private func routeInterface(_ tun: TUNDevice, routing: PolicyRouting?, mark: UInt32?, journal: HostJournal) throws(AgentError) {
        let netlink: RouteNetlink
        do { netlink = try RouteNetlink() } catch { throw .platform(step: "opening netlink", error) }
        let policyRouted = mark != nil && routesDefault
        try configureInterface(netlink: netlink, tun: tun, mtu: config.interface.mtu ?? 1420, policyRouted: policyRouted,
                               routingTable: routing?.table ?? RouteNetlink.mainTable)
        if let gateway {
            try gateway.routeThroughTunnel(netlink, journal: journal)
        } else if routesDefault, let routing {
            try installDefaultRouting(netlink, routing: routing, journal: journal)
        }
    }

    /// What the data plane asks per packet and per tick: one role per node.
    private func role(provider: ProviderService?, consumer: ConsumerSide?) -> any DataPlaneRole {
        if let provider { return ProviderRole(service: provider) }
        if let keeper = consumer?.keeper { return ConsumerRole(keeper: keeper) }
        if gateway != nil { return GatewayRole() }
        return PlainTunnelRole()
    }

    /// UDP 4747 on the tunnel addresses: the provider's invoices out and vouchers in, the
    /// consumer's the other way. Both need the data plane (the consumer counts its bytes there).
    private func startPayments(plane: DataPlane, provider: ProviderService?, consumer: ConsumerSide?) throws(AgentError) {
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
        guard let consumer, let payment = consumer.payment else { return }
        let grant = consumer.opened.grant
        let providerKey = config.peers.last?.publicKey ?? []
        payment.counts = { [plane] in
            plane.tunnel.withLock { tunnel in
                let peer = tunnel.peer(publicKey: providerKey)
                return (peer?.innerSentBytes ?? 0, peer?.innerReceivedBytes ?? 0)
            }
        }
        guard let own = grant.consumerIPv4?.address ?? grant.consumerIPv6?.address,
              let paymentTarget = grant.providerTunnelIPv4 ?? grant.providerTunnelIPv6 else {
            throw .session("the provider charges but gave no tunnel address to pay to: it is not a warren provider this version can pay")
        }
        do { try payment.start(tunnelAddress: own, providerAddress: paymentTarget) } catch {
            throw .platform(step: "opening the payment port \(PaymentPort.number) on \(own)", error)
        }
    }

    private func serveControl(plane: DataPlane, socket: UDPSocket, identity: NodeIdentity?, provider: ProviderService?,
                              consumer: ConsumerSide?) throws(AgentError) -> ControlSocketListener {
        let control: ControlSocketListener
        do {
            control = try ControlSocketListener(path: AgentOptions.controlSocketPath(runDirectory: options.runDirectory, interface: options.interfaceName))
        } catch {
            throw .platform(step: "opening the control socket", error)
        }
        let exitStatus = consumer.map { side in
            ExitStatus(provider: exitConfig?.provider ?? "", sessionID: side.opened.grant.sessionID,
                       addresses: [side.opened.grant.consumerIPv4, side.opened.grant.consumerIPv6].compactMap { $0?.description })
        }
        let commands = ControlCommands(
            plane: plane, shutdown: shutdown, interface: options.interfaceName, listenPort: Int(socket.localPort),
            addresses: config.interface.addresses, dns: config.interface.dns,
            presharedKeys: Set(config.peers.filter { $0.presharedKey != nil }.map(\.publicKey)),
            identity: identity.map { $0.publicIdentity.description }, gateway: gateway, provider: provider,
            exit: exitStatus, payment: consumer?.payment)
        control.serve { request in commands.answer(request) }
        return control
    }

    static func sendClose(identity: NodeIdentity, session: ExitSession.Opened, socket: UDPSocket, now: Now) {
        guard let target = SocketAddress(session.endpoint) else { return }
        let close = SessionClose.make(identity: identity, sessionID: session.grant.sessionID, now: now)
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
                               hostAddresses: InterfaceAddresses.all().compactMap { IPAddress(bytes: $0) }, mtu: config.interface.mtu ?? 1420,
                               clock: clock, log: log)
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
        let limit = exitConfig.maxPrice ?? .unlimited
        let opened = try ExitSession.open(socket: socket, identity: identity, provider: address, maxPrices: limit, clock: clock, log: log)
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
