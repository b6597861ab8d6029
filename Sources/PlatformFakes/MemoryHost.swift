import LinuxPlatform
import Synchronization

/// A node's kernel in memory, as far as a tunnel needs one: the TUN device (a
/// `MemoryPacketDevice`) joined with the UDP sockets the node binds on its tunnel addresses
/// (the payment port, say).
///
///   socket send to an address no local socket holds -> an IP/UDP packet the data plane
///                                                       reads from the device
///   data plane writes a UDP packet to a bound socket's address and port
///                              -> `deliverWritten` hands its payload to that socket
///   any other packet written   -> kept for the test (`takeKept`)
///
/// Packets are IPv4 or IPv6 with a UDP header; the IPv4 header checksum is right, and so is
/// the UDP checksum (over the pseudo-header, both families), so a strict parser accepts them.
public final class MemoryHost: Sendable {
    public let device: MemoryPacketDevice
    /// The host's own sockets; a datagram to an address none holds goes into the device.
    public let sockets: MemoryNetwork
    private let kept = Mutex<[[UInt8]]>([])

    public init(device: MemoryPacketDevice = MemoryPacketDevice()) {
        self.device = device
        sockets = MemoryNetwork(offNetwork: { [device] bytes, source, destination in
            // A source and destination of different families has no packet; dropped as a kernel would.
            if let packet = UDPPacket.build(payload: bytes, from: source, to: destination) { device.inject(packet) }
        })
    }

    /// A socket bound at `address` (a tunnel address and port).
    public func socket(at address: SocketAddress, receiveBoundMilliseconds: Int = 0) -> MemoryDatagramSocket {
        sockets.socket(at: address, receiveBoundMilliseconds: receiveBoundMilliseconds)
    }

    /// Takes what the data plane wrote to the device: a UDP packet to a bound socket goes to
    /// it (from the packet's source address and port), anything else is kept. Returns how
    /// many were delivered.
    @discardableResult
    public func deliverWritten() -> Int {
        var delivered = 0
        var others: [[UInt8]] = []
        for packet in device.takeWritten() {
            if let datagram = UDPPacket.parse(packet), sockets.holds(datagram.destination) {
                sockets.deliver(datagram.payload, from: datagram.source, to: datagram.destination)
                delivered += 1
            } else {
                others.append(packet)
            }
        }
        if !others.isEmpty { kept.withLock { $0 += others } }
        return delivered
    }

    /// Packets written to the device that no local socket took, oldest first, since the last call.
    public func takeKept() -> [[UInt8]] {
        kept.withLock { kept in
            defer { kept.removeAll() }
            return kept
        }
    }
}

/// IP/UDP packets as the fake kernel builds and reads them: no options, no IPv6 extension
/// headers, no fragments.
public enum UDPPacket {
    public struct Datagram: Equatable, Sendable {
        public var source: SocketAddress
        public var destination: SocketAddress
        public var payload: [UInt8]
    }

    /// An IPv4 (TTL 64) or IPv6 (hop limit 64) packet carrying `payload` in UDP; nil when the
    /// two addresses are not of one family or the payload does not fit.
    public static func build(payload: [UInt8], from source: SocketAddress, to destination: SocketAddress) -> [UInt8]? {
        guard source.isIPv4 == destination.isIPv4, payload.count <= 65_535 - 48 else { return nil }
        let udpLength = 8 + payload.count
        var udp = be16(source.port) + be16(destination.port) + be16(UInt16(udpLength)) + [0, 0] + payload
        let (from, to) = (source.ipBytes, destination.ipBytes)
        let pseudo = from + to + (source.isIPv4 ? [0, 17] + be16(UInt16(udpLength)) : be32(UInt32(udpLength)) + [0, 0, 0, 17])
        var checksum = internetChecksum(pseudo + udp)
        if checksum == 0 { checksum = 0xFFFF }      // 0 means "no checksum" on the wire
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xFF)
        guard source.isIPv4 else {
            return [0x60, 0, 0, 0] + be16(UInt16(udpLength)) + [17, 64] + from + to + udp
        }
        var header: [UInt8] = [0x45, 0] + be16(UInt16(20 + udpLength)) + [0, 0, 0, 0, 64, 17, 0, 0] + from + to
        let headerChecksum = internetChecksum(header)
        header[10] = UInt8(headerChecksum >> 8)
        header[11] = UInt8(headerChecksum & 0xFF)
        return header + udp
    }

    /// The UDP datagram in `packet`; nil for anything else (another protocol, a short or
    /// inconsistent header, a bad IPv4 header checksum).
    public static func parse(_ packet: [UInt8]) -> Datagram? {
        guard let first = packet.first else { return nil }
        let headerLength: Int
        let source: [UInt8], destination: [UInt8]
        switch first >> 4 {
        case 4:
            headerLength = Int(first & 0x0F) * 4
            guard headerLength >= 20, packet.count >= headerLength + 8, packet[9] == 17,
                  internetChecksum(Array(packet[0..<headerLength])) == 0 else { return nil }
            source = Array(packet[12..<16])
            destination = Array(packet[16..<20])
        case 6:
            headerLength = 40
            guard packet.count >= headerLength + 8, packet[6] == 17 else { return nil }
            source = Array(packet[8..<24])
            destination = Array(packet[24..<40])
        default:
            return nil
        }
        let udpLength = Int(packet[headerLength + 4]) << 8 | Int(packet[headerLength + 5])
        guard udpLength >= 8, headerLength + udpLength <= packet.count,
              let from = SocketAddress(ipBytes: source, port: UInt16(packet[headerLength]) << 8 | UInt16(packet[headerLength + 1])),
              let to = SocketAddress(ipBytes: destination, port: UInt16(packet[headerLength + 2]) << 8 | UInt16(packet[headerLength + 3]))
        else { return nil }
        return Datagram(source: from, destination: to, payload: Array(packet[(headerLength + 8)..<(headerLength + udpLength)]))
    }

    /// RFC 1071: the ones' complement of the ones' complement sum of 16-bit words.
    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    private static func be32(_ value: UInt32) -> [UInt8] { be16(UInt16(value >> 16)) + be16(UInt16(value & 0xFFFF)) }
}
