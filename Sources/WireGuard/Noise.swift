import WarrenCrypto

/// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard instantiates it (paper, section 5.4).
///
/// Pure functions from keys and messages to messages and session keys; who
/// owns the state and when it is sent is decided by `Peer` and `Tunnel`.
public enum Noise {
    static let initialChainingKey = BLAKE2s.hash(Protocol.construction)
    static let initialHash = BLAKE2s.hash(initialChainingKey, Protocol.identifier)

    /// What the initiator keeps between sending message 1 and receiving message 2.
    public struct InitiatorState: Sendable {
        public var localIndex: UInt32
        var ephemeralPrivate: [UInt8]
        var chainingKey: [UInt8]
        var hash: [UInt8]
    }

    /// What the responder learned from a valid initiation.
    public struct ConsumedInitiation: Sendable {
        public var peerStatic: [UInt8]
        public var remoteIndex: UInt32
        public var timestamp: [UInt8]
        var remoteEphemeral: [UInt8]
        var chainingKey: [UInt8]
        var hash: [UInt8]
    }

    /// The two transport keys of a session, from this side's point of view.
    public struct SessionKeys: Sendable, Equatable {
        public var send: [UInt8]
        public var receive: [UInt8]
    }

    static func mix(_ hash: [UInt8], _ data: [UInt8]) -> [UInt8] { BLAKE2s.hash(hash, data) }

    /// Builds message 1 (without MACs) from our identity to `peerStatic`.
    public static func createInitiation(
        ourStaticPrivate: [UInt8], ourStaticPublic: [UInt8], peerStatic: [UInt8], staticShared: [UInt8],
        localIndex: UInt32, ephemeralPrivate: [UInt8], timestamp: [UInt8]
    ) -> (HandshakeInitiation, InitiatorState)? {
        var hash = mix(initialHash, peerStatic)
        let ephemeralPublic = Curve25519.publicKey(privateKey: ephemeralPrivate)
        var chainingKey = NoiseKDF.derive(1, key: initialChainingKey, input: ephemeralPublic)[0]
        hash = mix(hash, ephemeralPublic)
        guard let es = Curve25519.sharedSecret(privateKey: ephemeralPrivate, publicKey: peerStatic) else { return nil }
        var derived = NoiseKDF.derive(2, key: chainingKey, input: es)
        chainingKey = derived[0]
        let encryptedStatic = ChaChaPoly.seal(key: derived[1], counter: 0, plaintext: ourStaticPublic, additionalData: hash)
        hash = mix(hash, encryptedStatic)
        derived = NoiseKDF.derive(2, key: chainingKey, input: staticShared)
        chainingKey = derived[0]
        let encryptedTimestamp = ChaChaPoly.seal(key: derived[1], counter: 0, plaintext: timestamp, additionalData: hash)
        hash = mix(hash, encryptedTimestamp)
        let message = HandshakeInitiation(senderIndex: localIndex, ephemeral: ephemeralPublic,
                                          encryptedStatic: encryptedStatic, encryptedTimestamp: encryptedTimestamp)
        return (message, InitiatorState(localIndex: localIndex, ephemeralPrivate: ephemeralPrivate, chainingKey: chainingKey, hash: hash))
    }

    /// Opens message 1. `staticSharedFor` gives the precomputed DH(our static, their static)
    /// for a configured peer, or nil for a key we do not know.
    public static func consumeInitiation(
        _ message: HandshakeInitiation, ourStaticPrivate: [UInt8], ourStaticPublic: [UInt8],
        staticSharedFor: ([UInt8]) -> [UInt8]?
    ) -> ConsumedInitiation? {
        var hash = mix(initialHash, ourStaticPublic)
        var chainingKey = NoiseKDF.derive(1, key: initialChainingKey, input: message.ephemeral)[0]
        hash = mix(hash, message.ephemeral)
        guard let es = Curve25519.sharedSecret(privateKey: ourStaticPrivate, publicKey: message.ephemeral) else { return nil }
        var derived = NoiseKDF.derive(2, key: chainingKey, input: es)
        chainingKey = derived[0]
        guard let peerStatic = ChaChaPoly.open(key: derived[1], counter: 0, ciphertext: message.encryptedStatic, additionalData: hash),
              let ss = staticSharedFor(peerStatic) else { return nil }
        hash = mix(hash, message.encryptedStatic)
        derived = NoiseKDF.derive(2, key: chainingKey, input: ss)
        chainingKey = derived[0]
        guard let timestamp = ChaChaPoly.open(key: derived[1], counter: 0, ciphertext: message.encryptedTimestamp, additionalData: hash) else { return nil }
        hash = mix(hash, message.encryptedTimestamp)
        return ConsumedInitiation(peerStatic: peerStatic, remoteIndex: message.senderIndex, timestamp: timestamp,
                                  remoteEphemeral: message.ephemeral, chainingKey: chainingKey, hash: hash)
    }

    /// Builds message 2 (without MACs) and the responder's session keys.
    public static func createResponse(
        to consumed: ConsumedInitiation, presharedKey: [UInt8], localIndex: UInt32, ephemeralPrivate: [UInt8]
    ) -> (HandshakeResponse, SessionKeys)? {
        let ephemeralPublic = Curve25519.publicKey(privateKey: ephemeralPrivate)
        var chainingKey = NoiseKDF.derive(1, key: consumed.chainingKey, input: ephemeralPublic)[0]
        var hash = mix(consumed.hash, ephemeralPublic)
        guard let ee = Curve25519.sharedSecret(privateKey: ephemeralPrivate, publicKey: consumed.remoteEphemeral),
              let se = Curve25519.sharedSecret(privateKey: ephemeralPrivate, publicKey: consumed.peerStatic) else { return nil }
        chainingKey = NoiseKDF.derive(1, key: chainingKey, input: ee)[0]
        chainingKey = NoiseKDF.derive(1, key: chainingKey, input: se)[0]
        let derived = NoiseKDF.derive(3, key: chainingKey, input: presharedKey)
        chainingKey = derived[0]
        hash = mix(hash, derived[1])
        let encryptedNothing = ChaChaPoly.seal(key: derived[2], counter: 0, plaintext: [], additionalData: hash)
        let keys = NoiseKDF.derive(2, key: chainingKey, input: [])
        let message = HandshakeResponse(senderIndex: localIndex, receiverIndex: consumed.remoteIndex,
                                        ephemeral: ephemeralPublic, encryptedNothing: encryptedNothing)
        return (message, SessionKeys(send: keys[1], receive: keys[0]))
    }

    /// Opens message 2 with the state kept from message 1; gives the initiator's session keys.
    public static func consumeResponse(
        _ message: HandshakeResponse, state: InitiatorState, ourStaticPrivate: [UInt8], presharedKey: [UInt8]
    ) -> SessionKeys? {
        var chainingKey = NoiseKDF.derive(1, key: state.chainingKey, input: message.ephemeral)[0]
        var hash = mix(state.hash, message.ephemeral)
        guard let ee = Curve25519.sharedSecret(privateKey: state.ephemeralPrivate, publicKey: message.ephemeral),
              let se = Curve25519.sharedSecret(privateKey: ourStaticPrivate, publicKey: message.ephemeral) else { return nil }
        chainingKey = NoiseKDF.derive(1, key: chainingKey, input: ee)[0]
        chainingKey = NoiseKDF.derive(1, key: chainingKey, input: se)[0]
        let derived = NoiseKDF.derive(3, key: chainingKey, input: presharedKey)
        chainingKey = derived[0]
        hash = mix(hash, derived[1])
        guard ChaChaPoly.open(key: derived[2], counter: 0, ciphertext: message.encryptedNothing, additionalData: hash) != nil else { return nil }
        let keys = NoiseKDF.derive(2, key: chainingKey, input: [])
        return SessionKeys(send: keys[0], receive: keys[1])
    }
}
