/// A provider's statement inside a session: what it metered and what the consumer owes in
/// total on the channel. The consumer checks it against its own counts (`InvoiceCheck`)
/// and answers with a voucher.
///
/// Signed with the provider's wallet key the same EIP-712 way as a voucher, as
/// `Invoice(bytes32 channelId,uint32 sessionId,uint64 sequence,uint64 bytesIn,uint64 bytesOut,uint64 seconds,uint256 amountDue)`.
/// `bytesIn` and `bytesOut` are as the provider sees them: in = from the consumer,
/// out = to the consumer. The signature lets a consumer show a third party what it was
/// billed; no contract needs to check it.
public struct Invoice: Hashable, Sendable {
    public static let encodedType =
        "Invoice(bytes32 channelId,uint32 sessionId,uint64 sequence,uint64 bytesIn,uint64 bytesOut,uint64 seconds,uint256 amountDue)"
    public static let typeHash = EIP712.typeHash(encodedType)

    public let channelID: ChannelID
    /// The provider's handle for the session (as in the session response).
    public let sessionID: UInt32
    /// Increases with every invoice of a session, so an old invoice replayed is recognised.
    public let sequence: UInt64
    /// Bytes the provider received from the consumer in this session.
    public let bytesFromConsumer: UInt64
    /// Bytes the provider sent to the consumer in this session.
    public let bytesToConsumer: UInt64
    /// Seconds this session has been connected.
    public let secondsConnected: UInt64
    /// Cumulative on the channel, in base units: what the next voucher should say.
    public let amountDue: UInt128

    public init(channelID: ChannelID, sessionID: UInt32, sequence: UInt64, bytesFromConsumer: UInt64,
                bytesToConsumer: UInt64, secondsConnected: UInt64, amountDue: UInt128) {
        self.channelID = channelID
        self.sessionID = sessionID
        self.sequence = sequence
        self.bytesFromConsumer = bytesFromConsumer
        self.bytesToConsumer = bytesToConsumer
        self.secondsConnected = secondsConnected
        self.amountDue = amountDue
    }

    public var structHash: [UInt8] {
        EIP712.hashStruct(typeHash: Self.typeHash, fields: [
            EIP712.word(bytes32: channelID.bytes), EIP712.word(uint: UInt64(sessionID)),
            EIP712.word(uint: sequence), EIP712.word(uint: bytesFromConsumer),
            EIP712.word(uint: bytesToConsumer), EIP712.word(uint: secondsConnected),
            EIP712.word(uint: amountDue),
        ])
    }

    public func digest(domain: EIP712Domain) -> [UInt8] {
        EIP712.digest(domainSeparator: domain.separator, structHash: structHash)
    }

    public func sign(with key: WalletKey, domain: EIP712Domain) -> SignedInvoice {
        SignedInvoice(invoice: self, signature: key.sign(digest: digest(domain: domain)))
    }
}

/// An invoice with the provider's signature.
///
/// Wire form (169 bytes, big-endian):
///
///     0    1   type = 9
///     1    3   reserved, zero
///     4   32   channel id
///     36   4   session id
///     40   8   sequence
///     48   8   bytes from the consumer (provider's "in")
///     56   8   bytes to the consumer (provider's "out")
///     64   8   seconds connected
///     72  32   amount due, uint256 (the top 16 bytes must be zero)
///     104 65   signature r ‖ s ‖ v
public struct SignedInvoice: Hashable, Sendable {
    public let invoice: Invoice
    public let signature: Signature

    public init(invoice: Invoice, signature: Signature) {
        self.invoice = invoice
        self.signature = signature
    }

    public func signer(domain: EIP712Domain) -> EthereumAddress? {
        signature.recover(digest: invoice.digest(domain: domain))
    }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = [PaymentMessageType.invoice.rawValue, 0, 0, 0]
        out.reserveCapacity(PaymentLayout.invoiceLength)
        out += invoice.channelID.bytes
        out += bigEndian(invoice.sessionID)
        out += bigEndian(invoice.sequence)
        out += bigEndian(invoice.bytesFromConsumer)
        out += bigEndian(invoice.bytesToConsumer)
        out += bigEndian(invoice.secondsConnected)
        out += UInt256.encode(invoice.amountDue)
        out += signature.bytes
        return out
    }

    /// Checks type and exact length first, then reserved bytes, the amount's range and the
    /// signature's canonical form. Recovering the signer is left to `signer(domain:)`.
    public init(parsing bytes: [UInt8]) throws(PaymentError) {
        try checkHeader(bytes, type: .invoice, length: PaymentLayout.invoiceLength)
        var reader = PaymentReader(bytes)
        _ = reader.take(PaymentLayout.headerLength)
        let channelID = ChannelID(checked: reader.take(ChannelID.length))
        let sessionID = reader.unsigned(UInt32.self)
        let sequence = reader.unsigned(UInt64.self)
        let bytesIn = reader.unsigned(UInt64.self)
        let bytesOut = reader.unsigned(UInt64.self)
        let seconds = reader.unsigned(UInt64.self)
        guard let amount = UInt256.decode(reader.take(PaymentLayout.wordLength)) else { throw .amountTooLarge }
        let signature = try Signature(bytes: reader.take(Signature.length))
        invoice = Invoice(channelID: channelID, sessionID: sessionID, sequence: sequence, bytesFromConsumer: bytesIn,
                          bytesToConsumer: bytesOut, secondsConnected: seconds, amountDue: amount)
        self.signature = signature
    }
}
