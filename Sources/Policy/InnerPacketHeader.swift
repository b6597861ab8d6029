import WireGuard

/// What the exit policy needs from a decrypted packet: its addresses, its upper-layer
/// protocol and, when the packet shows it, the destination port.
///
/// Read straight out of the packet's bytes with every length checked first and nothing
/// allocated. The port is left out (nil) when the packet does not carry it where a router
/// can see it: a fragment after the first, an upper layer other than TCP or UDP, or an IPv6
/// extension header this parser does not walk. The exit then decides by address alone.
/// Packets that try to hide their port are refused as malformed rather than let through:
/// a first fragment too short to hold its TCP or UDP header, a TCP fragment at offset 8
/// (the RFC 1858 overlap attack), an IPv6 header chain longer than `maximumExtensionHeaders`.
public struct InnerPacketHeader: Sendable, Equatable {
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    /// IPv6 extension headers walked before the packet counts as malformed.
    public static let maximumExtensionHeaders = 8

    public var source: IPAddress
    public var destination: IPAddress
    /// The upper-layer protocol (IPv4 protocol field, or the last IPv6 next-header value seen).
    public var transport: UInt8
    /// The TCP or UDP source port, when visible.
    public var sourcePort: UInt16?
    /// The TCP or UDP destination port, when visible.
    public var destinationPort: UInt16?
    /// True for an IPv4 or IPv6 fragment other than the first.
    public var isLaterFragment: Bool
    /// The packet's length according to its own header (the buffer may hold padding after it).
    public var length: Int

    public init(source: IPAddress, destination: IPAddress, transport: UInt8, sourcePort: UInt16? = nil, destinationPort: UInt16?,
                isLaterFragment: Bool, length: Int) {
        self.source = source
        self.destination = destination
        self.transport = transport
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.isLaterFragment = isLaterFragment
        self.length = length
    }

    /// Parses an IPv4 or IPv6 packet; nil when it is malformed.
    public init?(parsing packet: UnsafeRawBufferPointer) {
        guard packet.count >= 1 else { return nil }
        switch packet[0] >> 4 {
        case 4: self.init(parsingV4: packet)
        case 6: self.init(parsingV6: packet)
        default: return nil
        }
    }

    /// Only the destination address, for callers that need nothing else; nil when too short.
    @inline(__always)
    public static func destination(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard packet.count >= 1 else { return nil }
        switch packet[0] >> 4 {
        case 4 where packet.count >= 20: return .v4(readV4(packet, at: 16))
        case 6 where packet.count >= 40: return readV6(packet, at: 24)
        default: return nil
        }
    }

    private init?(parsingV4 packet: UnsafeRawBufferPointer) {
        guard packet.count >= 20 else { return nil }
        let headerLength = Int(packet[0] & 0x0f) * 4
        let totalLength = Int(InnerPacketHeader.readU16(packet, at: 2))
        guard headerLength >= 20, totalLength >= headerLength, totalLength <= packet.count else { return nil }
        let fragmentOffset = InnerPacketHeader.readU16(packet, at: 6) & 0x1fff     // in units of 8 bytes
        let transport = packet[9]
        var ports: (source: UInt16, destination: UInt16)?
        if fragmentOffset != 0 {
            if transport == InnerPacketHeader.tcp && fragmentOffset == 1 { return nil }
        } else if transport == InnerPacketHeader.tcp || transport == InnerPacketHeader.udp {
            guard let visible = InnerPacketHeader.ports(packet, transportAt: headerLength, end: totalLength, transport: transport) else { return nil }
            ports = visible
        }
        self.init(source: .v4(InnerPacketHeader.readV4(packet, at: 12)),
                  destination: .v4(InnerPacketHeader.readV4(packet, at: 16)),
                  transport: transport, sourcePort: ports?.source, destinationPort: ports?.destination,
                  isLaterFragment: fragmentOffset != 0, length: totalLength)
    }

    private init?(parsingV6 packet: UnsafeRawBufferPointer) {
        guard packet.count >= 40 else { return nil }
        let totalLength = 40 + Int(InnerPacketHeader.readU16(packet, at: 4))
        guard totalLength <= packet.count else { return nil }
        var next = packet[6]
        var offset = 40
        var laterFragment = false
        var ports: (source: UInt16, destination: UInt16)?
        var walked = 0
        walk: while true {
            switch next {
            case InnerPacketHeader.tcp, InnerPacketHeader.udp:
                guard let visible = InnerPacketHeader.ports(packet, transportAt: offset, end: totalLength, transport: next) else { return nil }
                ports = visible
                break walk
            case 0, 43, 60, 51:                 // hop-by-hop, routing, destination options, AH
                guard walked < InnerPacketHeader.maximumExtensionHeaders, offset + 2 <= totalLength else { return nil }
                let length = next == 51 ? (Int(packet[offset + 1]) + 2) * 4 : (Int(packet[offset + 1]) + 1) * 8
                guard offset + length <= totalLength else { return nil }
                next = packet[offset]
                offset += length
                walked += 1
            case 44:                            // fragment
                guard walked < InnerPacketHeader.maximumExtensionHeaders, offset + 8 <= totalLength else { return nil }
                let fragmentOffset = InnerPacketHeader.readU16(packet, at: offset + 2) >> 3
                next = packet[offset]
                offset += 8
                walked += 1
                if fragmentOffset != 0 {
                    if next == InnerPacketHeader.tcp && fragmentOffset == 1 { return nil }
                    laterFragment = true
                    break walk
                }
            default:                            // ICMPv6, no next header, ESP, anything else: address only
                break walk
            }
        }
        self.init(source: InnerPacketHeader.readV6(packet, at: 8),
                  destination: InnerPacketHeader.readV6(packet, at: 24),
                  transport: next, sourcePort: ports?.source, destinationPort: ports?.destination,
                  isLaterFragment: laterFragment, length: totalLength)
    }

    /// The source and destination ports of a TCP or UDP header at `offset`; nil when the
    /// header does not fit.
    @inline(__always)
    private static func ports(_ packet: UnsafeRawBufferPointer, transportAt offset: Int, end: Int,
                              transport: UInt8) -> (source: UInt16, destination: UInt16)? {
        let minimum = transport == tcp ? 20 : 8
        guard end - offset >= minimum else { return nil }
        return (readU16(packet, at: offset), readU16(packet, at: offset + 2))
    }

    @inline(__always)
    private static func readU16(_ packet: UnsafeRawBufferPointer, at offset: Int) -> UInt16 {
        UInt16(packet[offset]) << 8 | UInt16(packet[offset + 1])
    }

    @inline(__always)
    static func readV4(_ packet: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(packet[offset]) << 24 | UInt32(packet[offset + 1]) << 16 | UInt32(packet[offset + 2]) << 8 | UInt32(packet[offset + 3])
    }

    @inline(__always)
    static func readV6(_ packet: UnsafeRawBufferPointer, at offset: Int) -> IPAddress {
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(packet[offset + i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(packet[offset + i]) }
        return .v6(hi, lo)
    }
}
