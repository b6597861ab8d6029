/// A consumer's promise: "the provider may take `cumulativeAmount` in total from this
/// channel". Cumulative, so each voucher supersedes every earlier one: a lost voucher costs
/// nothing, and only the highest needs keeping.
///
/// Signed as EIP-712 `Voucher(bytes32 channelId,uint256 cumulativeAmount)`, so an EVM
/// contract verifies it with `ecrecover` and a chain backend needs no new format.
public struct Voucher: Hashable, Sendable {
    public static let encodedType = "Voucher(bytes32 channelId,uint256 cumulativeAmount)"
    public static let typeHash = EIP712.typeHash(encodedType)

    public let channelID: ChannelID
    /// Base units of the token, everything paid on this channel so far.
    public let cumulativeAmount: UInt128

    public init(channelID: ChannelID, cumulativeAmount: UInt128) {
        self.channelID = channelID
        self.cumulativeAmount = cumulativeAmount
    }

    public var structHash: [UInt8] {
        EIP712.hashStruct(typeHash: Self.typeHash, fields: [
            EIP712.word(bytes32: channelID.bytes), EIP712.word(uint: cumulativeAmount),
        ])
    }

    public func digest(domain: EIP712Domain) -> [UInt8] {
        EIP712.digest(domainSeparator: domain.separator, structHash: structHash)
    }

    public func sign(with key: WalletKey, domain: EIP712Domain) -> SignedVoucher {
        SignedVoucher(voucher: self, signature: key.sign(digest: digest(domain: domain)))
    }
}

/// A voucher with its signature, as it travels and as the provider keeps it.
///
/// Wire form (133 bytes, big-endian):
///
///     0    1   type = 8
///     1    1   flags: bit 0 "closing" (answer with the final invoice at once); others zero
///     2    2   reserved, zero
///     4   32   channel id
///     36  32   cumulative amount, uint256 (the top 16 bytes must be zero)
///     68  65   signature r ‖ s ‖ v
public struct SignedVoucher: Hashable, Sendable {
    public let voucher: Voucher
    public let signature: Signature

    public init(voucher: Voucher, signature: Signature) {
        self.voucher = voucher
        self.signature = signature
    }

    public var channelID: ChannelID { voucher.channelID }
    public var cumulativeAmount: UInt128 { voucher.cumulativeAmount }

    /// Who signed it under `domain` (nil if nobody could have). The caller compares this
    /// with the channel's consumer: a valid signature by anyone else is worth nothing.
    public func signer(domain: EIP712Domain) -> EthereumAddress? {
        signature.recover(digest: voucher.digest(domain: domain))
    }

    /// The "closing" flag: the consumer is about to end the session and asks the provider for
    /// its final invoice now. Not signed: it moves no money, it only asks for a bill.
    public static let closingFlag: UInt8 = 0x01

    /// Whether a voucher message carries the closing flag (after it parsed).
    public static func isClosing(_ bytes: [UInt8]) -> Bool {
        bytes.count > 1 && bytes[1] & closingFlag != 0
    }

    public func serialized(closing: Bool = false) -> [UInt8] {
        var out: [UInt8] = [PaymentMessageType.voucher.rawValue, closing ? Self.closingFlag : 0, 0, 0]
        out.reserveCapacity(PaymentLayout.voucherLength)
        out += voucher.channelID.bytes
        out += UInt256.encode(voucher.cumulativeAmount)
        out += signature.bytes
        return out
    }

    /// Checks type and exact length first, then reserved bytes, the amount's range and the
    /// signature's canonical form. Recovering the signer is left to `signer(domain:)`.
    public init(parsing bytes: [UInt8]) throws(PaymentError) {
        try checkHeader(bytes, type: .voucher, length: PaymentLayout.voucherLength, flags: Self.closingFlag)
        var reader = PaymentReader(bytes)
        _ = reader.take(PaymentLayout.headerLength)
        let channelID = ChannelID(checked: reader.take(ChannelID.length))
        guard let amount = UInt256.decode(reader.take(PaymentLayout.wordLength)) else { throw .amountTooLarge }
        let signature = try Signature(bytes: reader.take(Signature.length))
        voucher = Voucher(channelID: channelID, cumulativeAmount: amount)
        self.signature = signature
    }
}
