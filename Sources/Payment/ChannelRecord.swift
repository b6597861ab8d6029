/// Which end of a channel this agent is.
public enum ChannelRole: String, Hashable, Sendable {
    /// Receives vouchers, keeps the highest, claims it on the ledger.
    case provider
    /// Signs vouchers; its highest signed amount is its high-water mark.
    case consumer
}

/// A claim the provider's watchdog has handed to the settlement backend.
///
/// The id is derived from the channel and the amount (`ClaimID`), so the watchdog can ask
/// the backend about a submission it made before a power cut by recomputing it.
public struct SubmittedClaim: Hashable, Sendable {
    /// The voucher's cumulative amount.
    public let amount: UInt128
    public let id: ClaimID
    /// Unix seconds of the first submission.
    public let submittedAt: UInt64
    /// Submissions so far (1 after the first).
    public var attempts: UInt32
    /// Unix seconds before which the watchdog neither resubmits nor asks again.
    public var nextRetry: UInt64
    /// The backend reported the claim settled; nothing more is done with it.
    public var confirmed: Bool

    public init(amount: UInt128, id: ClaimID, submittedAt: UInt64, attempts: UInt32, nextRetry: UInt64, confirmed: Bool) {
        self.amount = amount
        self.id = id
        self.submittedAt = submittedAt
        self.attempts = attempts
        self.nextRetry = nextRetry
        self.confirmed = confirmed
    }
}

/// Why a channel store refused an update or could not read or write its directory.
public enum ChannelStoreError: Error, Equatable, Sendable {
    case unknownChannel(ChannelID)
    case channelExists(ChannelID)
    /// A voucher for another channel than the record it was offered to.
    case wrongChannel(expected: ChannelID, actual: ChannelID)
    /// A voucher above the deposit is worthless above it and would make every claim fail.
    case aboveDeposit(amount: UInt128, deposit: UInt128)
    /// The consumer never signs below what it already signed: that would replay a lower voucher.
    case belowHighWaterMark(highWater: UInt128, offered: UInt128)
    /// Signing this voucher would take the consumer's spend today over its daily cap.
    case overDailyCap(cap: UInt128, spentToday: UInt128, adding: UInt128)
    /// A channel file that is torn, truncated, edited or not a channel file.
    case corrupt(String)
    /// Reading or writing the store's files failed.
    case storage(StorageFailure)
}

/// One channel as one side keeps it on disk: the channel's terms, the best voucher, what the
/// ledger has paid, the claims in flight, when the session ended, and the consumer's budget.
///
/// The rules that protect money live here, on plain values: the consumer's high-water mark
/// never goes down and never passes the daily cap; the provider keeps only a higher voucher;
/// no voucher above the deposit is kept. `ChannelStore` makes records durable.
public struct ChannelRecord: Hashable, Sendable {
    public static let secondsPerDay: UInt64 = 86_400
    /// Days of spend kept: enough for any daily cap, and a file that does not grow forever.
    public static let spendDaysKept: UInt64 = 7

    public let role: ChannelRole
    public let channel: Channel
    /// Provider: the highest voucher received. Consumer: the highest it has signed (its
    /// high-water mark). Nil before the first voucher.
    public internal(set) var bestVoucher: SignedVoucher?
    /// What the ledger has confirmed paid on this channel (the highest confirmed claim).
    public var claimed: UInt128
    /// Provider: claims handed to the backend, lowest amount first.
    public var claims: [SubmittedClaim]
    /// Unix seconds when the last session on the channel ended; nil while one may be running.
    public var sessionEndedAt: UInt64?
    /// Consumer: the most it may sign in vouchers per day (day = Unix seconds / 86400); nil
    /// for no cap.
    public var dailyCap: UInt128?
    /// Consumer: what its vouchers added, per day number.
    public internal(set) var spendPerDay: [UInt64: UInt128]
    /// Consumer: the unspent deposit was taken back after expiry.
    public var reclaimed: Bool

    public init(role: ChannelRole, channel: Channel, dailyCap: UInt128? = nil) {
        self.role = role
        self.channel = channel
        self.dailyCap = dailyCap
        bestVoucher = nil
        claimed = 0
        claims = []
        sessionEndedAt = nil
        spendPerDay = [:]
        reclaimed = false
    }

    /// Rebuilds a record from parts the file format's reader has already checked.
    init(role: ChannelRole, channel: Channel, bestVoucher: SignedVoucher?, claimed: UInt128, claims: [SubmittedClaim],
         sessionEndedAt: UInt64?, dailyCap: UInt128?, spendPerDay: [UInt64: UInt128], reclaimed: Bool) {
        self.role = role
        self.channel = channel
        self.bestVoucher = bestVoucher
        self.claimed = claimed
        self.claims = claims
        self.sessionEndedAt = sessionEndedAt
        self.dailyCap = dailyCap
        self.spendPerDay = spendPerDay
        self.reclaimed = reclaimed
    }

    public var id: ChannelID { channel.id }

    /// The best voucher's amount, zero before the first.
    public var bestAmount: UInt128 { bestVoucher?.cumulativeAmount ?? 0 }

    /// Best voucher less what the ledger paid: what a claim would bring now.
    public var unclaimed: UInt128 { bestAmount > claimed ? bestAmount - claimed : 0 }

    public static func day(_ now: UInt64) -> UInt64 { now / secondsPerDay }

    /// What the consumer's vouchers added on the day of `now`.
    public func spent(on now: UInt64) -> UInt128 { spendPerDay[Self.day(now)] ?? 0 }

    /// How much more the consumer may sign today; nil without a cap.
    public func remainingToday(now: UInt64) -> UInt128? {
        dailyCap.map { cap in
            let spent = spent(on: now)
            return cap > spent ? cap - spent : 0
        }
    }

    /// The highest claim handed to the backend and not yet confirmed.
    public var pendingClaim: SubmittedClaim? { claims.last { !$0.confirmed } }

    /// Offers a voucher. Returns whether it became the best one.
    ///
    /// Provider: a voucher no higher than the best is ignored (false). Consumer: the same
    /// amount again is a no-op, a lower one is refused (`belowHighWaterMark`), and the
    /// increase counts as spend on the day of `now`, refused when it would pass the cap.
    /// Both sides refuse another channel's voucher and one above the deposit. The signature
    /// is not checked here: the provider checks the signer before offering.
    @discardableResult
    public mutating func offer(_ voucher: SignedVoucher, now: UInt64) throws(ChannelStoreError) -> Bool {
        guard voucher.channelID == channel.id else { throw .wrongChannel(expected: channel.id, actual: voucher.channelID) }
        let amount = voucher.cumulativeAmount
        guard amount <= channel.deposit else { throw .aboveDeposit(amount: amount, deposit: channel.deposit) }
        let best = bestAmount
        switch role {
        case .provider:
            guard amount > best || (bestVoucher == nil && amount == 0) else { return false }
        case .consumer:
            guard amount >= best else { throw .belowHighWaterMark(highWater: best, offered: amount) }
            guard amount > best || bestVoucher == nil else { return false }
            let increase = amount - best
            let today = Self.day(now)
            let spentToday = spendPerDay[today] ?? 0
            if let cap = dailyCap, increase > 0, increase > (cap > spentToday ? cap - spentToday : 0) {
                throw .overDailyCap(cap: cap, spentToday: spentToday, adding: increase)
            }
            if increase > 0 {
                let (sum, overflow) = spentToday.addingReportingOverflow(increase)
                spendPerDay[today] = overflow ? .max : sum
            }
            spendPerDay = spendPerDay.filter { $0.key + Self.spendDaysKept > today }
        }
        bestVoucher = voucher
        return true
    }
}

extension Sequence<ChannelRecord> {
    /// What the consumer's vouchers added on the day of `now`, over all its channels (a
    /// daily budget is per consumer, not per channel); saturates instead of overflowing.
    public func consumerSpend(on now: UInt64) -> UInt128 {
        reduce(UInt128(0)) { total, record in
            guard record.role == .consumer else { return total }
            let (sum, overflow) = total.addingReportingOverflow(record.spent(on: now))
            return overflow ? .max : sum
        }
    }
}
