/// warren's payment messages travel inside the tunnel, to the provider's tunnel address.
/// Their type numbers continue the session messages' (5–7), so no two warren messages share
/// a first byte wherever they are seen.
public enum PaymentMessageType: UInt8, Sendable {
    case voucher = 8
    case invoice = 9
}

/// Byte sizes of the payment messages (docs/PAYMENT-PROTOCOL.md has the tables). Every
/// message has one fixed length, so a parser decides by type and length alone.
public enum PaymentLayout {
    public static let headerLength = 4
    public static let wordLength = 32

    /// type, reserved, channel id, cumulative amount, signature.
    public static let voucherLength = headerLength + ChannelID.length + wordLength + Signature.length  // 133

    /// type, reserved, channel id, session id, sequence, bytes in, bytes out, seconds,
    /// amount due, signature.
    public static let invoiceLength = headerLength + ChannelID.length + 4 + 8 * 4 + wordLength + Signature.length  // 169
}
