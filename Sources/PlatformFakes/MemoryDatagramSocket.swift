import Glibc
import LinuxPlatform
import Synchronization

/// A tiny UDP switch in memory: each socket has an address, a datagram sent to an address
/// goes into that socket's queue (with the sender's address as its source), a datagram to
/// an address nobody holds is lost, as UDP's would be. Two sockets on one network are a
/// connected pair.
public final class MemoryNetwork: Sendable {
    /// Where a datagram to an address no socket holds goes instead of being lost: bytes,
    /// source, destination (a `MemoryHost` routes it into its TUN device).
    public typealias Route = @Sendable (_ bytes: [UInt8], _ source: SocketAddress, _ destination: SocketAddress) -> Void

    private let sockets = Mutex<[SocketAddress: MemoryDatagramSocket]>([:])
    private let lostCount = Atomic<Int>(0)
    private let offNetwork: Route?

    public init(offNetwork: Route? = nil) {
        self.offNetwork = offNetwork
    }

    /// Datagrams sent to an address no socket holds (and no `offNetwork` route took).
    public var lost: Int { lostCount.load(ordering: .relaxed) }

    /// Whether a socket is at `address`.
    public func holds(_ address: SocketAddress) -> Bool {
        sockets.withLock { $0[address] != nil }
    }

    /// A socket at `address` (replacing one there before). Receives with nothing queued wait
    /// up to `receiveBoundMilliseconds` (0: return 0 at once).
    public func socket(at address: SocketAddress, batchSize: Int = 32, receiveBoundMilliseconds: Int = 0) -> MemoryDatagramSocket {
        let socket = MemoryDatagramSocket(network: self, address: address, batchSize: batchSize,
                                          receiveBoundMilliseconds: receiveBoundMilliseconds)
        sockets.withLock { $0[address] = socket }
        return socket
    }

    func deliver(_ bytes: [UInt8], from source: SocketAddress, to destination: SocketAddress) {
        guard let target = sockets.withLock({ $0[destination] }) else {
            if let offNetwork { offNetwork(bytes, source, destination) } else { lostCount.add(1, ordering: .relaxed) }
            return
        }
        target.enqueue(bytes, from: source)
    }
}

/// One socket of a `MemoryNetwork`.
public final class MemoryDatagramSocket: DatagramSocket, @unchecked Sendable {
    public let address: SocketAddress
    public let batchSize: Int
    private let receiveBound: Atomic<Int>
    // Unowned: the network's table keeps the socket, the test keeps the network.
    private unowned let network: MemoryNetwork
    private let queue = Mutex<[(bytes: [UInt8], source: SocketAddress)]>([])
    private let sentCount = Atomic<Int>(0)

    init(network: MemoryNetwork, address: SocketAddress, batchSize: Int, receiveBoundMilliseconds: Int) {
        self.network = network
        self.address = address
        self.batchSize = batchSize
        receiveBound = Atomic(receiveBoundMilliseconds)
    }

    /// How long a receive with nothing queued waits (0: returns 0 at once). A test changes it
    /// when a blocking caller (a session request's wait) gives way to step-by-step driving.
    public var receiveBoundMilliseconds: Int {
        get { receiveBound.load(ordering: .relaxed) }
        set { receiveBound.store(newValue, ordering: .relaxed) }
    }

    /// Datagrams waiting to be received.
    public var pending: Int { queue.withLock { $0.count } }
    /// Datagrams this socket has sent.
    public var sent: Int { sentCount.load(ordering: .relaxed) }

    func enqueue(_ bytes: [UInt8], from source: SocketAddress) {
        queue.withLock { $0.append((bytes, source)) }
    }

    public func receive(into batch: inout ReceiveBatch) throws(PlatformError) -> Int {
        batch.prepareForReceive()
        var waited = 0
        while true {
            let taken = queue.withLock { queue -> [(bytes: [UInt8], source: SocketAddress)] in
                let taken = Array(queue.prefix(batch.count))
                queue.removeFirst(taken.count)
                return taken
            }
            if !taken.isEmpty {
                for (i, datagram) in taken.enumerated() {
                    datagram.bytes.withUnsafeBytes { batch.store($0, from: datagram.source, at: i) }
                }
                return taken.count
            }
            if waited >= receiveBoundMilliseconds { return 0 }
            usleep(1000)
            waited += 1
        }
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress) throws(PlatformError) {
        sentCount.add(1, ordering: .relaxed)
        network.deliver(Array(bytes), from: address, to: destination)
    }

    public func send(_ datagrams: UnsafeBufferPointer<OutgoingDatagram>) -> BatchOutcome {
        sendEach(datagrams)
    }
}
