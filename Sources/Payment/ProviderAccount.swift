import Session

/// The provider's account of one paid session, as a pure state machine: events and the time
/// in, actions out. The agent keeps one per session (under its lock), applies the actions
/// (sends invoices, logs, ends sessions, writes the channel store, runs the watchdog) and
/// makes no money decision of its own.
///
///   open      -> `.awaitingChannel`: the grant's window (less what the identity carried)
///                is the credit; no invoice before a channel is bound
///   voucher   -> `check` (outside the agent's lock: ledger, store and session table are
///                asked through `ProviderChannelLookup`), the agent stores it, `receive`:
///                the first binds the channel (its best amount is the session's base) and
///                settles a channel the session replaced; later ones pay, and one that paid
///                what was asked before the previous voucher grows the window (`CreditBook`)
///   packet    -> `BillingGate.admit` without a lock; crossing the allowance -> `admit`
///                here: recomputed from the best voucher on disk (`persisted`), covered or
///                `.paused`
///   tick      -> recheck (time is priced too), an invoice at the cadence, `.end` once a
///                paused session's grace is over
///   close     -> `.ended`: what it left unpaid goes to the identity's debt; its channels
///                are to be settled
///
/// Time: `now` is the monotonic clock in nanoseconds (the credit book gets its seconds);
/// only a channel's expiry is compared with wall-clock seconds (`nowWall`).
public struct ProviderAccount: Sendable {
    public enum Phase: Hashable, Sendable {
        /// No voucher has bound a channel yet: the window alone is the credit.
        case awaitingChannel
        /// Bound to a channel and covered.
        case paying
        /// Behind (by a window): billed packets are dropped, invoices go out, and the session
        /// ends `graceSeconds` after `since` unless a voucher covers it first.
        case paused(since: UInt64)
        /// Closed: nothing more is billed or credited.
        case ended
    }

    public let sessionID: UInt32
    /// The consumer's identity key: its record in the `CreditBook`.
    public let consumer: [UInt8]
    public let terms: ProviderAccountTerms
    /// Monotonic ns at the grant: the session's time is billed from here.
    public let startedAt: UInt64
    /// The per-packet half, shared with the data plane.
    public let gate: BillingGate
    public internal(set) var phase: Phase = .awaitingChannel
    public internal(set) var channel: ChannelID?
    /// Who signed the voucher that bound the channel: later vouchers must be theirs.
    public internal(set) var consumerWallet: EthereumAddress?
    public internal(set) var credit: CreditLine
    /// The best voucher amount received in this session (in memory; maybe not yet on disk).
    public internal(set) var paid: UInt128 = 0
    /// This session's share of the stranger budget (0 once the identity is good).
    public internal(set) var reservation: UInt128
    /// The channel of the session this one replaced (the consumer asked again): settled as
    /// soon as this session binds another channel, or when it ends.
    public internal(set) var replacedChannel: ChannelID?
    public internal(set) var vouchers: UInt64 = 0
    /// The latest invoice's due when the previous voucher arrived: the next voucher, a
    /// PersistInterval or so later, should pay at least that much to count as good.
    var dueAskedBeforeLastVoucher: UInt128 = 0
    var invoices = InvoiceCadence()

    /// An account for a session the credit book granted; `replacing` is the channel of the
    /// consumer's session this one replaces (`ProviderAccountClosing.handedOn`).
    public init(sessionID: UInt32, consumer: [UInt8], terms: ProviderAccountTerms, grant: CreditBook.Grant,
                replacing: ChannelID? = nil, now: UInt64) {
        self.sessionID = sessionID
        self.consumer = consumer
        self.terms = terms
        credit = CreditLine(tariff: terms.tariff, sessionBase: 0, windowBytes: grant.windowBytes, carried: grant.carried, paysDown: grant.paysDown)
        reservation = grant.reservation
        replacedChannel = replacing
        startedAt = now
        gate = BillingGate(allowance: credit.byteAllowance(seconds: 0, paid: 0))
    }

    // MARK: What it shows

    public var bytesFromConsumer: UInt64 { gate.bytesFromConsumer }
    public var bytesToConsumer: UInt64 { gate.bytesToConsumer }
    public var billedBytes: UInt64 { gate.billedBytes }
    public var allowance: UInt64 { gate.byteAllowance }
    public var isPaused: Bool { if case .paused = phase { true } else { false } }
    public var windowBytes: UInt64 { credit.windowBytes }
    /// What this session paid beyond its channel's amount when it bound it.
    public var earned: UInt128 { paid > credit.sessionBase ? paid - credit.sessionBase : 0 }

    public func seconds(now: UInt64) -> UInt64 { (now &- startedAt) / 1_000_000_000 }

    public func due(now: UInt64) -> UInt128 { credit.due(bytes: billedBytes, seconds: seconds(now: now)) }

    /// What this session used and has not paid (vouchers received), at `now`.
    public func unpaid(now: UInt64) -> UInt128 { credit.unpaid(bytes: billedBytes, seconds: seconds(now: now), paid: paid) }

    // MARK: Events

    /// A billed packet the gate could not pass within the allowance: recomputed from the best
    /// voucher on disk (`persisted`, by channel), the packet is counted if covered, and the
    /// session is paused if not.
    public mutating func admit(bytes: Int, fromConsumer: Bool, now: UInt64, persisted: (ChannelID) -> UInt128) -> PacketVerdict {
        guard phase != .ended else { return PacketVerdict(passes: false, change: nil) }
        switch gate.admit(bytes: bytes, fromConsumer: fromConsumer, isPayment: false) {
        case .pass: return PacketVerdict(passes: true, change: nil)
        case .drop: return PacketVerdict(passes: false, change: nil)
        case .recheck:
            let covered = recheck(extra: UInt64(bytes), now: now, persisted: persisted)
            if covered { gate.count(bytes, fromConsumer: fromConsumer) }
            return PacketVerdict(passes: covered, change: apply(covered: covered, now: now))
        }
    }

    /// Once a second: the credit against the clock (time is priced), an invoice when one is
    /// due, and `.end` for a session paused longer than the grace.
    public mutating func tick(now: UInt64, persisted: (ChannelID) -> UInt128) -> [ProviderAccountAction] {
        guard phase != .ended else { return [] }
        var actions: [ProviderAccountAction] = []
        let covered = recheck(extra: 0, now: now, persisted: persisted)
        if let change = apply(covered: covered, now: now) { actions.append(change) }
        if let invoice = invoice(now: now) { actions.append(.invoice(invoice)) }
        if case .paused(let since) = phase, now &- since > terms.graceNanoseconds {
            actions.append(.end(.stoppedPaying(due: due(now: now), paid: paid, graceSeconds: terms.graceSeconds)))
        }
        return actions
    }

    /// The session ended or was replaced: what it left unpaid (and what is left of what it
    /// carried) becomes the identity's debt, its stranger share goes back, and its gate passes
    /// nothing more that is billed. A second close changes nothing and settles nothing.
    public mutating func close(now: UInt64, book: inout CreditBook) -> ProviderAccountClosing {
        let unpaid = unpaid(now: now)
        let left = credit.debtLeft(paid: paid)
        let (sum, overflow) = unpaid.addingReportingOverflow(left)
        let wasOpen = phase != .ended
        if wasOpen {
            book.close(consumer, unpaid: unpaid, debtLeft: left, reservation: reservation, now: Self.bookSeconds(now))
        }
        phase = .ended
        gate.paused.store(true, ordering: .relaxed)
        let settle = wasOpen ? [channel, replacedChannel == channel ? nil : replacedChannel].compactMap { $0 } : []
        return ProviderAccountClosing(channel: channel, due: due(now: now), paid: paid, leftUnpaid: overflow ? .max : sum,
                                      settle: settle, handedOn: channel ?? replacedChannel)
    }

    // MARK: Rules

    /// The credit book counts seconds of the monotonic clock.
    static func bookSeconds(_ now: UInt64) -> UInt64 { now / 1_000_000_000 }

    /// Recomputes the allowance from the best voucher on disk and returns whether `extra`
    /// more bytes are covered. On disk, not in memory: after a power cut the provider has
    /// lost at most one window.
    mutating func recheck(extra: UInt64, now: UInt64, persisted: (ChannelID) -> UInt128) -> Bool {
        let bytes = billedBytes &+ extra
        let onDisk = channel.map(persisted) ?? 0
        let allowance = credit.byteAllowance(seconds: seconds(now: now), paid: onDisk)
        gate.allowance.store(allowance, ordering: .relaxed)
        return bytes <= allowance
    }

    /// A credit check's answer, the one place a session is paused or resumed: uncovered
    /// pauses it (its grace starts, and the consumer gets an invoice at once), covered
    /// resumes it. Nil when nothing changed.
    mutating func apply(covered: Bool, now: UInt64) -> ProviderAccountAction? {
        switch phase {
        case .ended:
            return nil
        case .paused:
            guard covered else { return nil }
            phase = channel == nil ? .awaitingChannel : .paying
            gate.paused.store(false, ordering: .relaxed)
            return .resumed(paid: paid)
        case .awaitingChannel, .paying:
            guard !covered else { return nil }
            let shortfall = CreditShortfall(awaitingChannel: channel == nil, due: due(now: now), paid: paid, windowBytes: credit.windowBytes)
            phase = .paused(since: now)
            gate.paused.store(true, ordering: .relaxed)
            invoices.atOnce = true
            return .paused(shortfall)
        }
    }

    /// The invoice due now, if any (`InvoiceCadence`); none before a channel is bound.
    mutating func invoice(now: UInt64) -> Invoice? {
        guard let channel else { return nil }
        var due = due(now: now)
        if terms.overchargePercent > 0 {
            let usage = due - credit.sessionBase
            due = credit.sessionBase &+ usage &+ usage * UInt128(terms.overchargePercent) / 100 &+ 1
        }
        guard let sequence = invoices.next(due: due, billed: billedBytes, every: max(credit.windowBytes / 4, 1), now: now) else { return nil }
        return Invoice(channelID: channel, sessionID: sessionID, sequence: sequence,
                       bytesFromConsumer: bytesFromConsumer, bytesToConsumer: bytesToConsumer,
                       secondsConnected: seconds(now: now), amountDue: due)
    }
}

/// What every account of one provider is opened with.
public struct ProviderAccountTerms: Hashable, Sendable {
    public static let invoiceEverySeconds: UInt64 = 5
    public let tariff: Tariff
    /// The provider's wallet: a channel must pay it.
    public let provider: EthereumAddress
    /// A channel expiring within this many seconds is not bound: a claim could come too late.
    public let expiryMarginSeconds: UInt64
    /// How long a paused session may stay behind before it ends (seconds).
    public let graceSeconds: UInt64
    /// Test switch: invoices ask this many percent more than due, to show that a consumer
    /// refuses them. 0 outside tests.
    public let overchargePercent: UInt64

    public init(tariff: Tariff, provider: EthereumAddress, expiryMarginSeconds: UInt64, graceSeconds: UInt64, overchargePercent: UInt64 = 0) {
        self.tariff = tariff
        self.provider = provider
        self.expiryMarginSeconds = expiryMarginSeconds
        self.graceSeconds = graceSeconds
        self.overchargePercent = overchargePercent
    }

    var graceNanoseconds: UInt64 {
        let (product, overflow) = graceSeconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product
    }
}

/// When a session's next invoice goes out: when something is due that was not asked yet,
/// and a quarter of the window was used or `invoiceEverySeconds` passed since the last one;
/// or at once (a pause, a new channel, a closing voucher), whatever the cadence.
struct InvoiceCadence: Hashable, Sendable {
    var sequence: UInt64 = 0
    var lastBytes: UInt64 = 0
    /// Monotonic ns of the last invoice (0: none yet, so the first is never held back by time).
    var lastTime: UInt64 = 0
    var lastDue: UInt128 = 0
    var atOnce = false

    /// The next invoice's sequence number if one goes out now (recorded as sent), else nil.
    mutating func next(due: UInt128, billed: UInt64, every interval: UInt64, now: UInt64) -> UInt64? {
        guard due != lastDue || atOnce else { return nil }
        let bytesSince = billed &- lastBytes
        let timeSince = now &- lastTime
        guard atOnce || bytesSince >= interval || timeSince >= ProviderAccountTerms.invoiceEverySeconds * 1_000_000_000 else { return nil }
        sequence &+= 1
        lastBytes = billed
        lastTime = now
        lastDue = due
        atOnce = false
        return sequence
    }
}

/// What the account asks the agent to do.
public enum ProviderAccountAction: Hashable, Sendable {
    /// Sign and send this invoice to the consumer.
    case invoice(Invoice)
    /// The credit fell short: billed packets are dropped from now on and the grace runs.
    case paused(CreditShortfall)
    /// A voucher or the clock's recheck covers the session again.
    case resumed(paid: UInt128)
    /// The session's first acceptable voucher bound it to this channel; `paid` is the
    /// channel's best amount then (the session's base).
    case bound(Channel, paid: UInt128)
    /// End the session (the consumer is refused for a while: it did not pay).
    case end(ProviderAccountEnd)
    /// Mark this channel's session ended and write it, for the watchdog to settle.
    case settle(ChannelID)
}

/// Why the account asks for its session's end.
public enum ProviderAccountEnd: Hashable, Sendable {
    /// Paused longer than the grace.
    case stoppedPaying(due: UInt128, paid: UInt128, graceSeconds: UInt64)
}

/// The numbers of a pause, for the agent's log.
public struct CreditShortfall: Hashable, Sendable {
    /// No channel was bound yet (else the vouchers are behind).
    public let awaitingChannel: Bool
    public let due: UInt128
    public let paid: UInt128
    public let windowBytes: UInt64
}

/// A packet's fate after a recheck, and a pause or resume it caused.
public struct PacketVerdict: Hashable, Sendable {
    public let passes: Bool
    public let change: ProviderAccountAction?
}

/// What a closed account leaves behind.
public struct ProviderAccountClosing: Hashable, Sendable {
    public let channel: ChannelID?
    public let due: UInt128
    public let paid: UInt128
    /// Its own unpaid amount plus what is left of the debt it carried: the identity's now.
    public let leftUnpaid: UInt128
    /// The channels to mark ended and settle: its own and the one it replaced.
    public let settle: [ChannelID]
    /// The channel a session replacing this one settles once it binds another (or ends).
    public let handedOn: ChannelID?
}
