import WireGuard

/// Vouchers and invoices travel inside the tunnel as UDP datagrams between the two tunnel
/// addresses, on this port at both ends: the tunnel's encryption and cryptokey routing
/// authenticate the session, the messages' own signatures authenticate the money.
public enum PaymentPort {
    public static let number: UInt16 = 4747

    /// Whether `packet` is a UDP datagram to (or, with `destination` false, from) the payment
    /// port of one of `addresses`. A later fragment carries no port, so it never matches.
    public static func matches(_ packet: UnsafeRawBufferPointer, destination: Bool, addresses: [IPAddress]) -> Bool {
        guard let header = InnerPacketHeader(parsing: packet), header.transport == InnerPacketHeader.udp else { return false }
        let port = destination ? header.destinationPort : header.sourcePort
        return port == number && addresses.contains(destination ? header.destination : header.source)
    }
}
