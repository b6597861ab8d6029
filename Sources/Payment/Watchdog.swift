/// The watchdog's settings: when claiming is worth it, how early before expiry claiming
/// becomes a must, and how a claim the backend has not confirmed is retried.
public struct WatchdogPolicy: Hashable, Sendable {
    /// After the session ended, claim once the unclaimed amount reaches this (base units).
    public var settleThreshold: UInt128
    /// From `expiry - expiryMargin` on, claim any unclaimed amount at all (seconds). Choose
    /// it well above `maximumBackoff` plus the backend's confirmation time, so a claim that
    /// must be retried still lands before expiry.
    public var expiryMargin: UInt64
    /// Wait after the first submission before asking again (seconds); doubles per attempt.
    public var initialBackoff: UInt64
    /// The longest wait between two attempts (seconds).
    public var maximumBackoff: UInt64

    public init(settleThreshold: UInt128, expiryMargin: UInt64, initialBackoff: UInt64 = 5, maximumBackoff: UInt64 = 600) {
        self.settleThreshold = settleThreshold
        self.expiryMargin = expiryMargin
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// The wait after the `attempts`-th attempt: initial × 2^(attempts − 1), at most the maximum.
    public func backoff(afterAttempt attempts: UInt32) -> UInt64 {
        let shift = attempts > 0 ? attempts - 1 : 0
        guard shift < 63, initialBackoff <= maximumBackoff >> shift else { return maximumBackoff }
        return min(initialBackoff << shift, maximumBackoff)
    }
}

/// What the watchdog decided for one channel.
public enum WatchdogAction: Equatable, Sendable {
    /// Provider: submit this voucher as a claim (a first submission, or a retry after the
    /// backoff when the backend does not know the earlier one).
    case claim(ChannelID, SignedVoucher)
    /// Provider: the backend confirmed this claim; record it and stop tracking it.
    case markConfirmed(ChannelID, ClaimReceipt)
    /// Provider: the backend still has the claim pending; ask again after the next backoff,
    /// without submitting it again.
    case postpone(ChannelID, ClaimID)
    /// Consumer: the channel expired; take the unspent deposit back.
    case reclaim(ChannelID)
}

/// Settlement decisions as a pure function: records, the backend's answers about claims in
/// flight, and the time in; actions out. `WatchdogRunner` applies them.
///
/// Provider, per channel (in this order):
/// 1. A tracked claim the backend reports confirmed → `.markConfirmed`.
/// 2. A claim in flight before its next retry → nothing: never a second submission while
///    one is outstanding. At or after its next retry: the backend still pending → `.postpone`;
///    the backend unaware of it (`.unknown`, e.g. lost before a power cut) → `.claim` again,
///    with the best voucher, which is the same amount unless a higher one has arrived since.
///    Exception: from `expiry − margin` on, a best voucher above the claim in flight is
///    claimed at once (another amount, so still never the same amount twice).
/// 3. No claim in flight and the best voucher above what is claimed, before expiry: `.claim`
///    when the session has ended and the unclaimed amount is at least the threshold, or when
///    `now ≥ expiry − margin`, whatever the amount.
///
/// Consumer: after expiry and until reclaimed → `.reclaim`. The consumer cannot see what the
/// provider claimed, so it asks even when its own high-water mark equals the deposit; the
/// ledger pays back what is left, perhaps nothing.
public enum Watchdog {
    public static func actions(records: [ChannelRecord], claimStates: [ClaimID: ClaimState], now: UInt64,
                               policy: WatchdogPolicy) -> [WatchdogAction] {
        var out: [WatchdogAction] = []
        for record in records.sorted(by: { $0.id < $1.id }) {
            switch record.role {
            case .provider: out += providerActions(record, claimStates: claimStates, now: now, policy: policy)
            case .consumer:
                if !record.reclaimed && now >= record.channel.expiry { out.append(.reclaim(record.id)) }
            }
        }
        return out
    }

    static func providerActions(_ record: ChannelRecord, claimStates: [ClaimID: ClaimState], now: UInt64,
                                policy: WatchdogPolicy) -> [WatchdogAction] {
        var out: [WatchdogAction] = []
        var claimed = record.claimed
        var inFlight: SubmittedClaim?
        for claim in record.claims where !claim.confirmed {
            if case .confirmed(let receipt)? = claimStates[claim.id] {
                out.append(.markConfirmed(record.id, receipt))
                claimed = max(claimed, receipt.cumulativeAmount)
            } else if claim.amount > (inFlight?.amount ?? 0) {
                inFlight = claim
            }
        }
        let expiry = record.channel.expiry
        guard now < expiry, let best = record.bestVoucher else { return out }
        let mustClaim = now >= (expiry > policy.expiryMargin ? expiry - policy.expiryMargin : 0)

        if let pending = inFlight, pending.amount > claimed {
            // Close to expiry a higher voucher does not wait for the lower claim's backoff:
            // it is another amount, and it pays the lower claim's part too.
            if mustClaim && best.cumulativeAmount > pending.amount {
                out.append(.claim(record.id, best))
                return out
            }
            guard now >= pending.nextRetry else { return out }
            switch claimStates[pending.id] ?? .unknown {
            case .unknown: out.append(.claim(record.id, best))
            case .pending, .confirmed: out.append(.postpone(record.id, pending.id))
            }
            return out
        }

        guard best.cumulativeAmount > claimed else { return out }
        let unclaimed = best.cumulativeAmount - claimed
        let ended = record.sessionEndedAt.map { $0 <= now } ?? false
        if mustClaim || (ended && unclaimed >= policy.settleThreshold) {
            out.append(.claim(record.id, best))
        }
        return out
    }
}

/// What one watchdog run did.
public struct WatchdogReport: Sendable {
    public internal(set) var actions: [WatchdogAction] = []
    /// Claims the backend took (whether or not it has confirmed them yet).
    public internal(set) var submitted: [ClaimID] = []
    /// Refunds reclaimed, per channel.
    public internal(set) var refunds: [ChannelID: UInt128] = [:]
    /// Backend refusals and failures; a failed claim is retried after its backoff.
    public internal(set) var failures: [(ChannelID, LedgerError)] = []
}

/// Drives a `Settlement` from the watchdog's decisions and keeps the store in step: on every
/// start (after `ChannelStore.load` and `endSessionsLeftOpen`) and on a timer.
///
/// A claim is recorded as submitted and written durably *before* it goes to the backend, so
/// a power cut between the two leaves a tracked claim, which the next run asks about (its id
/// is derived from the amount) instead of blindly submitting again. Every channel the run
/// touched is written before it returns.
public enum WatchdogRunner {
    public static func run(store: inout ChannelStore, settlement: some Settlement, now: UInt64,
                           policy: WatchdogPolicy) throws(ChannelStoreError) -> WatchdogReport {
        var report = WatchdogReport()
        var states: [ClaimID: ClaimState] = [:]
        for record in store.records.values where record.role == .provider {
            for claim in record.claims where !claim.confirmed {
                // A backend that cannot answer is treated as "pending": wait, never resubmit blindly.
                states[claim.id] = (try? settlement.claimState(claim.id)) ?? .pending
            }
        }
        report.actions = Watchdog.actions(records: Array(store.records.values), claimStates: states, now: now, policy: policy)
        var touched: Set<ChannelID> = []
        for action in report.actions {
            switch action {
            case .markConfirmed(let id, let receipt):
                try confirm(&store, id, receipt)
                touched.insert(id)
            case .postpone(let id, let claimID):
                try store.modify(id) { record in
                    guard let index = record.claims.firstIndex(where: { $0.id == claimID }) else { return }
                    record.claims[index].attempts &+= 1
                    record.claims[index].nextRetry = now + policy.backoff(afterAttempt: record.claims[index].attempts)
                }
                touched.insert(id)
            case .claim(let id, let voucher):
                let claimID = ClaimID(channelID: id, cumulativeAmount: voucher.cumulativeAmount)
                try store.modify(id) { record in
                    // A higher claim supersedes lower ones still in flight: it pays their part too.
                    record.claims.removeAll { !$0.confirmed && $0.amount < voucher.cumulativeAmount }
                    if let index = record.claims.firstIndex(where: { $0.id == claimID }) {
                        record.claims[index].attempts &+= 1
                        record.claims[index].nextRetry = now + policy.backoff(afterAttempt: record.claims[index].attempts)
                    } else {
                        record.claims.append(SubmittedClaim(amount: voucher.cumulativeAmount, id: claimID, submittedAt: now,
                                                            attempts: 1, nextRetry: now + policy.backoff(afterAttempt: 1),
                                                            confirmed: false))
                    }
                }
                try store.persistNow(channel: id, now: now)
                touched.insert(id)
                switch Result(catching: { () throws(LedgerError) in try settlement.claim(voucher, now: now) }) {
                case .success:
                    report.submitted.append(claimID)
                    if case .confirmed(let receipt)? = try? settlement.claimState(claimID) {
                        try confirm(&store, id, receipt)
                    }
                case .failure(let error):
                    report.failures.append((id, error))
                }
            case .reclaim(let id):
                switch Result(catching: { () throws(LedgerError) in try settlement.reclaim(id, now: now) }) {
                case .success(let refund):
                    report.refunds[id] = refund
                    try store.modify(id) { $0.reclaimed = true }
                case .failure(.alreadyReclaimed), .failure(.unknownChannel):
                    // Already done, or never opened (a crash between `add` and `open`; the
                    // backend refuses opens after expiry): either way nothing is left to take.
                    try store.modify(id) { $0.reclaimed = true }
                case .failure(let error):
                    report.failures.append((id, error))
                }
                touched.insert(id)
            }
        }
        for id in touched.sorted() { try store.persistNow(channel: id, now: now) }
        return report
    }

    static func confirm(_ store: inout ChannelStore, _ id: ChannelID, _ receipt: ClaimReceipt) throws(ChannelStoreError) {
        try store.modify(id) { record in
            if let index = record.claims.firstIndex(where: { $0.id == receipt.id }) {
                record.claims[index].confirmed = true
            }
            record.claimed = max(record.claimed, receipt.cumulativeAmount)
            // Lower claims still in flight are covered by this one: stop tracking them.
            record.claims.removeAll { !$0.confirmed && $0.amount <= record.claimed }
        }
    }
}
