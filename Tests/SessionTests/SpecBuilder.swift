import WarrenCrypto
import WireGuard
@testable import Session

/// Builds and opens session messages the way docs/SESSION-PROTOCOL.md describes them, from
/// the crypto primitives alone, so the tests hold the code to the document and can make the
/// hostile messages that the real sealers refuse to make.
enum Spec {
    static let requestChainKey = BLAKE2s.hash(Array("warren session v1 request".utf8))
    static let responseChainKey = BLAKE2s.hash(Array("warren session v1 response".utf8))
    static let requestSignatureLabel = Array("warren session request v1".utf8)

    static func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// Request plaintext bytes 0..<160 (everything the signature covers after the cleartext).
    static func requestFields(version: UInt8 = 1, reserved: [UInt8] = [0, 0, 0], consumerKey: [UInt8],
                              wireGuardKey: [UInt8], timestamp: [UInt8], nonce: [UInt8],
                              prices: Tariff, channel: [UInt8]) -> [UInt8] {
        [version] + reserved + consumerKey + wireGuardKey + timestamp + nonce
            + be(prices.perGiB) + be(prices.perMinute) + channel
    }

    static func fixtureFields(consumer: NodeIdentity = Fixture.consumer, nonce: [UInt8] = [UInt8](repeating: 0x5A, count: 16)) -> [UInt8] {
        requestFields(consumerKey: consumer.signingPublicKey, wireGuardKey: consumer.wireGuardPublicKey,
                      timestamp: TAI64N.timestamp(wallNanoseconds: Fixture.now.wall), nonce: nonce,
                      prices: Fixture.maxPrices, channel: Fixture.channelBytes)
    }

    /// The full type 5 datagram: header, e.pub, AEAD(k, 0, fields ‖ signature, ad: first 36 bytes).
    static func request(ephemeralPrivate: [UInt8], to provider: NodeIdentity, fields: [UInt8],
                        signer: NodeIdentity, ephemeralPublic: [UInt8]? = nil) -> [UInt8] {
        let ePub = ephemeralPublic ?? Curve25519.publicKey(privateKey: ephemeralPrivate)
        let clear: [UInt8] = [5, 0, 0, 0] + ePub
        let signature = signer.sign(requestSignatureLabel + clear + fields)
        let dh = Curve25519.sharedSecret(privateKey: ephemeralPrivate, publicKey: provider.wireGuardPublicKey) ?? []
        let key = NoiseKDF.derive(1, key: requestChainKey, input: dh + ePub + provider.wireGuardPublicKey)[0]
        return clear + ChaChaPoly.seal(key: key, counter: 0, plaintext: fields + signature, additionalData: clear)
    }

    /// The provider's response key for `request`, recomputed from the provider's static key.
    static func responseKey(for request: [UInt8], provider: NodeIdentity, responseNonce: [UInt8]) -> [UInt8] {
        let dh = Curve25519.sharedSecret(privateKey: provider.wireGuardPrivateKey, publicKey: Array(request[4..<36])) ?? []
        let digest = BLAKE2s.hash(request, outputLength: 16)
        return NoiseKDF.derive(1, key: responseChainKey, input: dh + digest + responseNonce)[0]
    }

    /// A type 6 datagram with an arbitrary 188-byte plaintext, as a (possibly hostile) provider makes it.
    static func response(plaintext: [UInt8], for request: [UInt8], provider: NodeIdentity,
                         responseNonce: [UInt8] = [UInt8](repeating: 0x33, count: 16)) -> [UInt8] {
        let clear: [UInt8] = [6, 0, 0, 0] + BLAKE2s.hash(request, outputLength: 16) + responseNonce
        let key = responseKey(for: request, provider: provider, responseNonce: responseNonce)
        return clear + ChaChaPoly.seal(key: key, counter: 0, plaintext: plaintext, additionalData: clear)
    }

    /// Decrypts a type 6 datagram the way the document says, returning the 188-byte plaintext.
    static func openResponse(_ response: [UInt8], for request: [UInt8], provider: NodeIdentity) -> [UInt8]? {
        let key = responseKey(for: request, provider: provider, responseNonce: Array(response[20..<36]))
        return ChaChaPoly.open(key: key, counter: 0, ciphertext: Array(response[36...]), additionalData: Array(response[0..<36]))
    }
}
