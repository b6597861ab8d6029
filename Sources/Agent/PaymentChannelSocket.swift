import Glibc
import LinuxPlatform
import PacketPath
import Policy
import WireGuard

/// One UDP socket on a tunnel address's payment port, with a thread that hands each
/// datagram to `handle`.
final class PaymentChannelSocket: @unchecked Sendable {
    let socket: UDPSocket
    let address: IPAddress

    init(address: IPAddress) throws(PlatformError) {
        guard let bind = SocketAddress(Endpoint(address: address, port: PaymentPort.number)) else {
            throw PlatformError(call: "bind", errno: EINVAL, message: "\(address) is not a bindable address")
        }
        socket = try UDPSocket(binding: bind)
        self.address = address
    }

    /// Starts the thread. With `tick`, receives wait at most half a second and `tick` runs
    /// after each wait (the consumer's timers: announcements, batched payment, watchdog).
    func start(name: String, log: EventLog, tick: (@Sendable () -> Void)? = nil,
               handle: @escaping @Sendable ([UInt8], Endpoint) -> Void) throws(PlatformError) {
        if tick != nil { try socket.setReceiveTimeout(milliseconds: 500) }
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
