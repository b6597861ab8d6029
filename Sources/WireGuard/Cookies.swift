import WarrenCrypto

/// MAC1/MAC2 and cookie replies (paper, section 5.4.7): the DoS defence.
///
/// MAC1 proves the sender knows our public key; under load we also demand
/// MAC2, keyed by a cookie bound to the sender's address that we hand out in
/// a cookie reply, so a flood from spoofed addresses costs us no DH.
public struct CookieChecker: Sendable {
    let mac1Key: [UInt8]
    let cookieKey: [UInt8]
    private var secret: [UInt8] = []
    private var secretCreatedAt: UInt64 = 0

    public init(publicKey: [UInt8]) {
        mac1Key = BLAKE2s.hash(Protocol.labelMAC1, publicKey)
        cookieKey = BLAKE2s.hash(Protocol.labelCookie, publicKey)
    }

    public func mac1IsValid(_ message: UnsafeRawBufferPointer) -> Bool {
        let offset = MessageLayout.mac1Offset(messageLength: message.count)
        let expected = BLAKE2s.hash(Array(message[0..<offset]), outputLength: 16, key: mac1Key)
        return Sodium.constantTimeEqual(expected, Array(message[offset..<(offset + 16)]))
    }

    public mutating func mac2IsValid(_ message: UnsafeRawBufferPointer, source: Endpoint, now: Now, entropy: EntropySource) -> Bool {
        let offset = MessageLayout.mac2Offset(messageLength: message.count)
        let expected = BLAKE2s.hash(Array(message[0..<offset]), outputLength: 16, key: cookie(for: source, now: now, entropy: entropy))
        return Sodium.constantTimeEqual(expected, Array(message[offset..<(offset + 16)]))
    }

    /// The reply that hands `source` a cookie, bound to the MAC1 of the message it sent.
    public mutating func reply(to message: UnsafeRawBufferPointer, senderIndex: UInt32, source: Endpoint, now: Now,
                               entropy: EntropySource) -> CookieReply {
        let offset = MessageLayout.mac1Offset(messageLength: message.count)
        let mac1 = Array(message[offset..<(offset + 16)])
        let nonce = entropy.bytes(XChaChaPoly.nonceLength)
        let sealed = XChaChaPoly.seal(key: cookieKey, nonce: nonce, plaintext: cookie(for: source, now: now, entropy: entropy), additionalData: mac1)
        return CookieReply(receiverIndex: senderIndex, nonce: nonce, encryptedCookie: sealed)
    }

    private mutating func cookie(for source: Endpoint, now: Now, entropy: EntropySource) -> [UInt8] {
        if secret.isEmpty || now.monotonic &- secretCreatedAt >= Protocol.cookieRefreshTime {
            secret = entropy.bytes(32)
            secretCreatedAt = now.monotonic
        }
        let port = [UInt8(source.port >> 8), UInt8(source.port & 0xff)]
        return BLAKE2s.hash(source.address.bytes, port, outputLength: 16, key: secret)
    }
}

/// The initiator's side: MACs for messages we send to one peer, and the cookie it gave us.
public struct CookieJar: Sendable {
    let mac1Key: [UInt8]
    let cookieKey: [UInt8]
    private var cookie: [UInt8]?
    private var cookieReceivedAt: UInt64 = 0
    private var lastMAC1: [UInt8]?

    public init(peerPublicKey: [UInt8]) {
        mac1Key = BLAKE2s.hash(Protocol.labelMAC1, peerPublicKey)
        cookieKey = BLAKE2s.hash(Protocol.labelCookie, peerPublicKey)
    }

    /// Fills MAC1 and (with a fresh cookie) MAC2 of a serialized handshake message.
    public mutating func stamp(_ message: inout [UInt8], now: Now) {
        let mac1Offset = MessageLayout.mac1Offset(messageLength: message.count)
        let mac1 = BLAKE2s.hash(Array(message[0..<mac1Offset]), outputLength: 16, key: mac1Key)
        message.replaceSubrange(mac1Offset..<(mac1Offset + 16), with: mac1)
        lastMAC1 = mac1
        let mac2Offset = MessageLayout.mac2Offset(messageLength: message.count)
        // A cookie is only good for CookieRefreshTime minus the slack the responder may need.
        if let cookie, now.monotonic &- cookieReceivedAt < Protocol.cookieRefreshTime - Protocol.rekeyTimeout {
            let mac2 = BLAKE2s.hash(Array(message[0..<mac2Offset]), outputLength: 16, key: cookie)
            message.replaceSubrange(mac2Offset..<(mac2Offset + 16), with: mac2)
        } else {
            message.replaceSubrange(mac2Offset..<(mac2Offset + 16), with: [UInt8](repeating: 0, count: 16))
        }
    }

    /// Accepts a cookie reply for the last message we stamped; false if it does not decrypt.
    public mutating func consume(_ reply: CookieReply, now: Now) -> Bool {
        guard let lastMAC1,
              let cookie = XChaChaPoly.open(key: cookieKey, nonce: reply.nonce, ciphertext: reply.encryptedCookie, additionalData: lastMAC1)
        else { return false }
        self.cookie = cookie
        cookieReceivedAt = now.monotonic
        return true
    }
}
