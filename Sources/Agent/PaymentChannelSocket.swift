import Glibc
import LinuxPlatform
import WireGuard

/// Vouchers and invoices travel inside the tunnel as UDP datagrams between the two tunnel
/// addresses, on this port at both ends: the tunnel's encryption and cryptokey routing
/// authenticate the session, the messages' own signatures authenticate the money.
enum PaymentPort {
    static let number: UInt16 = 4747

    /// Whether `packet` is a UDP datagram to (or, with `destination` false, from) the payment
    /// port of one of `addresses`. IPv6 with extension headers is not recognised: warren never
    /// sends that.
    static func matches(_ packet: UnsafeRawBufferPointer, destination: Bool, addresses: [IPAddress]) -> Bool {
        guard let first = packet.first else { return false }
        let transportOffset: Int
        let address: IPAddress
        switch first >> 4 {
        case 4:
            guard packet.count >= 28, packet[9] == 17 else { return false }
            // A later fragment has no UDP header at its offset.
            guard (UInt16(packet[6] & 0x1F) << 8 | UInt16(packet[7])) == 0 else { return false }
            transportOffset = Int(first & 0x0F) * 4
            let at = destination ? 16 : 12
            address = .v4((0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(packet[at + $1]) })
        case 6:
            guard packet.count >= 48, packet[6] == 17 else { return false }
            transportOffset = 40
            let at = destination ? 24 : 8
            let high = (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(packet[at + $1]) }
            let low = (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(packet[at + 8 + $1]) }
            address = .v6(high, low)
        default:
            return false
        }
        guard addresses.contains(address) else { return false }
        let at = transportOffset + (destination ? 2 : 0)
        guard transportOffset >= 20, packet.count >= at + 2 else { return false }
        return UInt16(packet[at]) << 8 | UInt16(packet[at + 1]) == number
    }
}

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
        pthread_detach(try startThread(name: name) { [socket] in
            var batch = ReceiveBatch(count: 8, bufferSize: 512, headroom: 0)
            while true {
                var count = 0
                do { count = try socket.receive(into: &batch) } catch {
                    log.limited("payment-receive", "payment socket: \(error)")
                    usleep(100_000)
                }
                for i in 0..<count where !batch.isTruncated(i) {
                    handle(Array(batch.buffer(i)[0..<batch.length(i)]), Endpoint(batch.source(i)))
                }
                tick?()
            }
        })
    }

    func send(_ bytes: [UInt8], to address: IPAddress) -> Bool {
        guard let target = SocketAddress(Endpoint(address: address, port: PaymentPort.number)) else { return false }
        return bytes.withUnsafeBytes { (try? socket.send($0, to: target)) != nil }
    }
}
