import CSecp256k1
import WarrenCrypto

/// The agent's payment key: a secp256k1 private key, separate from the Ed25519 node
/// identity, that signs vouchers and invoices the way an Ethereum account signs.
///
/// Keeping it apart from the node identity means the money key can be moved to a wallet or
/// replaced without changing who the node is on the network. The description and the
/// mirror show only the address, so logging a key never writes its secret.
public struct WalletKey: Sendable, CustomStringConvertible, CustomReflectable {
    public static let privateKeyLength = 32

    /// What the wallet key file holds: a version magic, the key, and a checksum.
    static let fileMagic = Array("WRNWK1".utf8)
    public static let serializedLength = 6 + privateKeyLength + 16

    let privateKey: [UInt8]
    /// The uncompressed public key without its 0x04 prefix: X ‖ Y, 64 bytes.
    public let publicKey: [UInt8]
    public let address: EthereumAddress

    /// A key from its 32 bytes; refused when zero or not below the curve order.
    public init(privateKey: [UInt8]) throws(PaymentError) {
        guard privateKey.count == Self.privateKeyLength else {
            throw .wrongLength(expected: Self.privateKeyLength, actual: privateKey.count)
        }
        let context = Secp256k1Context.shared.pointer
        guard secp256k1_ec_seckey_verify(context, privateKey) == 1 else { throw .invalidPrivateKey }
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(context, &point, privateKey) == 1 else { throw .invalidPrivateKey }
        let publicKey = Self.serializeUncompressed(point)
        guard let address = EthereumAddress(publicKey: publicKey) else { throw .invalidPrivateKey }
        self.privateKey = privateKey
        self.publicKey = publicKey
        self.address = address
    }

    /// A fresh key from `entropy` (the system CSPRNG in the agent, a seeded stream in tests).
    public static func generate(entropy: EntropySource) -> WalletKey {
        while true {
            // A random 32-byte string fails only with probability about 2^-128.
            if let key = try? WalletKey(privateKey: entropy.bytes(privateKeyLength)) { return key }
        }
    }

    /// Signs a 32-byte digest (an EIP-712 digest this module computed) with RFC 6979
    /// nonces, so the same digest always gives the same, low-s signature.
    public func sign(digest: [UInt8]) -> Signature {
        precondition(digest.count == 32, "a signed digest is always a 32-byte hash computed here")
        let context = Secp256k1Context.shared.pointer
        var recoverable = secp256k1_ecdsa_recoverable_signature()
        let signed = secp256k1_ecdsa_sign_recoverable(context, &recoverable, digest, privateKey, nil, nil)
        // Fails only for an invalid key, which the initialiser refused.
        precondition(signed == 1, "libsecp256k1 refused a checked key")
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryID: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &compact, &recoveryID, &recoverable)
        do {
            return try Signature(bytes: compact + [UInt8(27 + recoveryID)])
        } catch {
            preconditionFailure("libsecp256k1 produced a non-canonical signature: \(error)")
        }
    }

    // MARK: The wallet key file

    /// The bytes of the wallet key file (mode 0600): `WRNWK1`, the key, and BLAKE2s-128 of
    /// the preceding 38 bytes, so a torn or foreign file is detected instead of silently
    /// becoming a different wallet.
    public func serialized() -> [UInt8] {
        let body = Self.fileMagic + privateKey
        return body + BLAKE2s.hash(body, outputLength: 16)
    }

    /// Reads a wallet key file; nil on a wrong length, magic, checksum or key.
    public init?(serialized bytes: [UInt8]) {
        guard bytes.count == Self.serializedLength, Array(bytes[0..<6]) == Self.fileMagic else { return nil }
        let body = Array(bytes[0..<(6 + Self.privateKeyLength)])
        let checksum = Array(bytes[(6 + Self.privateKeyLength)...])
        guard Sodium.constantTimeEqual(BLAKE2s.hash(body, outputLength: 16), checksum) else { return nil }
        try? self.init(privateKey: Array(bytes[6..<(6 + Self.privateKeyLength)]))
    }

    public var description: String { "WalletKey(\(address))" }

    public var customMirror: Mirror { Mirror(self, children: ["address": address]) }

    /// X ‖ Y of a parsed point (the 65-byte uncompressed form without its 0x04).
    static func serializeUncompressed(_ point: secp256k1_pubkey) -> [UInt8] {
        var point = point
        var out = [UInt8](repeating: 0, count: 65)
        var length = 65
        _ = secp256k1_ec_pubkey_serialize(Secp256k1Context.shared.pointer, &out, &length, &point,
                                          UInt32(SECP256K1_EC_UNCOMPRESSED))
        return Array(out[1..<65])
    }
}
