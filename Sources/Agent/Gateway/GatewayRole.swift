import PacketPath
import WireGuard

/// A gateway without an exit session (its upstream is a configured WireGuard peer): it
/// decides nothing per packet or per tick beyond a plain tunnel. Its work (the kill switch,
/// LAN forwarding, policy routing) is in nftables and routes, set up once by `Gateway`. A
/// gateway that uses a warren exit runs `ConsumerRole`.
struct GatewayRole: DataPlaneRole {}
