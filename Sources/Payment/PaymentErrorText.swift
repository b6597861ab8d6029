// What a channel store or ledger error says to a person: what was refused or what failed, in
// words, with what to do where there is something to do. Without these, an agent's message read
// `storage(call: "mkdir /var/lib/warren/channels", errno: 13)`.

extension ChannelStoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unknownChannel(let id): return "no channel \(id) in the channel store"
        case .channelExists(let id): return "channel \(id) is already in the channel store"
        case .wrongChannel(let expected, let actual):
            return "a voucher for channel \(actual) was offered to channel \(expected)"
        case .aboveDeposit(let amount, let deposit):
            return "a voucher for \(PaymentAmountText.tokens(amount)) is above the deposit of \(PaymentAmountText.tokens(deposit))"
        case .belowHighWaterMark(let highWater, let offered):
            return "a voucher for \(PaymentAmountText.tokens(offered)) is below the \(PaymentAmountText.tokens(highWater)) already signed"
        case .overDailyCap(let cap, let spentToday, let adding):
            return "adding \(PaymentAmountText.tokens(adding)) to today's \(PaymentAmountText.tokens(spentToday)) would pass the "
                + "daily cap of \(PaymentAmountText.tokens(cap)) (MaxSpend)"
        case .corrupt(let why): return "a channel file is damaged (\(why)): move it out of the channels directory"
        case .storage(let failure): return failure.description
        }
    }
}

extension LedgerError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unknownChannel(let id): return "the ledger has no channel \(id)"
        case .channelExists(let id): return "the ledger already has channel \(id)"
        case .insufficientBalance(let available, let needed):
            return "the balance is \(PaymentAmountText.tokens(available)); \(PaymentAmountText.tokens(needed)) needed"
        case .zeroDeposit: return "a channel needs a deposit above zero"
        case .expiryPassed(let expiry, let now): return "the expiry \(expiry) is not after now (\(now))"
        case .sameParty: return "the consumer and the provider are the same address"
        case .wrongSigner: return "the voucher is not signed by the channel's consumer"
        case .amountAboveDeposit(let amount, let deposit):
            return "the voucher's \(PaymentAmountText.tokens(amount)) is above the deposit of \(PaymentAmountText.tokens(deposit))"
        case .channelExpired(let expiry): return "the channel expired at \(expiry): it can no longer be claimed"
        case .notYetExpired(let expiry): return "the channel expires at \(expiry): it cannot be reclaimed before"
        case .alreadyReclaimed: return "the channel was already reclaimed"
        case .balanceOverflow: return "the balance would pass 2^128 base units"
        case .domainMismatch: return "the ledger was made for another EIP-712 domain (another contract)"
        case .corrupt(let why): return "the ledger file is damaged (\(why))"
        case .storage(let failure): return failure.description
        }
    }
}

/// Base units (10^-18 token) as exact decimal tokens: the one formatter of exact amounts, for
/// the messages above (exact, because they compare two amounts) and for the agent's
/// `TokenAmount`.
public enum PaymentAmountText {
    public static let decimals = 18
    public static let unit: UInt128 = 1_000_000_000_000_000_000

    /// `1.5`, `0.000000000000000001`, `3`: no trailing zeros, no unit.
    public static func number(_ baseUnits: UInt128) -> String {
        var fraction = String(baseUnits % unit)
        fraction = String(repeating: "0", count: decimals - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(baseUnits / unit)" : "\(baseUnits / unit).\(fraction)"
    }

    /// The number with its unit, "token" for exactly one.
    public static func tokens(_ baseUnits: UInt128) -> String {
        let text = number(baseUnits)
        return text + (text == "1" ? " token" : " tokens")
    }
}
