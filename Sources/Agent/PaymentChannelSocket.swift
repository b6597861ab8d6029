import Glibc
import LinuxPlatform
import PacketPath
import Policy
import WireGuard

/// One datagram socket on a tunnel address's payment port, with a thread that hands each
/// datagram to `handle`.
final class PaymentChannelSocket: @unchecked Sendable {
    let socket: any DatagramSocket
    let address: IPAddress

    /// A socket already on `address`'s payment port (an in-memory one, in tests).
    init(socket: any DatagramSocket, address: IPAddress) {
        self.socket = socket
        self.address = address
    }

    /// Binds a UDP socket on `address`'s payment port. With a timeout, a receive waits at most
    /// that long (the thread's `tick` then runs: the consumer's timers).
    convenience init(address: IPAddress, receiveTimeoutMilliseconds: Int? = nil) throws(PlatformError) {
        guard let bind = SocketAddress(Endpoint(address: address, port: PaymentPort.number)) else {
            throw PlatformError(call: "bind", errno: EINVAL, message: "\(address) is not a bindable address")
        }
        let socket = try UDPSocket(binding: bind)
        if let receiveTimeoutMilliseconds { try socket.setReceiveTimeout(milliseconds: receiveTimeoutMilliseconds) }
        self.init(socket: socket, address: address)
    }

    /// Starts the thread; `tick` runs after each receive, also one that timed out.
    func start(name: String, log: EventLog, tick: (@Sendable () -> Void)? = nil,
               handle: @escaping @Sendable ([UInt8], Endpoint) -> Void) throws(PlatformError) {
        let loop = DatagramLoop(threadName: name, batchCount: 8, bufferSize: 512, errorKey: "payment-receive",
                                errorPrefix: "payment socket: ", pauseAfterErrorMicroseconds: 100_000, log: log)
        try loop.start(socket: socket) { batch, count in
            for i in 0..<count where !batch.isTruncated(i) {
                handle(Array(batch.buffer(i)[0..<batch.length(i)]), Endpoint(batch.source(i)))
            }
            tick?()
        }
    }

    func send(_ bytes: [UInt8], to address: IPAddress) -> Bool {
        guard let target = SocketAddress(Endpoint(address: address, port: PaymentPort.number)) else { return false }
        return bytes.withUnsafeBytes { (try? socket.send($0, to: target)) != nil }
    }
}
