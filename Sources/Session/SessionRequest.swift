import WarrenCrypto
import WireGuard

// Type 5: the consumer's request, sealed to the provider's static key and signed by the
// consumer's identity.
//
//   consumer                                              provider
//   e = fresh X25519 key
//   k = KDF1(HASH(label), DH(e, S) ‖ e.pub ‖ S.pub)
//   05 000000 ‖ e.pub ‖ AEAD(k, 0, fields ‖ sig, ad: first 36 bytes)  ──▶  DH(S, e.pub) gives k
//
// Only the holder of S can open the box; only the holder of the consumer's identity key can
// make the signature inside it; the signature covers e.pub, so nobody can re-wrap a captured
// request under another ephemeral key. Nothing identifying the consumer is in the clear.

/// The consumer's half of a request in flight: what it needs to open the provider's answer.
///
/// It holds the Diffie-Hellman secret of the request's ephemeral key, so it is as sensitive as
/// that key and is dropped once the answer has arrived.
public struct SessionRequestSecret: Sendable {
    /// BLAKE2s-128 of the whole request datagram; the response repeats it.
    public let requestDigest: [UInt8]
    public let provider: PublicIdentity
    let sharedSecret: [UInt8]
}

/// Builds type 5 messages (the consumer side).
public enum SessionRequest {
    /// Seals a request to `provider`.
    ///
    /// - Parameters:
    ///   - wireGuardPublicKey: the key the consumer's tunnel will use; the identity's own
    ///     X25519 form unless the consumer keeps a separate tunnel key.
    ///   - maxPrices: the most the consumer accepts; a provider asking more refuses with its prices.
    ///   - channel: the id of the payment channel opened for this provider (its 32 bytes, as
    ///     Payment's `ChannelID` holds them), or nil. The session layer carries it, nothing more.
    ///   - now: only `now.wall` is used, for the TAI64N timestamp.
    ///   - entropy: gives the ephemeral key and the 16-byte nonce.
    public static func seal(identity: NodeIdentity, wireGuardPublicKey: [UInt8]? = nil, provider: PublicIdentity,
                            maxPrices: Tariff, channel: [UInt8]?, now: Now,
                            entropy: EntropySource) throws(SessionError) -> (bytes: [UInt8], secret: SessionRequestSecret) {
        if let channel, channel.count != SessionLayout.channelLength { throw .invalidField("payment channel") }
        let tunnelKey = wireGuardPublicKey ?? identity.wireGuardPublicKey
        guard tunnelKey.count == SessionLayout.keyLength, tunnelKey.contains(where: { $0 != 0 }) else {
            throw .invalidField("consumer WireGuard key")
        }
        var ephemeralPrivate = entropy.bytes(SessionLayout.keyLength)
        Curve25519.clamp(&ephemeralPrivate)
        defer { Sodium.wipe(&ephemeralPrivate) }
        let ephemeralPublic = Curve25519.publicKey(privateKey: ephemeralPrivate)
        guard let shared = Curve25519.sharedSecret(privateKey: ephemeralPrivate, publicKey: provider.wireGuardPublicKey) else {
            throw .weakKey
        }

        var clear = WireWriter(capacity: SessionLayout.requestClearLength)
        clear.append(SessionMessageType.request.rawValue)
        clear.zeros(3)
        clear.append(ephemeralPublic)

        var fields = WireWriter(capacity: SessionLayout.requestPlaintextLength)
        fields.append(SessionLayout.requestVersion)
        fields.zeros(3)
        fields.append(identity.signingPublicKey)
        fields.append(tunnelKey)
        fields.append(TAI64N.timestamp(wallNanoseconds: now.wall))
        fields.append(entropy.bytes(SessionLayout.nonceLength))
        fields.append(bigEndian: maxPrices.perGiB)
        fields.append(bigEndian: maxPrices.perMinute)
        if let channel { fields.append(channel) } else { fields.zeros(SessionLayout.channelLength) }
        let signature = identity.sign(SessionLabel.requestSignature + clear.bytes + fields.bytes)

        var key = requestKey(shared: shared, ephemeralPublic: ephemeralPublic, providerStatic: provider.wireGuardPublicKey)
        defer { Sodium.wipe(&key) }
        let box = ChaChaPoly.seal(key: key, counter: 0, plaintext: fields.bytes + signature, additionalData: clear.bytes)
        let bytes = clear.bytes + box
        let digest = bytes.withUnsafeBytes { sessionDigest($0) }
        return (bytes, SessionRequestSecret(requestDigest: digest, provider: provider, sharedSecret: shared))
    }

    /// k = KDF1(HASH("warren session v1 request"), DH ‖ e.pub ‖ S.pub): binding both public keys
    /// ties the key to this ephemeral and this provider, not just to the DH output.
    static func requestKey(shared: [UInt8], ephemeralPublic: [UInt8], providerStatic: [UInt8]) -> [UInt8] {
        NoiseKDF.derive(1, key: SessionLabel.requestChainKey, input: shared + ephemeralPublic + providerStatic)[0]
    }
}

/// A request the provider has decrypted and whose signature it has checked.
///
/// Opening proves who sent it, not that it is fresh: `SessionAdmission.admitRequest` decides
/// that (timestamp window and nonce), before any session state exists.
public struct OpenedSessionRequest: Sendable {
    public let consumer: PublicIdentity
    public let consumerWireGuardKey: [UInt8]
    /// The TAI64N label as sent, and the Unix time it names.
    public let timestamp: [UInt8]
    public let wallNanoseconds: UInt64
    /// 16 random bytes: with the consumer identity, what the replay guard remembers.
    public let nonce: [UInt8]
    public let maxPrices: Tariff
    /// The payment channel's 32 id bytes, or nil when the request names none (all zeros).
    public let channel: [UInt8]?
    /// BLAKE2s-128 of the whole datagram, which the response repeats.
    public let requestDigest: [UInt8]
    /// DH(S, e): the response key derives from it, so only this request's sender can open it.
    let sharedSecret: [UInt8]

    /// Opens a type 5 datagram with the provider's identity: checks type and exact length,
    /// then the AEAD, then the version, then the consumer's signature.
    public static func open(_ bytes: UnsafeRawBufferPointer, providerIdentity: NodeIdentity) throws(SessionError) -> OpenedSessionRequest {
        try checkHeader(bytes, type: .request, length: SessionLayout.requestLength)
        let clear = Array(bytes[0..<SessionLayout.requestClearLength])
        let ephemeralPublic = Array(clear[SessionLayout.headerLength...])
        guard let shared = Curve25519.sharedSecret(privateKey: providerIdentity.wireGuardPrivateKey, publicKey: ephemeralPublic) else {
            throw .weakKey
        }
        var key = SessionRequest.requestKey(shared: shared, ephemeralPublic: ephemeralPublic,
                                            providerStatic: providerIdentity.wireGuardPublicKey)
        defer { Sodium.wipe(&key) }
        guard let plaintext = ChaChaPoly.open(key: key, counter: 0, ciphertext: Array(bytes[SessionLayout.requestClearLength...]),
                                              additionalData: clear) else { throw .authenticationFailed }

        var reader = WireReader(plaintext)
        let version = reader.uint8()
        guard version == SessionLayout.requestVersion else { throw .unsupportedVersion(version) }
        guard reader.take(3) == [0, 0, 0] else { throw .nonZeroReserved }
        guard let consumer = PublicIdentity(signingPublicKey: reader.take(SessionLayout.keyLength)) else {
            throw .invalidField("consumer identity")
        }
        let tunnelKey = reader.take(SessionLayout.keyLength)
        let timestamp = reader.take(SessionLayout.timestampLength)
        let nonce = reader.take(SessionLayout.nonceLength)
        let maxPrices = Tariff(perGiB: reader.unsigned(UInt128.self), perMinute: reader.unsigned(UInt128.self))
        let channelBytes = reader.take(SessionLayout.channelLength)
        let signature = reader.take(SessionLayout.signatureLength)
        let signed = SessionLabel.requestSignature + clear + plaintext[0..<SessionLayout.requestSignedFieldsLength]
        guard NodeIdentity.verify(signature: signature, message: signed, publicKey: consumer.signingPublicKey) else {
            throw .badSignature
        }
        guard tunnelKey.contains(where: { $0 != 0 }) else { throw .invalidField("consumer WireGuard key") }
        guard let wall = decodeTAI64N(timestamp) else { throw .invalidField("timestamp") }
        return OpenedSessionRequest(
            consumer: consumer, consumerWireGuardKey: tunnelKey, timestamp: timestamp, wallNanoseconds: wall, nonce: nonce,
            maxPrices: maxPrices, channel: channelBytes.allSatisfy { $0 == 0 } ? nil : channelBytes, requestDigest: sessionDigest(bytes),
            sharedSecret: shared)
    }

    public static func open(_ bytes: [UInt8], providerIdentity: NodeIdentity) throws(SessionError) -> OpenedSessionRequest {
        try bytes.withUnsafeBytes { raw in Result { () throws(SessionError) in try open(raw, providerIdentity: providerIdentity) } }.get()
    }
}
