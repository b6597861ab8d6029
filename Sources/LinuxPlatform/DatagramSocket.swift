/// The tunnel's UDP side, batch-shaped like wireguard-go's conn.Bind: a receive fills a
/// `ReceiveBatch`, a send takes several datagrams. The data plane calls it once per batch.
public protocol DatagramSocket: AnyObject, Sendable {
    /// Most datagrams one `send` or `receive` is meant to carry.
    var batchSize: Int { get }
    /// Fills `batch` with up to `batch.count` datagrams, blocking until there is at least one
    /// (or until the socket's receive bound passes: then 0). Returns how many it filled.
    func receive(into batch: inout ReceiveBatch) throws(PlatformError) -> Int
    /// Sends one datagram.
    func send(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress) throws(PlatformError)
    /// Sends each datagram in order; one that fails does not stop the others.
    func send(_ datagrams: UnsafeBufferPointer<OutgoingDatagram>) -> BatchOutcome
}

/// One datagram of a batch send: bytes the caller owns until `send` returns, and where to.
public struct OutgoingDatagram: @unchecked Sendable {
    public var bytes: UnsafeRawBufferPointer
    public var destination: SocketAddress

    public init(bytes: UnsafeRawBufferPointer, destination: SocketAddress) {
        self.bytes = bytes
        self.destination = destination
    }
}

extension DatagramSocket {
    /// The loop a socket without a batch call of its own uses.
    public func sendEach(_ datagrams: UnsafeBufferPointer<OutgoingDatagram>) -> BatchOutcome {
        var outcome = BatchOutcome()
        for datagram in datagrams {
            do { try send(datagram.bytes, to: datagram.destination) } catch { outcome.record(error) }
        }
        return outcome
    }
}
