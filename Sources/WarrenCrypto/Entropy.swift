/// Where the pure layers get randomness: ephemeral keys, session indices, jitter, cookie
/// secrets, wallet keys.
///
/// Passed in (like time) so tests can replay a handshake byte for byte.
public protocol EntropySource: AnyObject {
    func bytes(_ count: Int) -> [UInt8]
}

extension EntropySource {
    /// Four bytes, big-endian.
    public func uint32() -> UInt32 {
        bytes(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A clamped X25519 private key.
    public func privateKey() -> [UInt8] {
        var key = bytes(32)
        Curve25519.clamp(&key)
        return key
    }
}

/// The system CSPRNG, through libsodium.
public final class SystemEntropy: EntropySource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] { Sodium.randomBytes(count) }
}

/// A deterministic stream (BLAKE2s in counter mode over a seed), for tests and vectors only.
public final class SeededEntropy: EntropySource {
    private let seed: [UInt8]
    private var counter: UInt64 = 0

    public init(seed: [UInt8]) { self.seed = seed }

    public func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            counter += 1
            out += BLAKE2s.hash(seed, (0..<8).map { UInt8(truncatingIfNeeded: counter >> (8 * UInt64($0))) })
        }
        return Array(out.prefix(count))
    }
}
