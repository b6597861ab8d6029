import LinuxPlatform
import WireGuard

// The core speaks `Endpoint` (plain bytes); the socket speaks `SocketAddress`
// (a sockaddr_in6). These conversions sit at the edge, without allocating.

extension Endpoint {
    public init(_ address: SocketAddress) {
        let port = address.port
        let ip: IPAddress = address.withIPBytes { bytes in
            if bytes.count == 4 {
                return .v4(UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3]))
            }
            var hi: UInt64 = 0, lo: UInt64 = 0
            for i in 0..<8 { hi = hi << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { lo = lo << 8 | UInt64(bytes[i]) }
            return .v6(hi, lo)
        }
        self.init(address: ip, port: port)
    }
}

extension SocketAddress {
    public init?(_ endpoint: Endpoint) {
        var raw: (UInt64, UInt64) = (0, 0)
        let port = endpoint.port
        let made: SocketAddress? = withUnsafeMutableBytes(of: &raw) { bytes in
            switch endpoint.address {
            case .v4(let value):
                for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(i))) }
                return SocketAddress(ipBytes: UnsafeRawBufferPointer(rebasing: bytes[0..<4]), port: port)
            case .v6(let hi, let lo):
                for i in 0..<8 {
                    bytes[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i)))
                    bytes[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i)))
                }
                return SocketAddress(ipBytes: UnsafeRawBufferPointer(bytes), port: port)
            }
        }
        guard let made else { return nil }
        self = made
    }
}
