import Glibc
import LinuxPlatform
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

    public var description: String {
        switch self {
        case .config(let error):
            return "\(error)"
        case .platform(let step, let error):
            return "\(step): \(error)"
        case .endpoint(let file, let line, let host, let error):
            return "\(file):\(line): Endpoint: \(host): \(error)"
        }
    }
}

/// `warren up`: a WireGuard interface in the foreground until SIGINT/SIGTERM.
public final class TunnelAgent {
    let options: AgentOptions
    let config: TunnelConfig
    let log: EventLog
    private var installedRoutes: [(String, UInt32)] = []
    private var installedAddresses: [String] = []

    let gatewayConfig: GatewayConfig?
    private var gateway: Gateway?
    /// Set by a `down` request: tear down the kill switch too.
    private let fullShutdown = ShutdownRequest()

    public init(options: AgentOptions, config: TunnelConfig, gateway: GatewayConfig?) {
        self.options = options
        self.config = config
        gatewayConfig = gateway
        log = EventLog(prefix: options.interfaceName)
    }

    public static func load(options: AgentOptions) throws(AgentError) -> TunnelAgent {
        do {
            let config = try TunnelConfig.load(path: options.configPath)
            let gateway = try GatewayConfig.from(config, file: options.configPath)
            return TunnelAgent(options: options, config: config, gateway: gateway)
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
        let peers = try resolvePeers()
        let mtu = config.interface.mtu ?? 1420
        let tunnel = Tunnel(privateKey: config.interface.privateKey, mtu: mtu)
        if let rekey = environment.rekeyAfterTime { tunnel.rekeyAfterTime = rekey }
        for (peer, endpoint) in peers {
            tunnel.addPeer(publicKey: peer.publicKey, presharedKey: peer.presharedKey, endpoint: endpoint,
                           allowedIPs: peer.allowedIPs, persistentKeepaliveSeconds: peer.persistentKeepalive ?? 0)
        }

        let name = options.interfaceName
        if let gatewayConfig {
            // The kill switch goes in before anything can forward.
            let gateway = try Gateway(config: gatewayConfig, tunnel: config, interface: name,
                                      stateDirectory: options.stateDirectory, file: options.configPath, log: log)
            try gateway.armKillSwitch()
            self.gateway = gateway
        } else if GatewayState.load(stateDirectory: options.stateDirectory, interface: name) != nil {
            // The gateway was turned off in the config: its kill switch goes with it.
            for line in Gateway.removeEverything(stateDirectory: options.stateDirectory, interface: name, netlink: try? RouteNetlink()) {
                log.info("gateway off in the config: removed \(line)")
            }
        }
        let tun: TUNDevice
        do { tun = try TUNDevice.create(name: name) } catch { throw .platform(step: "creating interface \(name)", error) }
        let socket: UDPSocket
        do {
            socket = try UDPSocket(port: config.interface.listenPort ?? 0)
            // The mark keeps the tunnel's own datagrams on the main table (no routing loop).
            if let mark = gateway?.mark ?? config.interface.fwMark { try socket.setFirewallMark(mark) }
        } catch {
            tun.close()
            throw .platform(step: "opening UDP port \(config.interface.listenPort ?? 0)", error)
        }

        let netlink: RouteNetlink
        do {
            netlink = try RouteNetlink()
            try configureInterface(netlink: netlink, tun: tun, mtu: mtu)
            try gateway?.routeThroughTunnel(netlink)
        } catch let error as AgentError {
            tun.close()
            throw error
        } catch {
            tun.close()
            throw .platform(step: "configuring \(name)", error as? PlatformError ?? PlatformError(call: "netlink", errno: 0, message: "\(error)"))
        }

        let plane = DataPlane(tunnel: tunnel, tun: tun, socket: socket, log: log, forcedUnderLoad: environment.underLoad)
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
        control.serve { [plane] request in
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
        control.close()
        teardown(netlink: netlink, tun: tun)
        if fullShutdown.full.load(ordering: .sequentiallyConsistent) {
            for line in Gateway.removeEverything(stateDirectory: options.stateDirectory, interface: interfaceName, netlink: netlink) {
                log.info("down: removed \(line)")
            }
        } else if gateway != nil {
            log.info("kill switch stays armed while the agent is down; `warren down` removes it")
        }
        return 0
    }

    /// Creates the state directory (0700) if needed; later roles keep keys and channels there.
    private func prepareStateDirectory() throws(AgentError) {
        var path = options.stateDirectory.hasPrefix("/") ? "" : "."
        for component in options.stateDirectory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                let code = errno
                throw .platform(step: "creating state directory \(options.stateDirectory)",
                                PlatformError(call: "mkdir", errno: code,
                                              message: "cannot create \(path): choose another directory with --state-dir or fix its permissions"))
            }
        }
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

    private func configureInterface(netlink: RouteNetlink, tun: TUNDevice, mtu: Int) throws(AgentError) {
        let name = tun.name
        let index: Int32
        do { index = try netlink.interfaceIndex(named: name) } catch { throw .platform(step: "finding \(name)", error) }
        do { try netlink.setLink(index: index, up: false, mtu: mtu) } catch { throw .platform(step: "setting MTU \(mtu) on \(name)", error) }
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
        case .off where gateway == nil: return
        case _ where gateway != nil: table = gateway?.table ?? Gateway.defaultMark
        case .number(let number): table = number
        default: table = RouteNetlink.mainTable
        }
        for peer in config.peers {
            for prefix in peer.allowedIPs {
                let network = prefix.network
                if network.length == 0 && gateway == nil {
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

    private func teardown(netlink: RouteNetlink, tun: TUNDevice) {
        gateway?.stopRouting(netlink)
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
