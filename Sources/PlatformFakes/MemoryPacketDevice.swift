import Glibc
import LinuxPlatform
import Synchronization

/// A TUN device in memory: the test is the host's IP stack. `inject` puts a packet where the
/// data plane reads from; `takeWritten` returns what the data plane wrote.
///
/// A read with nothing queued waits up to `readBoundMilliseconds` (0: returns 0 at once, for
/// a test that drives the data plane step by step; a few ms for a reader thread).
public final class MemoryPacketDevice: PacketDevice, @unchecked Sendable {
    public let batchSize: Int
    public let readBoundMilliseconds: Int
    private let queues = Mutex<(toRead: [[UInt8]], written: [[UInt8]])>(([], []))

    public init(batchSize: Int = 8, readBoundMilliseconds: Int = 0) {
        precondition(batchSize > 0, "a packet device reads at least one packet")
        self.batchSize = batchSize
        self.readBoundMilliseconds = readBoundMilliseconds
    }

    /// A packet from the host into the tunnel.
    public func inject(_ packet: [UInt8]) {
        queues.withLock { $0.toRead.append(packet) }
    }

    /// Packets waiting to be read.
    public var unread: Int { queues.withLock { $0.toRead.count } }

    /// Everything written since the last call, oldest first.
    public func takeWritten() -> [[UInt8]] {
        queues.withLock { queues in
            defer { queues.written.removeAll() }
            return queues.written
        }
    }

    public func read(into batch: inout PacketBatch) throws(PlatformError) -> Int {
        let limit = min(batchSize, batch.count)
        var waited = 0
        while true {
            let packets = queues.withLock { queues -> [[UInt8]] in
                let taken = Array(queues.toRead.prefix(limit))
                queues.toRead.removeFirst(taken.count)
                return taken
            }
            if !packets.isEmpty {
                for (i, packet) in packets.enumerated() {
                    let length = min(packet.count, batch.bufferSize)
                    packet.withUnsafeBytes { source in
                        if length > 0 { batch.buffer(i).baseAddress!.copyMemory(from: source.baseAddress!, byteCount: length) }
                    }
                    batch.setLength(length, at: i)
                }
                return packets.count
            }
            if waited >= readBoundMilliseconds { return 0 }
            usleep(1000)
            waited += 1
        }
    }

    public func write(_ packets: UnsafeBufferPointer<UnsafeRawBufferPointer>) -> BatchOutcome {
        let copies = packets.map { Array($0) }
        queues.withLock { $0.written.append(contentsOf: copies) }
        return BatchOutcome()
    }
}
