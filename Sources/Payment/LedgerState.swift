/// A claim's id: keccak256("warren claim" ‖ channel id ‖ uint256 cumulative amount).
///
/// Derived from what is claimed, so submitting the same voucher twice names the same claim,
/// and a watchdog that lost track of a submission can ask about it by recomputing the id.
public struct ClaimID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public init(channelID: ChannelID, cumulativeAmount: UInt128) {
        bytes = Keccak256.hash(Array("warren claim".utf8), channelID.bytes, UInt256.encode(cumulativeAmount))
    }

    public var description: String { Hex.prefixed(bytes) }

    public static func < (a: ClaimID, b: ClaimID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// What a settled claim did.
public struct ClaimReceipt: Hashable, Sendable {
    public let id: ClaimID
    public let channelID: ChannelID
    /// The voucher's cumulative amount.
    public let cumulativeAmount: UInt128
    /// What this claim moved to the provider: the voucher's amount less what earlier claims
    /// already took, or zero.
    public let amountPaid: UInt128

    public init(id: ClaimID, channelID: ChannelID, cumulativeAmount: UInt128, amountPaid: UInt128) {
        self.id = id
        self.channelID = channelID
        self.cumulativeAmount = cumulativeAmount
        self.amountPaid = amountPaid
    }
}

/// Where a submitted claim stands. The local ledger settles at once (`.confirmed`); a chain
/// backend reports `.pending` until its transaction is final.
public enum ClaimState: Equatable, Sendable {
    case unknown
    case pending
    case confirmed(ClaimReceipt)
}

/// A channel as the ledger holds it.
public struct LedgerChannel: Hashable, Sendable {
    public let channel: Channel
    /// Everything paid to the provider so far (the highest voucher claimed).
    public var claimed: UInt128
    /// Set when the consumer took the remainder back after expiry; nothing moves after that.
    public var reclaimed: Bool

    public init(channel: Channel, claimed: UInt128 = 0, reclaimed: Bool = false) {
        self.channel = channel
        self.claimed = claimed
        self.reclaimed = reclaimed
    }
}

/// Why the ledger refused an operation. The rule cases are the ones an on-chain contract
/// would revert with; the storage cases belong to the local ledger's file.
public enum LedgerError: Error, Equatable, Sendable {
    case unknownChannel(ChannelID)
    case channelExists(ChannelID)
    case insufficientBalance(available: UInt128, needed: UInt128)
    case zeroDeposit
    case expiryPassed(expiry: UInt64, now: UInt64)
    case sameParty
    /// The voucher's signer is not the channel's consumer (or no one).
    case wrongSigner
    case amountAboveDeposit(amount: UInt128, deposit: UInt128)
    /// Claims are accepted strictly before expiry.
    case channelExpired(expiry: UInt64)
    /// Reclaims are accepted at or after expiry.
    case notYetExpired(expiry: UInt64)
    case alreadyReclaimed
    case balanceOverflow
    /// The ledger on disk was made for another EIP-712 domain (another "contract").
    case domainMismatch
    /// The ledger file is torn, truncated, or not a ledger file.
    case corrupt(String)
    /// Reading or writing the ledger's files failed.
    case storage(StorageFailure)
}

/// The rules of the channel contract over plain values: balances, channels and settled
/// claims. `LocalLedger` loads it, applies one operation and stores it under a lock; the
/// tests drive it directly. Time is a parameter (Unix seconds).
public struct LedgerState: Equatable, Sendable {
    public let domain: EIP712Domain
    public private(set) var balances: [EthereumAddress: UInt128] = [:]
    public private(set) var channels: [ChannelID: LedgerChannel] = [:]
    public private(set) var claims: [ClaimID: ClaimReceipt] = [:]

    public init(domain: EIP712Domain) {
        self.domain = domain
    }

    public func balance(of address: EthereumAddress) -> UInt128 { balances[address] ?? 0 }

    public func claimState(_ id: ClaimID) -> ClaimState {
        claims[id].map { .confirmed($0) } ?? .unknown
    }

    /// The faucet: tests and the demo credit an address from nowhere.
    public mutating func fund(_ address: EthereumAddress, amount: UInt128) throws(LedgerError) {
        try credit(address, amount)
    }

    /// Locks `channel.deposit` of the consumer's balance in a new channel.
    public mutating func open(_ channel: Channel, now: UInt64) throws(LedgerError) {
        guard channels[channel.id] == nil else { throw .channelExists(channel.id) }
        guard channel.consumer != channel.provider else { throw .sameParty }
        guard channel.deposit > 0 else { throw .zeroDeposit }
        guard channel.expiry > now else { throw .expiryPassed(expiry: channel.expiry, now: now) }
        let available = balance(of: channel.consumer)
        guard available >= channel.deposit else { throw .insufficientBalance(available: available, needed: channel.deposit) }
        balances[channel.consumer] = available - channel.deposit
        channels[channel.id] = LedgerChannel(channel: channel)
    }

    /// Pays the provider what `voucher` adds over earlier claims. Refused unless the channel
    /// is open, not expired, the consumer signed under this ledger's domain, and the amount
    /// is within the deposit. The same or a lower voucher again pays nothing.
    public mutating func claim(_ voucher: SignedVoucher, now: UInt64) throws(LedgerError) -> ClaimReceipt {
        guard var entry = channels[voucher.channelID] else { throw .unknownChannel(voucher.channelID) }
        guard !entry.reclaimed else { throw .alreadyReclaimed }
        guard now < entry.channel.expiry else { throw .channelExpired(expiry: entry.channel.expiry) }
        guard voucher.signer(domain: domain) == entry.channel.consumer else { throw .wrongSigner }
        let amount = voucher.cumulativeAmount
        guard amount <= entry.channel.deposit else {
            throw .amountAboveDeposit(amount: amount, deposit: entry.channel.deposit)
        }
        let payment = amount > entry.claimed ? amount - entry.claimed : 0
        if payment > 0 {
            try credit(entry.channel.provider, payment)
            entry.claimed = amount
            channels[voucher.channelID] = entry
        }
        let id = ClaimID(channelID: voucher.channelID, cumulativeAmount: amount)
        let receipt = ClaimReceipt(id: id, channelID: voucher.channelID, cumulativeAmount: amount, amountPaid: payment)
        // The first settlement of an id is its record; a resubmission is answered, not recorded.
        if claims[id] == nil { claims[id] = receipt }
        return receipt
    }

    /// Returns the unclaimed deposit to the consumer, once, at or after expiry.
    public mutating func reclaim(_ channelID: ChannelID, now: UInt64) throws(LedgerError) -> UInt128 {
        guard var entry = channels[channelID] else { throw .unknownChannel(channelID) }
        guard !entry.reclaimed else { throw .alreadyReclaimed }
        guard now >= entry.channel.expiry else { throw .notYetExpired(expiry: entry.channel.expiry) }
        let refund = entry.channel.deposit - entry.claimed
        try credit(entry.channel.consumer, refund)
        entry.reclaimed = true
        channels[channelID] = entry
        return refund
    }

    private mutating func credit(_ address: EthereumAddress, _ amount: UInt128) throws(LedgerError) {
        let (sum, overflow) = balance(of: address).addingReportingOverflow(amount)
        guard !overflow else { throw .balanceOverflow }
        balances[address] = sum
    }

    /// Rebuilds a state from parts the file format's reader has already checked.
    init(domain: EIP712Domain, balances: [EthereumAddress: UInt128], channels: [ChannelID: LedgerChannel],
         claims: [ClaimID: ClaimReceipt]) {
        self.domain = domain
        self.balances = balances
        self.channels = channels
        self.claims = claims
    }
}
