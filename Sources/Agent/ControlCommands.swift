import Configuration
import LinuxPlatform
import PacketPath
import WireGuard

/// What the control socket answers: `status` (the agent as JSON, what `warren status` shows)
/// and `down` (stop, and remove the kill switch too). Runs on the control socket's thread.
struct ControlCommands: Sendable {
    let plane: DataPlane
    let shutdown: Shutdown
    let interface: String
    let listenPort: Int
    let addresses: [IPPrefix]
    let dns: [String]
    let presharedKeys: Set<[UInt8]>
    let identity: String?
    let gateway: Gateway?
    let provider: ProviderService?
    let exit: ExitStatus?
    let payment: ConsumerPayment?

    func answer(_ request: String) -> [UInt8] {
        let command = request.split(separator: " ").first.map(String.init) ?? ""
        switch command {
        case "status":
            return status().jsonBytes()
        case "down":
            // The main thread tears down once it sees the reason.
            shutdown.request(.down)
            return Array("{\"ok\":true}".utf8)
        default:
            return Array("{\"error\":\"unknown request\"}".utf8)
        }
    }

    func status() -> AgentStatus {
        var status = plane.tunnel.withLock {
            AgentStatus.snapshot(of: $0, interface: interface, listenPort: listenPort, addresses: addresses, presharedKeys: presharedKeys)
        }
        status.dns = dns
        status.tunWriteErrors = plane.tunWriteErrors.load(ordering: .relaxed)
        status.udpSendErrors = plane.sendErrors.load(ordering: .relaxed)
        status.gateway = gateway?.status()
        status.identity = identity
        status.provider = provider?.status()
        status.exit = exit
        status.payment = payment?.status()
        return status
    }
}
