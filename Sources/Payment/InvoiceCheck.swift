import Session

/// How far a provider's counts may exceed the consumer's own before the consumer calls it
/// over-invoicing: `percent` of the consumer's count plus a fixed slack.
///
/// The defaults (2 % + 64 KiB per direction, 2 % + 10 s) cover the provider counting a
/// packet the consumer never received (lost on the way), packets in flight when either side
/// reads its counter, and the two sides' clocks ticking at slightly different moments.
public struct InvoiceTolerance: Hashable, Sendable {
    public var percent: UInt64
    public var slackBytes: UInt64
    public var slackSeconds: UInt64

    public init(percent: UInt64 = 2, slackBytes: UInt64 = 64 * 1024, slackSeconds: UInt64 = 10) {
        self.percent = percent
        self.slackBytes = slackBytes
        self.slackSeconds = slackSeconds
    }

    public static let standard = InvoiceTolerance()

    /// measured + measured × percent / 100 + slack, saturating (so no count can overflow it).
    func allowed(_ measured: UInt64, slack: UInt64) -> UInt64 {
        let (scaled, overflow) = measured.multipliedReportingOverflow(by: percent)
        let margin = overflow ? UInt64.max : scaled / 100
        let (withMargin, overflow2) = measured.addingReportingOverflow(margin)
        let (withSlack, overflow3) = withMargin.addingReportingOverflow(slack)
        return overflow2 || overflow3 ? UInt64.max : withSlack
    }
}

/// What a consumer does with an invoice.
public enum InvoiceVerdict: Equatable, Sendable {
    /// Sign (or re-send) a voucher for this cumulative amount.
    case pay(cumulative: UInt128)
    /// The invoice is wrong: disconnect and say why.
    case overInvoiced(InvoiceProblem)
    /// Paying would pass the spending cap: pay at most `finalCumulative`, then disconnect.
    case capReached(finalCumulative: UInt128)
    /// An invoice no newer than one already handled (a replay or a reordering): ignore it.
    case stale
}

/// Why an invoice was refused; each case carries the numbers a log line needs.
public enum InvoiceProblem: Equatable, Sendable {
    case notSignedByProvider
    case wrongChannel
    case wrongSession(UInt32)
    case bytesFromConsumer(invoiced: UInt64, measured: UInt64)
    case bytesToConsumer(invoiced: UInt64, measured: UInt64)
    case seconds(invoiced: UInt64, measured: UInt64)
    /// The amount is more than the tariff gives for the invoiced usage.
    case amountAboveTariff(invoiced: UInt128, tariff: UInt128)
    /// The usage is so large that its price does not fit in 128 bits.
    case amountOverflow
}

/// The consumer's check of one invoice against its own meters, price, budget and the last
/// voucher it signed. Pure: the caller passes in everything, including its counts.
///
/// In order: the provider's signature, the channel and session, the sequence (older →
/// `.stale`), each count within tolerance of the consumer's own, the amount within
/// `sessionBase` + the tariff's price of the invoiced counts, and finally the cap. An amount
/// the last voucher already covers gets that voucher again (it may have been lost).
public struct InvoiceCheck: Sendable {
    public var domain: EIP712Domain
    public var provider: EthereumAddress
    public var channelID: ChannelID
    public var sessionID: UInt32
    public var tariff: Tariff
    public var tolerance: InvoiceTolerance
    /// The channel's cumulative amount when this session began: earlier sessions' share.
    public var sessionBase: UInt128
    /// The highest cumulative amount the consumer will sign on this channel (its budget,
    /// never more than the deposit).
    public var spendingCap: UInt128
    /// The highest voucher signed on this channel so far.
    public var lastVoucherAmount: UInt128
    /// The highest invoice sequence handled in this session (nil before the first).
    public var lastSequence: UInt64?

    public init(domain: EIP712Domain, provider: EthereumAddress, channelID: ChannelID, sessionID: UInt32,
                tariff: Tariff, tolerance: InvoiceTolerance = .standard, sessionBase: UInt128,
                spendingCap: UInt128, lastVoucherAmount: UInt128, lastSequence: UInt64? = nil) {
        self.domain = domain
        self.provider = provider
        self.channelID = channelID
        self.sessionID = sessionID
        self.tariff = tariff
        self.tolerance = tolerance
        self.sessionBase = sessionBase
        self.spendingCap = spendingCap
        self.lastVoucherAmount = lastVoucherAmount
        self.lastSequence = lastSequence
    }

    /// `bytesSent` and `bytesReceived` are the consumer's own counts for this session, over
    /// the same packets the provider meters (inner packets through the tunnel).
    public func evaluate(_ signed: SignedInvoice, bytesSent: UInt64, bytesReceived: UInt64,
                         secondsConnected: UInt64) -> InvoiceVerdict {
        let invoice = signed.invoice
        guard signed.signer(domain: domain) == provider else { return .overInvoiced(.notSignedByProvider) }
        guard invoice.channelID == channelID else { return .overInvoiced(.wrongChannel) }
        guard invoice.sessionID == sessionID else { return .overInvoiced(.wrongSession(invoice.sessionID)) }
        if let last = lastSequence, invoice.sequence <= last { return .stale }

        guard invoice.bytesFromConsumer <= tolerance.allowed(bytesSent, slack: tolerance.slackBytes) else {
            return .overInvoiced(.bytesFromConsumer(invoiced: invoice.bytesFromConsumer, measured: bytesSent))
        }
        guard invoice.bytesToConsumer <= tolerance.allowed(bytesReceived, slack: tolerance.slackBytes) else {
            return .overInvoiced(.bytesToConsumer(invoiced: invoice.bytesToConsumer, measured: bytesReceived))
        }
        guard invoice.secondsConnected <= tolerance.allowed(secondsConnected, slack: tolerance.slackSeconds) else {
            return .overInvoiced(.seconds(invoiced: invoice.secondsConnected, measured: secondsConnected))
        }

        let bytes = UInt128(invoice.bytesFromConsumer) + UInt128(invoice.bytesToConsumer)
        guard let usage = tariff.cost(bytes: bytes, seconds: invoice.secondsConnected) else {
            return .overInvoiced(.amountOverflow)
        }
        let (fair, overflow) = sessionBase.addingReportingOverflow(usage)
        guard !overflow else { return .overInvoiced(.amountOverflow) }
        guard invoice.amountDue <= fair else {
            return .overInvoiced(.amountAboveTariff(invoiced: invoice.amountDue, tariff: fair))
        }

        if invoice.amountDue <= lastVoucherAmount { return .pay(cumulative: lastVoucherAmount) }
        if invoice.amountDue > spendingCap { return .capReached(finalCumulative: max(spendingCap, lastVoucherAmount)) }
        return .pay(cumulative: invoice.amountDue)
    }
}
