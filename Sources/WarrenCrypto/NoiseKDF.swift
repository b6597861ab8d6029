/// HMAC-BLAKE2s and the HKDF of the Noise framework, as WireGuard uses them.
///
/// WireGuard keys its chain with HMAC (not BLAKE2s's own keyed mode), with a
/// 64-byte block, and derives up to three 32-byte outputs per step.
public enum NoiseKDF {
    public static func hmac(key: [UInt8], _ message: [UInt8]...) -> [UInt8] {
        var block = key.count > BLAKE2s.blockSize ? BLAKE2s.hash(key) : key
        block += [UInt8](repeating: 0, count: BLAKE2s.blockSize - block.count)
        var inner = BLAKE2s()
        inner.update(block.map { $0 ^ 0x36 })
        for part in message { inner.update(part) }
        var outer = BLAKE2s()
        outer.update(block.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// Derives `count` (1...3) 32-byte outputs from chaining key `key` and `input`.
    public static func derive(_ count: Int, key: [UInt8], input: [UInt8]) -> [[UInt8]] {
        precondition(count >= 1 && count <= 3)
        let secret = hmac(key: key, input)
        var outputs: [[UInt8]] = []
        var previous: [UInt8] = []
        for i in 1...count {
            previous = hmac(key: secret, previous, [UInt8(i)])
            outputs.append(previous)
        }
        return outputs
    }
}
