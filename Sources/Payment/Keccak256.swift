/// Keccak-256 as Ethereum uses it: Keccak-f[1600] with a 136-byte rate and the original
/// Keccak padding (0x01 … 0x80), not FIPS 202 SHA3-256 (which pads with 0x06).
///
/// Addresses, EIP-712 digests and channel ids are all Keccak-256, so a contract and this
/// agent compute the same bytes. It runs per voucher and invoice, never per packet, so the
/// code follows the specification's steps rather than chasing speed.
public struct Keccak256: Sendable {
    public static let outputLength = 32
    /// 1600 − 2 × 256 bits of capacity.
    public static let rate = 136

    static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    /// ρ rotation amounts, in the order the combined ρ and π step visits the lanes.
    static let rotations: [UInt64] = [1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44]
    /// π: the lane each step of that walk moves to (lane index x + 5y).
    static let laneWalk: [Int] = [10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1]

    private var state = [UInt64](repeating: 0, count: 25)
    private var pending: [UInt8] = []

    public init() {
        pending.reserveCapacity(Self.rate)
    }

    public mutating func update(_ data: [UInt8]) {
        var offset = 0
        while offset < data.count {
            let take = min(Self.rate - pending.count, data.count - offset)
            pending.append(contentsOf: data[offset..<(offset + take)])
            offset += take
            if pending.count == Self.rate {
                absorb(pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    public consuming func finalize() -> [UInt8] {
        // Keccak's multi-rate padding: a 1 bit after the message, a 1 bit at the end of the
        // block; both land in one byte (0x81) when only one byte of the block is left.
        var block = pending + [UInt8](repeating: 0, count: Self.rate - pending.count)
        block[pending.count] ^= 0x01
        block[Self.rate - 1] ^= 0x80
        absorb(block)
        var out = [UInt8](repeating: 0, count: Self.outputLength)
        for i in 0..<Self.outputLength {
            out[i] = UInt8(truncatingIfNeeded: state[i / 8] >> (8 * UInt64(i % 8)))
        }
        return out
    }

    /// One-shot hash over the concatenation of `parts`.
    public static func hash(_ parts: [UInt8]...) -> [UInt8] {
        var hasher = Keccak256()
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// XORs one full block into the state (lanes are little-endian) and permutes.
    private mutating func absorb(_ block: [UInt8]) {
        for lane in 0..<(Self.rate / 8) {
            var value: UInt64 = 0
            for byte in 0..<8 { value |= UInt64(block[lane * 8 + byte]) << (8 * UInt64(byte)) }
            state[lane] ^= value
        }
        state.withUnsafeMutableBufferPointer { Self.permute($0) }
    }

    /// Keccak-f[1600]: 24 rounds of θ, ρ and π, χ, ι.
    static func permute(_ a: UnsafeMutableBufferPointer<UInt64>) {
        var column = [UInt64](repeating: 0, count: 5)
        for round in 0..<24 {
            // θ: XOR each lane with the parities of two neighbouring columns.
            for x in 0..<5 { column[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] }
            for x in 0..<5 {
                let d = column[(x + 4) % 5] ^ rotateLeft(column[(x + 1) % 5], 1)
                for y in stride(from: 0, to: 25, by: 5) { a[y + x] ^= d }
            }
            // ρ and π together: walk the lanes, rotating each into its new place.
            var carried = a[1]
            for step in 0..<24 {
                let target = laneWalk[step]
                let displaced = a[target]
                a[target] = rotateLeft(carried, rotations[step])
                carried = displaced
            }
            // χ: the only non-linear step, row by row.
            for y in stride(from: 0, to: 25, by: 5) {
                for x in 0..<5 { column[x] = a[y + x] }
                for x in 0..<5 { a[y + x] ^= ~column[(x + 1) % 5] & column[(x + 2) % 5] }
            }
            // ι
            a[0] ^= roundConstants[round]
        }
    }

    @inline(__always)
    static func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 - count))
    }
}
