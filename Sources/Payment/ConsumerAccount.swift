import Session

/// Where the consumer's account is in its session.
public enum ConsumerPhase: Equatable, Sendable {
    /// No invoice in this session yet: the channel is announced (its best voucher) again every
    /// second, since the first announcement may be lost before the handshake completes.
    /// `lastSent` is the monotonic time of the last repeat (nil: none yet).
    case announcing(lastSent: UInt64?)
    /// Invoices arrive; the latest acceptable one is paid at most once per persist interval.
    case paying
    /// The consumer ended the session itself; it accepts no further invoice. What was owed
    /// and allowed before is still paid.
    case stopped(ConsumerStopReason)
    /// The final invoice was asked for (a voucher with the closing flag); it is paid at once.
    /// Ends at `deadline` (monotonic) at the latest. `finalInvoiceArrived`: an invoice came
    /// after the request.
    case closing(deadline: UInt64, finalInvoiceArrived: Bool)
    /// Done: nothing more is sent or accepted.
    case closed
}

/// Why the consumer ended a session itself (the agent exits with status 3).
public enum ConsumerStopReason: Equatable, Sendable {
    /// An invoice asked for more than the consumer's own counts and the tariff allow.
    case overInvoiced(InvoiceProblem)
    /// Paying the invoice would pass the spending cap (the deposit or today's MaxSpend):
    /// paid up to `paidUpTo`, no further.
    case spendingCap(paidUpTo: UInt128)
}

/// How a close ended.
public enum ConsumerClosing: Equatable, Sendable {
    /// The final invoice came and was paid.
    case finalInvoicePaid
    /// The final invoice was asked for and did not come in time.
    case finalInvoiceWaitRanOut
    /// No final invoice was asked for: the consumer had stopped the session, pays nothing
    /// (test switch), or had signed nothing to send the request with.
    case withoutFinalInvoice
}

/// What the runner does for the account, in the order given.
public enum ConsumerAction: Equatable, Sendable {
    /// Write the voucher durably (`ChannelStore.record(voucher:now:)`, then `persistNow`).
    /// It always comes before the `.send` of the same voucher, and the runner sends no voucher
    /// whose write failed: a reboot can then never replay a lower voucher or forget spend.
    case record(SignedVoucher)
    /// Send the voucher to the provider's payment port; `closing` asks for the final invoice.
    case send(SignedVoucher, closing: Bool)
    /// A voucher for `amount` was not signed: the channel's rules refused it.
    case refused(amount: UInt128, ChannelStoreError)
    /// An invoice that no longer counts (not signed by the provider's wallet) was dropped.
    case droppedInvoice(InvoiceProblem)
    /// End the session: log why, stop the agent (exit status 3).
    case stop(ConsumerStopReason)
    /// The account is closed: mark the channel's session ended and write every channel.
    case closed(ConsumerClosing)
}

/// The consumer's money rules for one channel in one agent run, as a pure state machine:
/// events and the time in, `ConsumerAction`s out, no clock read and no disk. The agent's
/// `ConsumerPayment` feeds it and applies what it returns.
///
/// Rules, in the order they apply:
/// 1. **Announce.** When the tunnel is up and then every second until the session's first
///    invoice, the best voucher goes to the provider (a voucher for 0, recorded first, when
///    none was signed yet), so it binds the session to the channel.
/// 2. **Check.** Each invoice is checked by `InvoiceCheck` against the consumer's own byte
///    counts since the session began, the seconds since then, the tariff and the spending cap
///    (the deposit, and today's MaxSpend left over every consumer channel). An over-invoice
///    stops the session and pays nothing more; an invoice over the cap is paid up to the cap,
///    then the session stops. Once stopped, no invoice is accepted.
/// 3. **Pay.** Only the latest acceptable invoice is paid (vouchers are cumulative), at most
///    once per persist interval, since each signature is a durable write; the final invoice at
///    close is paid at once. An amount the best voucher already covers gets that voucher again
///    (it may have been lost). A voucher is recorded before it is sent.
/// 4. **Close.** What is owed is paid at once, then the best voucher goes out with the closing
///    flag; the account is closed when the provider's final invoice is paid or the wait for it
///    ran out. A stopped account closes without asking.
///
/// A renewal (the provider lost the session and granted a new one) starts a new session on
/// the same channel: counts and seconds from zero, the session's base at the best voucher.
public struct ConsumerAccount: Sendable {
    /// One reading of the agent's clocks.
    public struct Instant: Equatable, Sendable {
        /// Nanoseconds from an arbitrary origin: intervals and deadlines.
        public var monotonic: UInt64
        /// Unix seconds: the day the spend counts on.
        public var unixSeconds: UInt64

        public init(monotonic: UInt64, unixSeconds: UInt64) {
            self.monotonic = monotonic
            self.unixSeconds = unixSeconds
        }
    }

    /// The consumer's own meter: inner bytes sent to and received from the provider since
    /// the tunnel came up (the account subtracts the session's start).
    public struct Counts: Equatable, Sendable {
        public var sent: UInt64
        public var received: UInt64

        public init(sent: UInt64, received: UInt64) {
            self.sent = sent
            self.received = received
        }
    }

    /// What the consumer configured.
    public struct Settings: Sendable {
        public var domain: EIP712Domain
        /// The most all consumer channels may sign away per UTC day; nil: the deposit only.
        public var maxSpendPerDay: UInt128?
        /// Seconds between two paid vouchers (each is a durable write).
        public var persistInterval: UInt64
        /// Nanoseconds to wait for the final invoice at close.
        public var finalInvoiceWait: UInt64
        /// Test switch for the provider's tests: ignore invoices once this many bytes were
        /// received in the session, and never close with a final invoice; 0 also never
        /// announces. Nil in normal use.
        public var stopPayingAfter: UInt64?

        public init(domain: EIP712Domain, maxSpendPerDay: UInt128?, persistInterval: UInt64,
                    finalInvoiceWait: UInt64 = 2_000_000_000, stopPayingAfter: UInt64? = nil) {
            self.domain = domain
            self.maxSpendPerDay = maxSpendPerDay
            self.persistInterval = persistInterval
            self.finalInvoiceWait = finalInvoiceWait
            self.stopPayingAfter = stopPayingAfter
        }
    }

    /// Nanoseconds between two announcements.
    public static let announcementInterval: UInt64 = 1_000_000_000

    public private(set) var phase: ConsumerPhase
    /// The channel as the consumer's memory holds it: the best voucher signed, the spend per
    /// day. The runner's `ChannelStore` holds the same once it applied the `.record`s.
    public private(set) var record: ChannelRecord
    /// The cumulative amount when the session began: earlier sessions' share.
    public private(set) var sessionBase: UInt128
    /// Invoices accepted (not stale, signed by the provider) since the agent started.
    public private(set) var invoices: UInt64 = 0
    /// Vouchers signed since the agent started.
    public private(set) var vouchers: UInt64 = 0
    /// The last accepted invoice's amount due.
    public private(set) var lastDue: UInt128 = 0

    public let settings: Settings
    let wallet: WalletKey
    /// The consumer's other channels, for today's spend (no voucher is signed on them while
    /// this account runs).
    let otherChannels: [ChannelRecord]
    var check: InvoiceCheck
    /// The latest acceptable amount not paid yet.
    var pending: UInt128?
    /// Monotonic time of the last voucher written (nil: none in this run, so the first is paid at once).
    var lastWrite: UInt64?
    /// The session's zero: our counts and the monotonic time when it began.
    var sessionCounts: Counts
    var sessionStart: UInt64

    /// `record` is the consumer's record of the channel it pays on (`reusableChannel` or a
    /// new one), `channels` every record the consumer has (for today's spend), `counts` the
    /// meter now.
    public init(wallet: WalletKey, record: ChannelRecord, channels: some Sequence<ChannelRecord>, sessionID: UInt32,
                tariff: Tariff, counts: Counts, settings: Settings, now: Instant) {
        self.wallet = wallet
        self.record = record
        self.settings = settings
        otherChannels = channels.filter { $0.role == .consumer && $0.id != record.id }
        let best = record.bestAmount
        sessionBase = best
        sessionCounts = counts
        sessionStart = now.monotonic
        phase = .announcing(lastSent: nil)
        check = InvoiceCheck(domain: settings.domain, provider: record.channel.provider, channelID: record.id,
                             sessionID: sessionID, tariff: tariff, sessionBase: best, spendingCap: 0, lastVoucherAmount: best)
        check.spendingCap = currentSpendingCap(now: now)
    }

    public var channel: Channel { record.channel }

    // MARK: Events

    /// The tunnel is up: the first announcement (none when the test switch pays nothing).
    public mutating func tunnelUp(now: Instant) -> [ConsumerAction] {
        guard settings.stopPayingAfter != 0, !isFinished else { return [] }
        return announce(now: now)
    }

    /// An invoice arrived; `counts` is our meter now. Decides only: the payment goes out on
    /// the next `tick`.
    public mutating func receive(invoice: SignedInvoice, counts: Counts, now: Instant) -> [ConsumerAction] {
        switch phase {
        case .stopped, .closed: return []
        case .announcing, .paying, .closing: break
        }
        let sent = counts.sent &- sessionCounts.sent
        let received = counts.received &- sessionCounts.received
        if let limit = settings.stopPayingAfter, received >= limit { return [] }
        let seconds = (now.monotonic &- sessionStart) / 1_000_000_000
        check.spendingCap = currentSpendingCap(now: now)
        let verdict = check.evaluate(invoice, bytesSent: sent, bytesReceived: received, secondsConnected: seconds)
        if verdict != .stale, verdict != .overInvoiced(.notSignedByProvider) {
            check.lastSequence = invoice.invoice.sequence
            invoices &+= 1
            lastDue = invoice.invoice.amountDue
            if case .announcing = phase { phase = .paying }
        }
        switch verdict {
        case .stale:
            return []
        case .pay(let amount):
            pending = amount
            if case .closing(let deadline, _) = phase { phase = .closing(deadline: deadline, finalInvoiceArrived: true) }
            return []
        case .capReached(let final):
            pending = final
            return stop(.spendingCap(paidUpTo: final))
        case .overInvoiced(.notSignedByProvider):
            return [.droppedInvoice(.notSignedByProvider)]
        case .overInvoiced(let problem):
            return stop(.overInvoiced(problem))
        }
    }

    /// At least twice a second: the announcement while due, the pending payment when due,
    /// and the end of the wait for the final invoice.
    public mutating func tick(now: Instant) -> [ConsumerAction] {
        var out: [ConsumerAction] = []
        switch phase {
        case .closed:
            return []
        case .announcing(let last):
            if last.map({ now.monotonic &- $0 >= Self.announcementInterval }) ?? true {
                phase = .announcing(lastSent: now.monotonic)
                if settings.stopPayingAfter != 0 { out += announce(now: now) }
            }
        case .paying, .stopped, .closing:
            break
        }
        out += payPending(now: now, force: false)
        if case .closing(let deadline, let arrived) = phase {
            if arrived && pending == nil {
                phase = .closed
                out.append(.closed(.finalInvoicePaid))
            } else if now.monotonic >= deadline {
                phase = .closed
                out.append(.closed(arrived ? .finalInvoicePaid : .finalInvoiceWaitRanOut))
            }
        }
        return out
    }

    /// The provider granted a new session on the same channel (ours was lost): its invoices
    /// count from zero and name `sessionID`; the cap and the best voucher go on.
    public mutating func renew(sessionID: UInt32, tariff: Tariff, counts: Counts, now: Instant) {
        let best = record.bestAmount
        check = InvoiceCheck(domain: settings.domain, provider: record.channel.provider, channelID: record.id,
                             sessionID: sessionID, tariff: tariff, sessionBase: best, spendingCap: check.spendingCap,
                             lastVoucherAmount: best)
        sessionCounts = counts
        sessionStart = now.monotonic
        sessionBase = best
        pending = nil
        switch phase {
        case .announcing, .paying: phase = .announcing(lastSent: nil)
        case .stopped, .closing, .closed: break
        }
    }

    /// The agent is stopping: pay what is owed, then ask for the final invoice. `tick` ends
    /// the wait; the account may be closed at once (stopped, test switch, nothing signed).
    public mutating func close(now: Instant) -> [ConsumerAction] {
        switch phase {
        case .closing, .closed: return []
        case .announcing, .paying, .stopped: break
        }
        guard settings.stopPayingAfter == nil else {
            phase = .closed
            return [.closed(.withoutFinalInvoice)]
        }
        // Also up to a reached cap; an over-invoice left only what earlier invoices asked.
        var out = payPending(now: now, force: true)
        if case .stopped = phase {
            phase = .closed
            return out + [.closed(.withoutFinalInvoice)]
        }
        guard let best = record.bestVoucher else {
            phase = .closed
            return out + [.closed(.withoutFinalInvoice)]
        }
        let (deadline, overflow) = now.monotonic.addingReportingOverflow(settings.finalInvoiceWait)
        phase = .closing(deadline: overflow ? .max : deadline, finalInvoiceArrived: false)
        out.append(.send(best, closing: true))
        return out
    }

    /// Closed, or stopped and never to pay on its own again.
    var isFinished: Bool {
        switch phase {
        case .closed, .stopped: true
        case .announcing, .paying, .closing: false
        }
    }

    // MARK: Rules

    /// The channel's best voucher, or a first one for 0.
    mutating func announce(now: Instant) -> [ConsumerAction] {
        if let best = record.bestVoucher { return [.send(best, closing: false)] }
        return sign(0, now: now)
    }

    /// Pays the pending amount when the last write is at least the persist interval old, at
    /// once while closing or when `force`d; the same voucher again when it covers the amount.
    mutating func payPending(now: Instant, force: Bool) -> [ConsumerAction] {
        guard let amount = pending else { return [] }
        if amount <= record.bestAmount, let best = record.bestVoucher {
            pending = nil
            return [.send(best, closing: false)]
        }
        var due = force || lastWrite.map { now.monotonic &- $0 >= settings.persistInterval &* 1_000_000_000 } ?? true
        if case .closing = phase { due = true }
        guard due else { return [] }
        pending = nil
        return sign(amount, now: now)
    }

    /// Signs a voucher for `amount` if the channel's rules allow it (high-water mark, deposit,
    /// daily cap) and hands it out to be recorded, then sent.
    mutating func sign(_ amount: UInt128, now: Instant) -> [ConsumerAction] {
        let voucher = Voucher(channelID: record.id, cumulativeAmount: amount).sign(with: wallet, domain: settings.domain)
        var updated = record
        do { try updated.offer(voucher, now: now.unixSeconds) } catch {
            return [.refused(amount: amount, error)]
        }
        record = updated
        lastWrite = now.monotonic
        vouchers &+= 1
        check.lastVoucherAmount = max(check.lastVoucherAmount, amount)
        return [.record(voucher), .send(voucher, closing: false)]
    }

    /// Ends the session; while closing the wait for the final invoice goes on (what the cap
    /// allows is still paid at once).
    mutating func stop(_ reason: ConsumerStopReason) -> [ConsumerAction] {
        if case .closing = phase { return [.stop(reason)] }
        phase = .stopped(reason)
        return [.stop(reason)]
    }

    func currentSpendingCap(now: Instant) -> UInt128 {
        Self.spendingCap(record: record, otherChannels: otherChannels, maxSpendPerDay: settings.maxSpendPerDay,
                         now: now.unixSeconds)
    }
}
