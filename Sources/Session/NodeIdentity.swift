import CSodium
import WarrenCrypto
import WireGuard

/// libsodium must be initialised before any call; this module's entry points check it once.
let sodiumReady: Bool = sodium_init() >= 0

@inline(__always)
func ensureSodium() {
    // sodium_init fails only when no entropy source can be opened: nothing is safe after that.
    precondition(sodiumReady, "libsodium failed to initialise")
}

/// A node's one long-term key: Ed25519 to sign session requests and announcements, and its
/// X25519 form as the WireGuard static key.
///
/// One key for both jobs means a consumer who knows a provider's identity (`wr1…`) also knows
/// the WireGuard key it will talk to, with no second key to publish or trust. libsodium's
/// conversion hashes the seed and clamps the scalar exactly as `wg genkey` does, so the
/// WireGuard half is an ordinary WireGuard key.
///
/// The description and the mirror show only the public identity, so logging an identity never
/// writes its secret.
public struct NodeIdentity: Sendable, CustomStringConvertible, CustomReflectable {
    public static let seedLength = 32
    public static let secretKeyLength = 64

    /// What the agent's identity file holds: a version magic, the seed, and a checksum.
    static let fileMagic = Array("WRNID1".utf8)
    public static let serializedLength = 6 + seedLength + 16

    /// The 32-byte seed everything else derives from.
    let seed: [UInt8]
    /// libsodium's 64-byte Ed25519 secret key (seed ‖ public key).
    public let secretKey: [UInt8]
    public let signingPublicKey: [UInt8]
    public let wireGuardPrivateKey: [UInt8]
    public let wireGuardPublicKey: [UInt8]

    /// Derives the whole identity from a 32-byte seed; nil for a wrong length (or the
    /// negligible case of a key without an X25519 form).
    public init?(seed: [UInt8]) {
        ensureSodium()
        guard seed.count == Self.seedLength else { return nil }
        var publicKey = [UInt8](repeating: 0, count: 32)
        var secretKey = [UInt8](repeating: 0, count: Self.secretKeyLength)
        guard crypto_sign_seed_keypair(&publicKey, &secretKey, seed) == 0 else { return nil }
        var curvePrivate = [UInt8](repeating: 0, count: 32)
        var curvePublic = [UInt8](repeating: 0, count: 32)
        guard crypto_sign_ed25519_sk_to_curve25519(&curvePrivate, secretKey) == 0,
              crypto_sign_ed25519_pk_to_curve25519(&curvePublic, publicKey) == 0 else { return nil }
        self.seed = seed
        self.secretKey = secretKey
        self.signingPublicKey = publicKey
        self.wireGuardPrivateKey = curvePrivate
        self.wireGuardPublicKey = curvePublic
    }

    /// A fresh identity from `entropy` (the system CSPRNG in the agent, a seeded stream in tests).
    public static func generate(entropy: EntropySource) -> NodeIdentity {
        while true {
            // Every 32-byte seed works in practice; the loop only keeps a nil out of the type.
            if let identity = NodeIdentity(seed: entropy.bytes(seedLength)) { return identity }
        }
    }

    /// What others know this node by, and what `warren id` prints.
    public var publicIdentity: PublicIdentity {
        PublicIdentity(checked: signingPublicKey, wireGuardPublicKey: wireGuardPublicKey)
    }

    /// A detached Ed25519 signature (64 bytes) over `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        ensureSodium()
        var signature = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }

    /// Whether `signature` is `publicKey`'s signature over `message`. libsodium refuses
    /// small-order keys and non-canonical signatures, so a signature has one valid form.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        ensureSodium()
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    // MARK: The identity file

    /// The bytes of the agent's identity file (mode 0600): `WRNID1`, the seed, and
    /// BLAKE2s-128 of the preceding 38 bytes, so a torn or foreign file is detected
    /// instead of silently becoming a different identity.
    public func serialized() -> [UInt8] {
        let body = Self.fileMagic + seed
        return body + BLAKE2s.hash(body, outputLength: 16)
    }

    /// Reads an identity file; nil on a wrong length, magic or checksum.
    public init?(serialized bytes: [UInt8]) {
        guard bytes.count == Self.serializedLength, Array(bytes[0..<6]) == Self.fileMagic else { return nil }
        let body = Array(bytes[0..<(6 + Self.seedLength)])
        let checksum = Array(bytes[(6 + Self.seedLength)...])
        guard Sodium.constantTimeEqual(BLAKE2s.hash(body, outputLength: 16), checksum) else { return nil }
        self.init(seed: Array(bytes[6..<(6 + Self.seedLength)]))
    }

    public var description: String { "NodeIdentity(\(publicIdentity))" }

    public var customMirror: Mirror { Mirror(self, children: ["publicIdentity": publicIdentity]) }
}
