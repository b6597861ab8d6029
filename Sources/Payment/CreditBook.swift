import Session

/// What strangers together may leave unpaid. A stranger is a consumer identity that has not
/// yet paid the provider one first window's money (`CreditRecord.isGood`); identities cost
/// nothing to make, so a bound per identity says nothing about a stream of new ones. This
/// bounds them all together:
///
///     reserved (window money of strangers' live sessions)
///       + lost (what strangers' sessions used and left unpaid, at most their reservation,
///               counted for an hour from their end)
///       ≤ capacity
///
/// A grant that does not fit is refused. A session's reservation is the credit it gets (its
/// window money), so the credit strangers use and do not pay in any 60 minutes is at most
/// `capacity` (plus the packets that cross a boundary at the same time: at most one per
/// direction and session). Pure: the caller passes the time, in seconds.
public struct StrangerBudget: Hashable, Sendable {
    /// A loss counts for the minute it was recorded in and the next 60: at least an hour.
    public static let periodMinutes: UInt64 = 60
    public let capacity: UInt128
    public private(set) var reserved: UInt128 = 0
    private var buckets: [Bucket]

    struct Bucket: Hashable, Sendable {
        var minute: UInt64
        var amount: UInt128
    }

    public init(capacity: UInt128) {
        self.capacity = capacity
        buckets = Array(repeating: Bucket(minute: .max, amount: 0), count: Int(Self.periodMinutes) + 1)
    }

    private func counts(_ bucket: Bucket, minute: UInt64) -> Bool {
        bucket.amount > 0 && bucket.minute <= minute && minute - bucket.minute <= Self.periodMinutes
    }

    /// What strangers' sessions left unpaid, as still counted at `now`.
    public func lost(now: UInt64) -> UInt128 {
        let minute = now / 60
        return buckets.reduce(UInt128(0)) { sum, bucket in
            guard counts(bucket, minute: minute) else { return sum }
            let (total, overflow) = sum.addingReportingOverflow(bucket.amount)
            return overflow ? .max : total
        }
    }

    /// Reserves `amount` for a stranger's session if it fits; false (nothing reserved) if not.
    public mutating func reserve(_ amount: UInt128, now: UInt64) -> Bool {
        let (used, overflow) = lost(now: now).addingReportingOverflow(reserved)
        let (total, overflow2) = used.addingReportingOverflow(amount)
        guard !overflow, !overflow2, total <= capacity else { return false }
        reserved += amount   // ≤ total: no overflow
        return true
    }

    /// A stranger's session gives its reservation back; `loss` (what it left unpaid) counts
    /// for the next hour.
    public mutating func release(_ reservation: UInt128, loss: UInt128, now: UInt64) {
        reserved -= min(reserved, reservation)
        guard loss > 0 else { return }
        let minute = now / 60
        let index = Int(minute % UInt64(buckets.count))
        if buckets[index].minute != minute { buckets[index] = Bucket(minute: minute, amount: 0) }
        let (sum, overflow) = buckets[index].amount.addingReportingOverflow(loss)
        buckets[index].amount = overflow ? .max : sum
    }

    /// Seconds until the oldest counted loss stops counting; nil when no loss counts.
    public func secondsUntilRelief(now: UInt64) -> UInt64? {
        let minute = now / 60
        guard let oldest = buckets.filter({ counts($0, minute: minute) }).map(\.minute).min() else { return nil }
        return (oldest &+ Self.periodMinutes &+ 1) &* 60 &- now
    }
}

/// The provider's memory of consumer identities (`CreditRecord` each) and its
/// `StrangerBudget`: the rules that bound what it can lose to one identity across its
/// requests, renewals and sessions, and to all identities that have not paid yet.
///
///   open   (a session request, also one that replaces the identity's live session)
///          -> the window, the debt the session carries, its reservation; or a refusal
///   paid   (a voucher added to the channel) -> the identity's record; a stranger that has
///          paid a first window's money is good from then on and gives its reservation back
///   close  (the session ended or was replaced) -> what it left unpaid is carried as the
///          identity's debt; a stranger's counts as lost in the budget for an hour
///
/// Pure: the caller passes the time (seconds of a monotonic clock).
public struct CreditBook: Sendable {
    public let tariff: Tariff
    public let maximumWindow: UInt64
    public private(set) var strangers: StrangerBudget
    public private(set) var records: [[UInt8]: CreditRecord] = [:]

    /// `strangerWindows` first windows' money is what strangers may leave unpaid per hour.
    public init(tariff: Tariff, maximumWindow: UInt64, strangerWindows: UInt64) {
        self.tariff = tariff
        self.maximumWindow = maximumWindow
        let first = CreditRecord(maximum: maximumWindow).firstWindow
        let money = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: first).windowAmount
        let (capacity, overflow) = money.multipliedReportingOverflow(by: UInt128(strangerWindows))
        strangers = StrangerBudget(capacity: overflow ? .max : capacity)
    }

    public struct Grant: Hashable, Sendable {
        public let windowBytes: UInt64
        /// Unpaid amount of the identity's earlier sessions: it comes off this session's window.
        public let carried: UInt128
        /// The stranger budget this session holds (0 for a good identity).
        public let reservation: UInt128
        /// Whether the session's payments pay `carried` down (a good identity).
        public let paysDown: Bool

        public init(windowBytes: UInt64, carried: UInt128 = 0, reservation: UInt128 = 0, paysDown: Bool = false) {
            self.windowBytes = windowBytes
            self.carried = carried
            self.reservation = reservation
            self.paysDown = paysDown
        }
    }

    public enum Decision: Hashable, Sendable {
        case granted(Grant)
        /// A stranger whose earlier sessions left more than half its window money unpaid:
        /// refused until the debt is forgotten (`until`, the caller's clock). (Less than half
        /// a window would mostly pause; what is left of the window is never more.)
        case owes(UInt128, until: UInt64)
        /// The stranger budget has no room for another window: retry in about that many seconds.
        case strangersFull(retryAfter: UInt64)
    }

    public func record(_ consumer: [UInt8]) -> CreditRecord {
        records[consumer] ?? CreditRecord(maximum: maximumWindow)
    }

    /// A stranger's window is the first window; a good identity's grows (`CreditRecord.window(tariff:)`).
    public func window(_ consumer: [UInt8]) -> UInt64 {
        let record = record(consumer)
        return record.isGood(tariff: tariff) ? record.window(tariff: tariff) : record.firstWindow
    }

    /// A session for `consumer` (its identity key) is asked for. Its live session, if any,
    /// must have been closed first, so that what it left unpaid is in the debt.
    public mutating func open(_ consumer: [UInt8], now: UInt64) -> Decision {
        var record = record(consumer)
        let good = record.isGood(tariff: tariff)
        let window = window(consumer)
        let debt = record.debt(now: now)
        var reservation: UInt128 = 0
        if !good {
            let money = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: window).windowAmount
            guard debt <= money / 2 else { return .owes(debt, until: record.debtUntil) }
            reservation = money - debt
            guard strangers.reserve(reservation, now: now) else {
                return .strangersFull(retryAfter: strangers.secondsUntilRelief(now: now) ?? 60)
            }
        }
        _ = record.takeDebt(now: now)
        records[consumer] = record
        return .granted(Grant(windowBytes: window, carried: debt, reservation: reservation, paysDown: good))
    }

    /// A session of `consumer` ended or was replaced, leaving `unpaid` (due − paid) and
    /// `debtLeft` (what remains of the amount it carried): both are the identity's debt now.
    /// Its `reservation` goes back to the stranger budget, its own `unpaid` counted as lost
    /// up to the reservation: beyond it is time billed while the session sat paused, when it
    /// got nothing (and the packets that crossed the boundary at once).
    public mutating func close(_ consumer: [UInt8], unpaid: UInt128, debtLeft: UInt128, reservation: UInt128, now: UInt64) {
        if reservation > 0 { strangers.release(reservation, loss: min(unpaid, reservation), now: now) }
        var record = record(consumer)
        let (debt, overflow) = unpaid.addingReportingOverflow(debtLeft)
        record.carry(overflow ? .max : debt, now: now)
        records[consumer] = record
        records = records.filter { !$0.value.isEmpty(now: now) }
    }

    /// A voucher of `consumer`'s session added `amount`. Returns whether the identity is
    /// good now; if so, the session's `reservation` goes back to the stranger budget with
    /// nothing lost (the identity's credit is now backed by what it paid).
    public mutating func paid(_ consumer: [UInt8], amount: UInt128, reservation: UInt128, now: UInt64) -> Bool {
        var record = record(consumer)
        record.recordPayment(amount)
        records[consumer] = record
        let good = record.isGood(tariff: tariff)
        if good && reservation > 0 { strangers.release(reservation, loss: 0, now: now) }
        return good
    }

    /// A voucher of `consumer` paid what was asked: returns its window now.
    public mutating func goodVoucher(_ consumer: [UInt8]) -> UInt64 {
        var record = record(consumer)
        record.recordGoodVoucher()
        records[consumer] = record
        return window(consumer)
    }
}
