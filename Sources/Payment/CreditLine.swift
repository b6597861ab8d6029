/// The provider's credit to one consumer in one session, in integers: what the session's
/// usage costs, and how many bytes it may carry before the best voucher on disk stops
/// covering it.
///
///     due       = sessionBase + tariff.cost(bytes, seconds)
///     forwarded while  due ≤ paid + windowAmount
///     windowAmount     = tariff.cost(windowBytes, 60 s)
///
/// `paid` is the best voucher the provider has written durably, so after a power cut the
/// provider has lost at most one window. The minute in the window keeps a time-only tariff
/// from pausing a session the instant its first second is due.
public struct CreditLine: Hashable, Sendable {
    public let tariff: Tariff
    /// The channel's cumulative amount when the session bound it: earlier sessions' share.
    public let sessionBase: UInt128
    public let windowBytes: UInt64

    public init(tariff: Tariff, sessionBase: UInt128, windowBytes: UInt64) {
        self.tariff = tariff
        self.sessionBase = sessionBase
        self.windowBytes = windowBytes
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
        return overflow ? .max : sum
    }
}

/// How much credit a consumer gets: a stranger starts at `maximum / 16` (at least 64 KiB),
/// and each voucher that paid everything that was due doubles it, up to `maximum`. So a
/// consumer that never pays gets one small window, and a good one is not throttled by the
/// round trip of its vouchers.
public struct CreditRecord: Hashable, Sendable {
    public static let minimumWindow: UInt64 = 64 * 1024
    public let maximum: UInt64
    /// Vouchers that arrived covering everything due when they were asked for.
    public private(set) var goodVouchers: UInt32 = 0

    public init(maximum: UInt64) {
        self.maximum = maximum
    }

    public var window: UInt64 {
        let first = max(Self.minimumWindow, maximum / 16)
        guard first < maximum else { return maximum }
        let shift = min(goodVouchers, 16)
        let (grown, overflow) = first.multipliedReportingOverflow(by: UInt64(1) << shift)
        return overflow ? maximum : min(grown, maximum)
    }

    public mutating func recordGoodVoucher() {
        if goodVouchers < .max { goodVouchers += 1 }
    }
}
