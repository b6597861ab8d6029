import PacketPath
import WireGuard

/// A provider: session requests and closes go to `ProviderService`, every consumer packet
/// in is metered and judged by the exit policy (and billing), every packet out is checked
/// against the consumer's paid allowance, and sessions expire once a second.
struct ProviderRole: DataPlaneRole {
    let service: ProviderService

    func sessionMessage(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram]? {
        service.handle(message, from: source, now: now)
    }
    func admitInbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        service.admitFromConsumer(peer, packet: packet, now: now)
    }
    func admitOutbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        service.admitToConsumer(peer, packet: packet, now: now)
    }
    func housekeeping(now: Now, plane: DataPlane) {
        service.housekeeping(now: now)
    }
}
