import WarrenCrypto

/// One configured peer: its keys, sessions, timers, staged packets and counters.
///
/// Owned by a `Tunnel` and touched only under the tunnel's lock.
public final class Peer: @unchecked Sendable {
    public let publicKey: [UInt8]
    let presharedKey: [UInt8]
    let staticShared: [UInt8]?        // DH(our static, their static); nil for a low-order key
    public internal(set) var endpoint: Endpoint?
    public internal(set) var persistentKeepalive: UInt64   // nanoseconds, 0 = off

    var cookieJar: CookieJar
    var handshake: Noise.InitiatorState?
    var latestTimestamp: [UInt8]?
    var lastInitiationConsumedAt: UInt64?
    var lastInitiationSentAt: UInt64?
    var handshakeAttempts = 0

    var current: Keypair?
    var previous: Keypair?
    var next: Keypair?

    var staged: [[UInt8]] = []

    // Timer deadlines (monotonic ns), named after the events that arm them.
    var retransmitHandshakeAt: UInt64?
    var sendKeepaliveAt: UInt64?
    var newHandshakeAt: UInt64?
    var zeroKeysAt: UInt64?
    var persistentKeepaliveAt: UInt64?
    var needAnotherKeepalive = false
    var sentLastMinuteHandshake = false

    /// IP bytes delivered to and taken from the TUN side (what a provider meters).
    public internal(set) var innerReceivedBytes: UInt64 = 0
    public internal(set) var innerSentBytes: UInt64 = 0
    public internal(set) var receivedBytes: UInt64 = 0
    public internal(set) var sentBytes: UInt64 = 0
    /// An object the embedder attaches to this peer (the provider's billing gate), so that a
    /// per-packet hook finds its state without a lookup. The core never reads it.
    public var attachment: (any AnyObject & Sendable)?
    /// Retransmissions of the handshake initiation now in flight (0 when none is): a peer
    /// that leaves several unanswered has lost our session (a restart, a removed peer).
    public var unansweredHandshakeRetries: Int { retransmitHandshakeAt != nil ? handshakeAttempts : 0 }
    /// Wall-clock nanoseconds of the latest completed handshake, 0 if none.
    public internal(set) var latestHandshakeWall: UInt64 = 0

    init(publicKey: [UInt8], presharedKey: [UInt8]?, ourPrivateKey: [UInt8], endpoint: Endpoint?, persistentKeepaliveSeconds: Int) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey ?? [UInt8](repeating: 0, count: 32)
        staticShared = Curve25519.sharedSecret(privateKey: ourPrivateKey, publicKey: publicKey)
        self.endpoint = endpoint
        persistentKeepalive = UInt64(max(0, persistentKeepaliveSeconds)) * Protocol.second
        cookieJar = CookieJar(peerPublicKey: publicKey)
    }

    /// The keypair to send with, if there is one that may still be used.
    func sendingKeypair(at now: Now) -> Keypair? {
        guard let current, current.age(at: now) < Protocol.rejectAfterTime,
              current.sendCounter < Protocol.rejectAfterMessages else { return nil }
        return current
    }
}
