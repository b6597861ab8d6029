import Session

/// The provider's credit to one consumer in one session, in integers: what the session's
/// usage costs, and how many bytes it may carry before the best voucher on disk stops
/// covering it.
///
///     due       = sessionBase + tariff.cost(bytes, seconds)
///     forwarded while  due ≤ paid + windowAmount − debtLeft(paid)
///     windowAmount     = tariff.cost(windowBytes, 60 s)
///
/// `paid` is the best voucher the provider has written durably, so after a power cut the
/// provider has lost at most one window. The minute in the window keeps a time-only tariff
/// from pausing a session the instant its first second is due. `carried` is what the
/// consumer's identity left unpaid in its earlier sessions (`CreditBook`): it comes off the
/// window, so asking again never buys a fresh one. With `paysDown`, what the session pays
/// beyond its base pays the carried amount down first.
public struct CreditLine: Hashable, Sendable {
    public let tariff: Tariff
    /// The channel's cumulative amount when the session bound it: earlier sessions' share.
    public let sessionBase: UInt128
    public let windowBytes: UInt64
    /// Unpaid amount of the identity's earlier sessions, taken off the window.
    public let carried: UInt128
    /// Whether this session's payments pay `carried` down (a consumer with a good record).
    public let paysDown: Bool

    public init(tariff: Tariff, sessionBase: UInt128, windowBytes: UInt64, carried: UInt128 = 0, paysDown: Bool = false) {
        self.tariff = tariff
        self.sessionBase = sessionBase
        self.windowBytes = windowBytes
        self.carried = carried
        self.paysDown = paysDown
    }

    /// The same line with another base, window or pay-down rule, the carried amount kept.
    public func with(sessionBase: UInt128? = nil, windowBytes: UInt64? = nil, paysDown: Bool? = nil) -> CreditLine {
        CreditLine(tariff: tariff, sessionBase: sessionBase ?? self.sessionBase, windowBytes: windowBytes ?? self.windowBytes,
                   carried: carried, paysDown: paysDown ?? self.paysDown)
    }

    /// What is left of `carried` once the session has paid `paid` (cumulative on the channel).
    public func debtLeft(paid: UInt128) -> UInt128 {
        guard paysDown else { return carried }
        let earned = paid > sessionBase ? paid - sessionBase : 0
        return carried - min(carried, earned)
    }

    /// What the session has used and not paid: due − paid, or 0.
    public func unpaid(bytes: UInt64, seconds: UInt64, paid: UInt128) -> UInt128 {
        let owed = due(bytes: bytes, seconds: seconds)
        return owed > paid ? owed - paid : 0
    }

    /// What the session owes in total on the channel; saturates (a usage whose price does not
    /// fit in 128 bits is owed "everything", which no voucher covers).
    public func due(bytes: UInt64, seconds: UInt64) -> UInt128 {
        guard let usage = tariff.cost(bytes: UInt128(bytes), seconds: seconds) else { return .max }
        let (sum, overflow) = sessionBase.addingReportingOverflow(usage)
        return overflow ? .max : sum
    }

    /// The credit beyond the paid amount, in base units.
    public var windowAmount: UInt128 {
        tariff.cost(bytes: UInt128(windowBytes), seconds: 60) ?? .max
    }

    /// Whether usage of `bytes` over `seconds` is covered by `paid` plus the window.
    public func covers(bytes: UInt64, seconds: UInt64, paid: UInt128) -> Bool {
        due(bytes: bytes, seconds: seconds) <= limit(paid: paid)
    }

    /// The most bytes (in total, this session) that `paid` plus the window covers after
    /// `seconds`: the data plane checks a byte counter against this and only recomputes when
    /// it is crossed. `UInt64.max` when bytes are free.
    public func byteAllowance(seconds: UInt64, paid: UInt128) -> UInt64 {
        let limit = limit(paid: paid)
        guard let timeCost = tariff.cost(bytes: 0, seconds: seconds) else { return 0 }
        let (spent, overflow) = sessionBase.addingReportingOverflow(timeCost)
        guard !overflow, spent <= limit else { return 0 }
        let budget = limit - spent
        guard tariff.perGiB > 0 else { return .max }
        // floor(budget × 2^30 / perGiB): then bytes × perGiB ≤ budget × 2^30, so
        // cost(bytes) = floor(bytes × perGiB / 2^30) ≤ budget.
        let (high, low) = budget.multipliedFullWidth(by: UInt128(1) << 30)
        guard high < tariff.perGiB else { return .max }
        let bytes = tariff.perGiB.dividingFullWidth((high, low)).quotient
        guard bytes < UInt128(UInt64.max) else { return .max }
        return UInt64(bytes)
    }

    private func limit(paid: UInt128) -> UInt128 {
        let (sum, overflow) = paid.addingReportingOverflow(windowAmount)
        let debt = debtLeft(paid: paid)
        guard !overflow else { return .max - debt }
        return sum > debt ? sum - debt : 0
    }
}

/// What the provider remembers of one consumer identity across its sessions (in memory,
/// since the provider started): its credit window, what it has paid, and what it left
/// unpaid.
///
/// The window: a stranger starts at `maximum / 16` (at least 64 KiB), and each voucher that
/// paid everything that was due doubles it, up to `maximum`, but never beyond the bytes that
/// the identity has paid for in total (`paid` at the per-GiB price): so a consumer that never
/// pays gets one small window, a good one is not throttled by the round trip of its
/// vouchers, and cheap vouchers do not buy a large window.
///
/// The debt: what its ended or replaced sessions used and did not pay, remembered until
/// `debtMemory` seconds after it last grew. The next session's window money is reduced by it.
public struct CreditRecord: Hashable, Sendable {
    public static let minimumWindow: UInt64 = 64 * 1024
    public static let debtMemorySeconds: UInt64 = 600
    public let maximum: UInt64
    /// Vouchers that arrived covering everything due when they were asked for.
    public private(set) var goodVouchers: UInt32 = 0
    /// Everything its vouchers added, over all its sessions.
    public private(set) var paid: UInt128 = 0
    private var debt: UInt128 = 0
    /// Until when (seconds, the caller's clock) the debt is remembered.
    public private(set) var debtUntil: UInt64 = 0

    public init(maximum: UInt64) {
        self.maximum = maximum
    }

    public var firstWindow: UInt64 { min(max(Self.minimumWindow, maximum / 16), maximum) }

    /// The window by good vouchers alone.
    public var window: UInt64 {
        let first = firstWindow
        guard first < maximum else { return maximum }
        let shift = min(goodVouchers, 16)
        let (grown, overflow) = first.multipliedReportingOverflow(by: UInt64(1) << shift)
        return overflow ? maximum : min(grown, maximum)
    }

    /// The window this identity gets: by good vouchers (each paid what was asked of it). Not
    /// also capped by the bytes paid so far: that cap held a paid session at about a fifth of
    /// its speed for its first minute, and the loss stays bounded without it (one window's
    /// money beyond what was paid, the identity's debt carried).
    public func window(tariff: Tariff) -> UInt64 { window }

    /// Whether it has paid for a first window's bytes (for a tariff without a byte price, for
    /// one minute): until then it is a stranger, whose credit comes out of the provider's
    /// `StrangerBudget`. Not the whole window money, which adds a minute of time: that would
    /// keep an honest consumer at the first window for its first minute whatever it pays.
    public func isGood(tariff: Tariff) -> Bool {
        let bytesPrice = tariff.cost(bytes: UInt128(firstWindow), seconds: 0) ?? .max
        let threshold = bytesPrice > 0 ? bytesPrice : (tariff.cost(bytes: 0, seconds: 60) ?? .max)
        return paid >= threshold
    }

    /// The unpaid amount of earlier sessions that still counts at `now`. A stranger's is
    /// forgotten after `debtMemorySeconds`; an identity that has paid keeps its debt until it
    /// pays it (as long as the provider runs), or else every forgotten debt would buy it a new
    /// window on the strength of an old payment.
    public func debt(now: UInt64) -> UInt128 { paid > 0 || now < debtUntil ? debt : 0 }

    /// Whether the record holds nothing worth keeping at `now`.
    public func isEmpty(now: UInt64) -> Bool { goodVouchers == 0 && paid == 0 && debt(now: now) == 0 }

    public mutating func recordGoodVoucher() {
        if goodVouchers < .max { goodVouchers += 1 }
    }

    public mutating func recordPayment(_ amount: UInt128) {
        let (sum, overflow) = paid.addingReportingOverflow(amount)
        paid = overflow ? .max : sum
    }

    /// Hands the debt to a new session (whose credit line carries it) and forgets it here.
    public mutating func takeDebt(now: UInt64) -> UInt128 {
        defer { debt = 0; debtUntil = 0 }
        return debt(now: now)
    }

    /// A session ended or was replaced leaving `amount` unpaid (its own and what is left of
    /// what it carried): remembered for `debtMemorySeconds` from now.
    public mutating func carry(_ amount: UInt128, now: UInt64) {
        guard amount > 0 else { return }
        let (sum, overflow) = debt(now: now).addingReportingOverflow(amount)
        debt = overflow ? .max : sum
        debtUntil = now &+ Self.debtMemorySeconds
    }
}
