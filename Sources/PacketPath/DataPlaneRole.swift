import Session
import WireGuard

/// What the node is for the data plane (a plain tunnel, a gateway, a provider, a consumer):
/// asked per packet and per tick. The data plane holds one from its start; nothing is
/// assigned later.
///
/// Locks: `admitOutbound` runs under the tunnel's lock (between `Tunnel.route` and
/// `Tunnel.prepareSend`), so it may take only locks that are always taken after the
/// tunnel's (the provider's lock: order tunnel, then provider) and must not call the tunnel.
/// The others run outside it.
public protocol DataPlaneRole: Sendable {
    /// A datagram of warren's session protocol (`DataPlaneRoles.sessionMessageTypes`) on the
    /// WireGuard port; returns the answers to send, or nil when this role speaks no session
    /// protocol (the tunnel then drops the datagram as malformed, as any WireGuard peer would).
    func sessionMessage(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram]?
    /// A decrypted packet from `peer`, before the TUN device; false drops it (counted).
    func admitInbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool
    /// A packet routed to `peer`, before it uses a nonce; false drops it (the tunnel counts it
    /// as withheld). Tunnel lock held.
    func admitOutbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool
    /// Once a second, on the timer thread; `plane` is the data plane asking.
    func housekeeping(now: Now, plane: DataPlane)
}

public enum DataPlaneRoles {
    /// Message types of the session protocol, which share the WireGuard port (WireGuard's
    /// own are 1–4).
    public static let sessionMessageTypes: ClosedRange<UInt8> = SessionMessageType.request.rawValue...SessionMessageType.close.rawValue
}

extension DataPlaneRole {
    /// What a role without an opinion does, as a plain WireGuard tunnel: speaks no session
    /// protocol, passes every packet both ways, keeps no time. A role writes only what it decides.
    public func sessionMessage(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram]? { nil }
    public func admitInbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool { true }
    public func admitOutbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool { true }
    public func housekeeping(now: Now, plane: DataPlane) {}
}

/// A plain WireGuard tunnel: the defaults, nothing more.
public struct PlainTunnelRole: DataPlaneRole {
    public init() {}
}
