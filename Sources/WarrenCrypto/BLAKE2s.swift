/// BLAKE2s (RFC 7693): the hash WireGuard's Noise construction is built on.
///
/// libsodium ships BLAKE2b only, so this is ours. It runs on handshakes and
/// MACs, never per data packet, so clarity wins over speed here.
public struct BLAKE2s: Sendable {
    public static let blockSize = 64
    public static let maxOutputLength = 32

    static let iv: [UInt32] = [
        0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
        0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19,
    ]

    static let sigma: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ]

    private var state: [UInt32]
    private var pending: [UInt8] = []
    private var bytesCompressed: UInt64 = 0
    private let outputLength: Int

    /// Starts a hash of `outputLength` bytes (1...32), keyed when `key` is not empty (at most 32 bytes).
    public init(outputLength: Int = 32, key: [UInt8] = []) {
        precondition(outputLength >= 1 && outputLength <= 32 && key.count <= 32, "BLAKE2s parameters out of range")
        self.outputLength = outputLength
        state = BLAKE2s.iv
        state[0] ^= 0x0101_0000 ^ (UInt32(key.count) << 8) ^ UInt32(outputLength)
        if !key.isEmpty {
            pending = key + [UInt8](repeating: 0, count: BLAKE2s.blockSize - key.count)
        }
    }

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < data.count {
            // The last block must be compressed with the final flag, so a full
            // pending block waits until more input proves it is not the last.
            if pending.count == BLAKE2s.blockSize {
                bytesCompressed &+= UInt64(BLAKE2s.blockSize)
                compress(pending, final: false)
                pending.removeAll(keepingCapacity: true)
            }
            let take = min(BLAKE2s.blockSize - pending.count, data.count - offset)
            pending.append(contentsOf: data[offset..<(offset + take)])
            offset += take
        }
    }

    public mutating func update(_ data: [UInt8]) {
        data.withUnsafeBytes { update($0) }
    }

    public consuming func finalize() -> [UInt8] {
        bytesCompressed &+= UInt64(pending.count)
        let block = pending + [UInt8](repeating: 0, count: BLAKE2s.blockSize - pending.count)
        compress(block, final: true)
        var out = [UInt8](repeating: 0, count: outputLength)
        for i in 0..<outputLength {
            out[i] = UInt8(truncatingIfNeeded: state[i / 4] >> (8 * UInt32(i % 4)))
        }
        return out
    }

    /// One-shot hash over the concatenation of `parts`.
    public static func hash(_ parts: [UInt8]..., outputLength: Int = 32, key: [UInt8] = []) -> [UInt8] {
        var hasher = BLAKE2s(outputLength: outputLength, key: key)
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    private mutating func compress(_ block: [UInt8], final: Bool) {
        var m = [UInt32](repeating: 0, count: 16)
        for i in 0..<16 {
            m[i] = UInt32(block[4 * i]) | UInt32(block[4 * i + 1]) << 8
                | UInt32(block[4 * i + 2]) << 16 | UInt32(block[4 * i + 3]) << 24
        }
        var v = state + BLAKE2s.iv
        v[12] ^= UInt32(truncatingIfNeeded: bytesCompressed)
        v[13] ^= UInt32(truncatingIfNeeded: bytesCompressed >> 32)
        if final { v[14] = ~v[14] }

        func mix(_ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt32, _ y: UInt32) {
            v[a] = v[a] &+ v[b] &+ x
            v[d] = (v[d] ^ v[a]).rotatedRight(16)
            v[c] = v[c] &+ v[d]
            v[b] = (v[b] ^ v[c]).rotatedRight(12)
            v[a] = v[a] &+ v[b] &+ y
            v[d] = (v[d] ^ v[a]).rotatedRight(8)
            v[c] = v[c] &+ v[d]
            v[b] = (v[b] ^ v[c]).rotatedRight(7)
        }

        for round in 0..<10 {
            let s = BLAKE2s.sigma[round]
            mix(0, 4, 8, 12, m[s[0]], m[s[1]])
            mix(1, 5, 9, 13, m[s[2]], m[s[3]])
            mix(2, 6, 10, 14, m[s[4]], m[s[5]])
            mix(3, 7, 11, 15, m[s[6]], m[s[7]])
            mix(0, 5, 10, 15, m[s[8]], m[s[9]])
            mix(1, 6, 11, 12, m[s[10]], m[s[11]])
            mix(2, 7, 8, 13, m[s[12]], m[s[13]])
            mix(3, 4, 9, 14, m[s[14]], m[s[15]])
        }
        for i in 0..<8 { state[i] ^= v[i] ^ v[i + 8] }
    }
}

extension UInt32 {
    @inline(__always)
    func rotatedRight(_ count: UInt32) -> UInt32 { (self >> count) | (self << (32 - count)) }
}
