import PacketPath
import WireGuard

/// A consumer of a provider's exit: answers to its session requests go to the
/// `ExitSessionKeeper`, which also checks once a second that the provider still answers
/// (and renews the session when it does not). Packets pass: paying is the consumer's own
/// business, on the payment port inside the tunnel.
struct ConsumerRole: DataPlaneRole {
    let keeper: ExitSessionKeeper

    func sessionMessage(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram]? {
        keeper.offer(message, from: source)
    }
    func housekeeping(now: Now, plane: DataPlane) {
        keeper.housekeeping(now: now, plane: plane)
    }
}
