import CLinuxShim
import Glibc

/// Everything one recvmmsg(2) call needs, allocated once: `count` packet
/// buffers (each with `headroom` spare bytes in front, so a caller can
/// prepend a header in place), and the mmsghdr, iovec and source-address
/// arrays that point at them. Receiving into it never allocates.
public struct ReceiveBatch: ~Copyable, @unchecked Sendable {
    public let count: Int
    public let bufferSize: Int
    public let headroom: Int
    /// Distance between the starts of two slots (headroom + buffer, 16-aligned).
    private let slotStride: Int
    private let slots: UnsafeMutableRawPointer
    let messages: UnsafeMutablePointer<CLinuxShim_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let sources: UnsafeMutablePointer<sockaddr_storage>
    /// How many datagrams the last receive filled in.
    public internal(set) var received: Int = 0

    public init(count: Int, bufferSize: Int, headroom: Int) {
        precondition(count > 0 && bufferSize > 0 && headroom >= 0, "ReceiveBatch needs a positive count and buffer size")
        self.count = count
        self.bufferSize = bufferSize
        self.headroom = headroom
        slotStride = (headroom + bufferSize + 15) & ~15
        slots = UnsafeMutableRawPointer.allocate(byteCount: slotStride * count, alignment: 16)
        messages = .allocate(capacity: count)
        vectors = .allocate(capacity: count)
        sources = .allocate(capacity: count)
        sources.initialize(repeating: sockaddr_storage(), count: count)
        for i in 0..<count {
            vectors[i] = iovec(iov_base: slots + i * slotStride + headroom, iov_len: bufferSize)
            var header = msghdr()
            header.msg_name = UnsafeMutableRawPointer(sources + i)
            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            header.msg_iov = vectors + i
            header.msg_iovlen = 1
            messages[i] = CLinuxShim_mmsghdr(msg_hdr: header, msg_len: 0)
        }
    }

    deinit {
        slots.deallocate()
        messages.deallocate()
        vectors.deallocate()
        sources.deallocate()
    }

    /// Buffer `i` (without its headroom), `bufferSize` bytes.
    public func buffer(_ i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < count, "ReceiveBatch index out of range")
        return UnsafeMutableRawBufferPointer(start: slots + i * slotStride + headroom, count: bufferSize)
    }

    /// Buffer `i` with its headroom in front, `headroom + bufferSize` bytes.
    public func bufferWithHeadroom(_ i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < count, "ReceiveBatch index out of range")
        return UnsafeMutableRawBufferPointer(start: slots + i * slotStride, count: headroom + bufferSize)
    }

    /// Bytes the last receive put into buffer `i`.
    public func length(_ i: Int) -> Int {
        precondition(i >= 0 && i < count, "ReceiveBatch index out of range")
        return Int(messages[i].msg_len)
    }

    /// True if datagram `i` was longer than `bufferSize` and was cut.
    public func isTruncated(_ i: Int) -> Bool {
        precondition(i >= 0 && i < count, "ReceiveBatch index out of range")
        return messages[i].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0
    }

    /// Who sent datagram `i` (IPv4 senders come back v4-mapped); the
    /// unspecified address [::]:0 if the kernel gave none.
    public func source(_ i: Int) -> SocketAddress {
        precondition(i >= 0 && i < count, "ReceiveBatch index out of range")
        let length = messages[i].msg_hdr.msg_namelen
        return SocketAddress(kernelAddress: UnsafeRawPointer(sources + i), length: length)
            ?? SocketAddress(storage: sockaddr_in6())
    }

    /// Puts a datagram into slot `i` as a receive would (cut to `bufferSize`, marked truncated
    /// then), for a socket that is not the kernel's, e.g. an in-memory one in tests.
    public mutating func store(_ bytes: UnsafeRawBufferPointer, from source: SocketAddress, at i: Int) {
        precondition(i >= 0 && i < count, "ReceiveBatch index out of range")
        let kept = min(bytes.count, bufferSize)
        if kept > 0, let start = bytes.baseAddress {
            buffer(i).baseAddress!.copyMemory(from: start, byteCount: kept)
        }
        messages[i].msg_len = UInt32(kept)
        messages[i].msg_hdr.msg_flags = bytes.count > bufferSize ? Int32(MSG_TRUNC) : 0
        UnsafeMutableRawPointer(sources + i).storeBytes(of: source.storage, as: sockaddr_in6.self)
        messages[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
        received = max(received, i + 1)
    }

    /// Restores the per-call fields the kernel overwrites (a receive does this itself).
    public mutating func prepareForReceive() {
        let nameLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        for i in 0..<count {
            messages[i].msg_hdr.msg_namelen = nameLength
            messages[i].msg_hdr.msg_flags = 0
            messages[i].msg_len = 0
        }
        received = 0
    }
}
