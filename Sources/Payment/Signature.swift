import CSecp256k1

/// An Ethereum signature: r (32) ‖ s (32) ‖ v (1), v = 27 + the recovery id.
///
/// This is the form `ecrecover` and eth-account take. Only the canonical form is accepted:
/// 0 < r, s < n, s ≤ n/2 (EIP-2's low-s rule, which libsecp256k1's signer always meets), and
/// v of 27 or 28, so a signature has exactly one encoding and cannot be malleated into a
/// second valid one.
public struct Signature: Hashable, Sendable {
    public static let length = 65

    public let bytes: [UInt8]

    /// Validates the encoding; recovering the signer is a separate step.
    public init(bytes: [UInt8]) throws(PaymentError) {
        guard bytes.count == Self.length else { throw .wrongLength(expected: Self.length, actual: bytes.count) }
        let r = Array(bytes[0..<32])
        let s = Array(bytes[32..<64])
        let zero = [UInt8](repeating: 0, count: 32)
        guard r != zero, s != zero, Secp256k1Order.isBelow(r, Secp256k1Order.n),
              Secp256k1Order.isBelow(s, Secp256k1Order.n), bytes[64] == 27 || bytes[64] == 28 else {
            throw .malformedSignature
        }
        guard !Secp256k1Order.isBelow(Secp256k1Order.halfN, s) else { throw .highS }
        self.bytes = bytes
    }

    public var r: [UInt8] { Array(bytes[0..<32]) }
    public var s: [UInt8] { Array(bytes[32..<64]) }
    public var v: UInt8 { bytes[64] }

    /// `ecrecover`: the address whose key made this signature over `digest` (32 bytes), or nil
    /// when no key did (a wrong-length digest, or r not the x of a curve point).
    public func recover(digest: [UInt8]) -> EthereumAddress? {
        guard digest.count == 32 else { return nil }
        let context = Secp256k1Context.shared.pointer
        var recoverable = secp256k1_ecdsa_recoverable_signature()
        let compact = Array(bytes[0..<64])
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(context, &recoverable, compact, Int32(v) - 27) == 1 else {
            return nil
        }
        var publicKey = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context, &publicKey, &recoverable, digest) == 1 else { return nil }
        return EthereumAddress(publicKey: WalletKey.serializeUncompressed(publicKey))
    }
}
