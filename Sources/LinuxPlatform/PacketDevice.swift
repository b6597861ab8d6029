/// The tunnel's IP side, batch-shaped like wireguard-go's tun.Device: a read fills several
/// packets of a `PacketBatch` (a kernel TUN device fills one), a write takes several. The data
/// plane calls it once per batch, so the per-packet path stays free of dynamic dispatch.
public protocol PacketDevice: AnyObject, Sendable {
    /// Most packets one `read` fills.
    var batchSize: Int { get }
    /// Fills `batch` from slot 0 with up to `min(batchSize, batch.count)` packets, blocking
    /// until there is at least one (or until the device's own bound passes: then 0). Returns
    /// how many it filled.
    func read(into batch: inout PacketBatch) throws(PlatformError) -> Int
    /// Writes each packet in order; one that fails does not stop the others.
    func write(_ packets: UnsafeBufferPointer<UnsafeRawBufferPointer>) -> BatchOutcome
}

/// How a batch write or send went: how many items failed, and the last error.
public struct BatchOutcome: Sendable {
    public var failures: Int
    public var lastError: PlatformError?

    public init(failures: Int = 0, lastError: PlatformError? = nil) {
        self.failures = failures
        self.lastError = lastError
    }

    public mutating func record(_ error: PlatformError) {
        failures += 1
        lastError = error
    }
}

/// Packet buffers for one `PacketDevice.read`, allocated once: `count` slots of `bufferSize`
/// bytes, each with `headroom` spare bytes in front and `tailroom` behind, so a packet can be
/// sealed in place (transport header before it, padding and tag after it).
public struct PacketBatch: ~Copyable, @unchecked Sendable {
    public let count: Int
    public let bufferSize: Int
    public let headroom: Int
    public let tailroom: Int
    private let slotStride: Int
    private let slots: UnsafeMutableRawPointer
    private let lengths: UnsafeMutablePointer<Int>

    public init(count: Int, bufferSize: Int, headroom: Int = 0, tailroom: Int = 0) {
        precondition(count > 0 && bufferSize > 0 && headroom >= 0 && tailroom >= 0, "PacketBatch needs a positive count and buffer size")
        self.count = count
        self.bufferSize = bufferSize
        self.headroom = headroom
        self.tailroom = tailroom
        slotStride = (headroom + bufferSize + tailroom + 15) & ~15
        slots = UnsafeMutableRawPointer.allocate(byteCount: slotStride * count, alignment: 16)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
    }

    deinit {
        slots.deallocate()
        lengths.deallocate()
    }

    /// Slot `i` without its headroom, `bufferSize` bytes: where a packet is read to.
    public func buffer(_ i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < count, "PacketBatch index out of range")
        return UnsafeMutableRawBufferPointer(start: slots + i * slotStride + headroom, count: bufferSize)
    }

    /// All of slot `i`: headroom, buffer and tailroom.
    public func slot(_ i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < count, "PacketBatch index out of range")
        return UnsafeMutableRawBufferPointer(start: slots + i * slotStride, count: headroom + bufferSize + tailroom)
    }

    /// The length of the packet in slot `i`, as the last read set it.
    public func length(_ i: Int) -> Int {
        precondition(i >= 0 && i < count, "PacketBatch index out of range")
        return lengths[i]
    }

    /// Records how many bytes a read put into slot `i`.
    public mutating func setLength(_ length: Int, at i: Int) {
        precondition(i >= 0 && i < count && length >= 0 && length <= bufferSize, "PacketBatch length out of range")
        lengths[i] = length
    }
}
