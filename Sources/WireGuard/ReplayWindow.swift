/// Sliding window over received transport counters (RFC 6479's bitmap ring).
///
/// Packets may arrive out of order by up to `windowSize` counters; anything
/// older, any duplicate and any counter at the reject limit is refused.
public struct ReplayWindow: Sendable {
    static let blockBits = 64
    static let ringBlocks = 128
    public static let windowSize = UInt64((ringBlocks - 1) * blockBits)

    private var blocks = [UInt64](repeating: 0, count: ringBlocks)
    private var greatest: UInt64 = 0

    public init() {}

    /// Whether `counter` could still be accepted, without recording it (checked before decrypting).
    public func mayAccept(_ counter: UInt64) -> Bool {
        if counter >= Protocol.rejectAfterMessages { return false }
        if counter > greatest { return true }
        if greatest - counter > ReplayWindow.windowSize { return false }
        let block = Int((counter >> 6) % UInt64(ReplayWindow.ringBlocks))
        return blocks[block] & (1 << (counter & 63)) == 0
    }

    /// Records `counter` after its packet authenticated; false if it was replayed or too old.
    public mutating func accept(_ counter: UInt64) -> Bool {
        if counter >= Protocol.rejectAfterMessages { return false }
        let ring = UInt64(ReplayWindow.ringBlocks)
        let index = counter >> 6
        if counter > greatest {
            let current = greatest >> 6
            let advance = min(index - current, ring)
            var step: UInt64 = 1
            while step <= advance {
                blocks[Int((current + step) % ring)] = 0
                step += 1
            }
            greatest = counter
        } else if greatest - counter > ReplayWindow.windowSize {
            return false
        }
        let block = Int(index % ring)
        let bit: UInt64 = 1 << (counter & 63)
        if blocks[block] & bit != 0 { return false }
        blocks[block] |= bit
        return true
    }
}
