import WireGuard

func address(_ text: String) -> IPAddress {
    guard let parsed = IPAddress(parsing: text) else { fatalError("bad test address \(text)") }
    return parsed
}

func prefix(_ text: String) -> IPPrefix {
    guard let parsed = IPPrefix(parsing: text) else { fatalError("bad test prefix \(text)") }
    return parsed
}

let second: UInt64 = 1_000_000_000

/// Hand-built IPv4 and IPv6 packets, as a consumer's decrypted traffic would arrive.
enum TestPacket {
    static let tcp: UInt8 = 6
    static let udp: UInt8 = 17
    static let icmp: UInt8 = 1
    static let icmpv6: UInt8 = 58

    /// A transport header of the right minimum size for `proto` with the given ports.
    static func transport(_ proto: UInt8, sourcePort: UInt16 = 40000, destinationPort: UInt16) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: proto == tcp ? 20 : 8)
        header[0] = UInt8(sourcePort >> 8); header[1] = UInt8(sourcePort & 0xff)
        header[2] = UInt8(destinationPort >> 8); header[3] = UInt8(destinationPort & 0xff)
        if proto == tcp { header[12] = 0x50 }
        return header
    }

    static func v4(from source: String = "10.99.0.2", to destination: String, proto: UInt8 = udp, port: UInt16 = 443,
                   payload: [UInt8]? = nil, fragmentOffset: UInt16 = 0, moreFragments: Bool = false,
                   options: Int = 0, padding: Int = 0) -> [UInt8] {
        let body = payload ?? ((proto == tcp || proto == udp) ? transport(proto, destinationPort: port) : [8, 0, 0, 0, 0, 0, 0, 0])
        let headerLength = 20 + options * 4
        let total = headerLength + body.count
        var packet = [UInt8](repeating: 0, count: headerLength)
        packet[0] = 0x40 | UInt8(headerLength / 4)
        packet[2] = UInt8(total >> 8); packet[3] = UInt8(total & 0xff)
        let fragment = fragmentOffset | (moreFragments ? 0x2000 : 0)
        packet[6] = UInt8(fragment >> 8); packet[7] = UInt8(fragment & 0xff)
        packet[8] = 64
        packet[9] = proto
        packet.replaceSubrange(12..<16, with: address(source).bytes)
        packet.replaceSubrange(16..<20, with: address(destination).bytes)
        return packet + body + [UInt8](repeating: 0, count: padding)
    }

    /// An IPv6 packet; `extensions` are (next-header value of the extension, its bytes) in order.
    static func v6(from source: String = "fd99::2", to destination: String, proto: UInt8 = udp, port: UInt16 = 443,
                   payload: [UInt8]? = nil, extensions: [(type: UInt8, bytes: [UInt8])] = []) -> [UInt8] {
        let body = payload ?? ((proto == tcp || proto == udp) ? transport(proto, destinationPort: port) : [128, 0, 0, 0, 0, 0, 0, 0])
        var chain: [UInt8] = []
        for (index, ext) in extensions.enumerated() {
            var bytes = ext.bytes
            bytes[0] = index + 1 < extensions.count ? extensions[index + 1].type : proto
            chain += bytes
        }
        let payloadLength = chain.count + body.count
        var packet = [UInt8](repeating: 0, count: 40)
        packet[0] = 0x60
        packet[4] = UInt8(payloadLength >> 8); packet[5] = UInt8(payloadLength & 0xff)
        packet[6] = extensions.first?.type ?? proto
        packet[7] = 64
        packet.replaceSubrange(8..<24, with: address(source).bytes)
        packet.replaceSubrange(24..<40, with: address(destination).bytes)
        return packet + chain + body
    }

    /// An 8-byte hop-by-hop or destination options header (PadN filling it).
    static let options: [UInt8] = [0, 0, 1, 4, 0, 0, 0, 0]

    /// An IPv6 fragment header at `offset` (in bytes, a multiple of 8).
    static func fragmentHeader(offset: UInt16, more: Bool) -> [UInt8] {
        let field = offset | (more ? 1 : 0)
        return [0, 0, UInt8(field >> 8), UInt8(field & 0xff), 0, 0, 0x12, 0x34]
    }
}
