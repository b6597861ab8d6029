import Configuration
import Glibc
import LinuxPlatform
import Payment
import Session
import Synchronization
import WarrenCrypto
import WireGuard

// The consumer's side of payment.
//
//   start      -> channel store loaded, sessions left open marked ended, watchdog (reclaims)
//              -> a channel to this provider reused, or a new one written to disk and then
//                 opened on the ledger with the configured deposit
//   tunnel up  -> UDP 4747 on our tunnel address; the best voucher so far announces the channel
//   invoice    -> InvoiceCheck against our own counts, tariff, cap; the latest one is paid at
//                 most once per PersistInterval: record, write durably, then send
//   problem    -> over-invoiced or cap reached: the agent stops and says why

/// What the consumer shows in `warren status`.
public struct ConsumerPaymentStatus: Codable, Sendable, Equatable {
    public var channel: String
    public var providerWallet: String
    public var deposit: String
    /// Cumulative on the channel (base units).
    public var paid: String
    /// Paid in this session (base units).
    public var paidThisSession: String
    /// The last invoice's amount due (base units).
    public var due: String
    public var spentToday: String
    public var dailyCap: String?
    public var invoices: UInt64
    public var vouchers: UInt64
    public var expiry: UInt64
    /// Durable writes of channel files since the agent started (flash wear).
    public var channelWrites: Int
}

final class ConsumerPayment: @unchecked Sendable {
    struct State {
        var store: ChannelStore
        var check: InvoiceCheck
        var pending: UInt128?
        var lastDue: UInt128 = 0
        var invoices: UInt64 = 0
        var vouchers: UInt64 = 0
        var lastWriteMonotonic: UInt64 = 0
        var wroteOnce = false
        /// Set at disconnect: the final invoice is paid at once, whatever the interval.
        var closing = false
        var finalInvoicePaid = false
        /// The session (our counters' zero, its start) the invoices are checked against; its id is in `check`.
        var countsAtStart: (sent: UInt64, received: UInt64) = (0, 0)
        var startedMonotonic: UInt64
        var sessionInvoices: UInt64 = 0
        var lastAnnouncement: UInt64 = 0
        var sessionBase: UInt128
    }

    let wallet: WalletKey
    let ledger: LocalLedger
    let channel: Channel
    let config: ConsumerPaymentConfig
    let log: EventLog
    let state: Mutex<State>
    /// Why the consumer ended the session itself (over-invoiced, cap reached); read at exit.
    let stopReason = Mutex<String?>(nil)
    /// The consumer's own meter: inner bytes sent to and received from the provider.
    var counts: (@Sendable () -> (sent: UInt64, received: UInt64))?
    /// Test switch: stop paying once this many bytes were received (0: never pay at all).
    let stopPayingAfter: UInt64?
    private var socket: PaymentChannelSocket?
    /// The provider's tunnel address, where vouchers go (set by `start`).
    private var providerAddress: IPAddress?
    private let lastWatchdog = Atomic<UInt64>(0)

    static let watchdogEverySeconds: UInt64 = 10

    private init(wallet: WalletKey, ledger: LocalLedger, channel: Channel, config: ConsumerPaymentConfig,
                 log: EventLog, store: ChannelStore, check: InvoiceCheck, sessionBase: UInt128) {
        self.wallet = wallet
        self.ledger = ledger
        self.channel = channel
        self.config = config
        self.log = log
        state = Mutex(State(store: store, check: check, startedMonotonic: AgentClock.now().monotonic,
                            sessionBase: sessionBase))
        stopPayingAfter = getenv("WARREN_TEST_STOP_PAYING_AFTER").flatMap { UInt64(String(cString: $0)) }
    }

    /// Loads the channels, settles what the watchdog can, and picks or opens the channel
    /// that pays this provider.
    static func start(stateDirectory: String, config: ConsumerPaymentConfig, grant: SessionGrant, providerWallet: EthereumAddress,
                      log: EventLog, file: String) throws(AgentError) -> ConsumerPayment {
        guard let deposit = config.deposit else {
            throw .config(ConfigError(file: file, line: config.depositLine, key: "Deposit",
                message: "the provider charges \(TokenAmount(baseUnits: grant.prices.perGiB).shown)/GiB, \(TokenAmount(baseUnits: grant.prices.perMinute).shown)/min: set Deposit = the tokens to lock in a payment channel (e.g. Deposit = 1) in [Exit]"))
        }
        let opened = try PaymentState.open(stateDirectory: stateDirectory, ledgerDirectory: config.ledger, section: "Exit",
                                           persistInterval: config.persistInterval, log: log)
        let (wallet, ledger) = (opened.wallet, opened.ledger)
        var store = opened.store
        let now = UInt64(time(nil))
        reclaimExpired(&store, ledger: ledger, now: now, log: log)

        let dailyCap = config.maxSpendPerDay?.baseUnits
        let margin = max(config.channelLifetimeSeconds / 4, 60)
        let reusable = store.records.values.filter { record in
            record.role == .consumer && record.channel.provider == providerWallet && !record.reclaimed
                && record.channel.expiry > now &+ margin && record.bestAmount < record.channel.deposit
                && ((try? ledger.channel(record.id)) ?? nil).map { !$0.reclaimed } == true
        }.sorted { $0.channel.deposit - $0.bestAmount > $1.channel.deposit - $1.bestAmount }
        let channel: Channel
        do {
            if let record = reusable.first {
                channel = record.channel
                if record.dailyCap != dailyCap { try store.setDailyCap(channel: record.id, dailyCap) }
                try store.setSessionEnded(channel: channel.id, at: nil)
                try store.persistNow(channel: channel.id, now: now)
                log.info("paying on channel \(channel.id): deposit \(TokenAmount(baseUnits: channel.deposit).shown), paid so far \(TokenAmount(baseUnits: record.bestAmount).shown)")
            } else {
                let salt = Sodium.randomBytes(ChannelID.saltLength)
                let expiry = now &+ config.channelLifetimeSeconds
                do { channel = try Channel(consumer: wallet.address, provider: providerWallet, salt: salt, deposit: deposit.baseUnits, expiry: expiry) } catch {
                    throw AgentError.session("making a channel: \(error)")
                }
                // On disk before the deposit moves: a crash right after still leaves a record to reclaim from.
                try store.add(ChannelRecord(role: .consumer, channel: channel, dailyCap: dailyCap), now: now)
                do { try ledger.open(channel, now: now) } catch {
                    if case .insufficientBalance(let available, let needed) = error {
                        throw AgentError.session("cannot open a payment channel: the wallet \(wallet.address) has \(TokenAmount(baseUnits: available).exact) on the local ledger \(config.ledger), the deposit needs \(TokenAmount(baseUnits: needed).exact); fund it (warren ledger fund --address \(wallet.address) --amount ...) or lower Deposit")
                    }
                    throw AgentError.session("opening a payment channel on the local ledger \(config.ledger): \(error)")
                }
                log.info("opened channel \(channel.id) to \(providerWallet): deposit \(TokenAmount(baseUnits: deposit.baseUnits).shown), expires at \(expiry)")
            }
        } catch let error as AgentError {
            throw error
        } catch let error as ChannelStoreError {
            throw .session("writing the channel store in \(stateDirectory)/channels: \(error)")
        } catch {
            throw .session("\(error)")
        }
        let best = store[channel.id]?.bestAmount ?? 0
        let check = InvoiceCheck(domain: ledger.domain, provider: providerWallet, channelID: channel.id, sessionID: grant.sessionID,
                                 tariff: Tariff(perGiB: grant.prices.perGiB, perMinute: grant.prices.perMinute),
                                 sessionBase: best, spendingCap: spendingCap(store, channel: channel.id, maxSpend: dailyCap, now: now),
                                 lastVoucherAmount: best)
        return ConsumerPayment(wallet: wallet, ledger: ledger, channel: channel, config: config, log: log,
                               store: store, check: check, sessionBase: best)
    }

    /// Before asking for a session: nil while today's MaxSpend has room, else why not. A
    /// consumer at its cap does not even contact the provider (a restarting service would
    /// otherwise open and close sessions all day).
    static func capReachedToday(stateDirectory: String, config: ConsumerPaymentConfig, now: UInt64) -> String? {
        guard let cap = config.maxSpendPerDay?.baseUnits,
              let records = try? ChannelStore.snapshot(files: DiskChannelFiles(directory: stateDirectory + "/channels")).records else { return nil }
        let spent = records.consumerSpend(on: now)
        guard spent >= cap else { return nil }
        let resume = (ChannelRecord.day(now) + 1) * ChannelRecord.secondsPerDay
        return "today's spending cap is reached (MaxSpend \(TokenAmount(baseUnits: cap).exact), spent \(TokenAmount(baseUnits: spent).exact)): no session through this [Exit] until 00:00 UTC (in \((resume - now + 59) / 60) min), or raise MaxSpend"
    }

    /// The most this channel may reach now: its deposit, and today's budget left after what
    /// every consumer channel spent today (MaxSpend is per day, not per channel).
    static func spendingCap(_ store: ChannelStore, channel id: ChannelID, maxSpend: UInt128?, now: UInt64) -> UInt128 {
        guard let record = store[id] else { return 0 }
        var cap = record.channel.deposit
        if let maxSpend {
            let spent = store.records.values.consumerSpend(on: now)
            let remaining = maxSpend > spent ? maxSpend - spent : 0
            let (sum, overflow) = record.bestAmount.addingReportingOverflow(remaining)
            if !overflow { cap = min(cap, sum) }
        }
        return cap
    }

    static func reclaimExpired(_ store: inout ChannelStore, ledger: LocalLedger, now: UInt64, log: EventLog) {
        let policy = WatchdogPolicy(settleThreshold: 0, expiryMargin: 0)
        do {
            let report = try WatchdogRunner.run(store: &store, settlement: ledger, now: now, policy: policy)
            for (channel, refund) in report.refunds { log.info("reclaimed \(TokenAmount(baseUnits: refund).shown) from expired channel \(channel)") }
            for (channel, error) in report.failures { log.warning("reclaiming channel \(channel): \(error)") }
        } catch {
            log.error("watchdog: \(error)")
        }
    }

    // MARK: Running

    /// Binds the payment port on our tunnel address and announces the channel.
    func start(tunnelAddress: IPAddress, providerAddress: IPAddress) throws(PlatformError) {
        let socket = try PaymentChannelSocket(address: tunnelAddress)
        self.socket = socket
        self.providerAddress = providerAddress
        lastWatchdog.store(AgentClock.now().monotonic, ordering: .relaxed)
        if stopPayingAfter != 0 { announce() }
        try socket.start(name: "warren-pay", log: log, tick: { [self] in tick() }) { [self] bytes, _ in handle(bytes) }
    }

    /// After every receive (at least twice a second): announcements until the first invoice,
    /// the batched payment, and every 10 s the batched writes and the reclaiming watchdog.
    private func tick() {
        let now = AgentClock.now()
        // The announcement may be lost before the handshake completes (after a renewal it may
        // even go out under keys the restarted provider no longer has): repeat it every
        // second until an invoice shows it arrived.
        let again = state.withLock { state -> Bool in
            guard state.sessionInvoices == 0, now.monotonic &- state.lastAnnouncement >= 1_000_000_000 else { return false }
            state.lastAnnouncement = now.monotonic
            return true
        }
        if again, stopPayingAfter != 0 { announce() }
        payPending(now: now)
        guard now.monotonic &- lastWatchdog.load(ordering: .relaxed) >= Self.watchdogEverySeconds * 1_000_000_000 else { return }
        lastWatchdog.store(now.monotonic, ordering: .relaxed)
        state.withLock { state in
            let wall = now.wall / 1_000_000_000
            do { _ = try state.store.persistIfDue(now: wall) } catch { log.limited("channel-persist", "writing channels: \(error)") }
            // The watchdog: channels that expired meanwhile give their deposit back.
            Self.reclaimExpired(&state.store, ledger: ledger, now: wall, log: log)
        }
    }

    private func send(_ bytes: [UInt8]) {
        guard let socket, let providerAddress else { return }
        _ = socket.send(bytes, to: providerAddress)
    }

    private func announce() {
        let bytes: [UInt8]? = state.withLock { state in
            if let best = state.store[channel.id]?.bestVoucher { return best.serialized() }
            return sign(0, state: &state, now: AgentClock.now())
        }
        if let bytes { send(bytes) }
    }

    private func handle(_ bytes: [UInt8]) {
        guard bytes.first == PaymentMessageType.invoice.rawValue, let invoice = try? SignedInvoice(parsing: bytes) else {
            log.limited("invoice-bad", "dropped a payment message from the provider that is not an invoice")
            return
        }
        let now = AgentClock.now()
        let (totalSent, totalReceived) = counts?() ?? (0, 0)
        let verdict: InvoiceVerdict? = state.withLock { state -> InvoiceVerdict? in
            let sent = totalSent &- state.countsAtStart.sent
            let received = totalReceived &- state.countsAtStart.received
            if let limit = stopPayingAfter, received >= limit { return nil }
            let seconds = (now.monotonic &- state.startedMonotonic) / 1_000_000_000
            state.check.spendingCap = Self.spendingCap(state.store, channel: channel.id, maxSpend: config.maxSpendPerDay?.baseUnits,
                                                       now: now.wall / 1_000_000_000)
            let verdict = state.check.evaluate(invoice, bytesSent: sent, bytesReceived: received, secondsConnected: seconds)
            if verdict != .stale, verdict != .overInvoiced(.notSignedByProvider) {
                state.check.lastSequence = invoice.invoice.sequence
                state.invoices &+= 1
                state.sessionInvoices &+= 1
                state.lastDue = invoice.invoice.amountDue
            }
            switch verdict {
            case .pay(let amount):
                state.pending = amount
                if state.closing { state.finalInvoicePaid = true }
            case .capReached(let final): state.pending = final
            default: break
            }
            return verdict
        }
        guard let verdict else { return }
        switch verdict {
        case .pay, .stale:
            return
        case .capReached(let final):
            stop("the spending cap is reached (\(TokenAmount(baseUnits: final).shown) on channel \(channel.id); MaxSpend per day or the deposit): paid up to it and ended the session")
        case .overInvoiced(.notSignedByProvider):
            log.limited("invoice-signer", "dropped an invoice not signed by the provider's wallet")
        case .overInvoiced(let problem):
            stop("over-invoiced by the provider: \(problem); ended the session and paid nothing more")
        }
    }

    /// Pays the latest invoice when the last durable write is at least PersistInterval old
    /// (or `force`): record the voucher, write it, then send it.
    func payPending(now: Now, force: Bool = false) {
        let bytes: [UInt8]? = state.withLock { state in
            guard let amount = state.pending else { return nil }
            let best = state.store[channel.id]?.bestAmount ?? 0
            if amount <= best, let voucher = state.store[channel.id]?.bestVoucher {
                state.pending = nil
                return voucher.serialized()        // lost on the way: the same voucher again
            }
            let interval = config.persistInterval * 1_000_000_000
            guard force || state.closing || !state.wroteOnce || now.monotonic &- state.lastWriteMonotonic >= interval else { return nil }
            state.pending = nil
            return sign(amount, state: &state, now: now)
        }
        if let bytes { send(bytes) }
    }

    /// Signs a voucher for `amount`, refuses it if it breaks the cap or the high-water mark,
    /// and writes it durably before returning its bytes.
    private func sign(_ amount: UInt128, state: inout State, now: Now) -> [UInt8]? {
        let voucher = Voucher(channelID: channel.id, cumulativeAmount: amount).sign(with: wallet, domain: ledger.domain)
        let wall = now.wall / 1_000_000_000
        do {
            try state.store.record(voucher: voucher, now: wall)
            try state.store.persistNow(channel: channel.id, now: wall)
        } catch {
            log.limited("voucher-refused", "not signing a voucher for \(TokenAmount(baseUnits: amount).shown): \(error)")
            return nil
        }
        state.lastWriteMonotonic = now.monotonic
        state.wroteOnce = true
        state.vouchers &+= 1
        state.check.lastVoucherAmount = max(state.check.lastVoucherAmount, amount)
        return voucher.serialized()
    }

    private func stop(_ reason: String) {
        let first = stopReason.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        guard first else { return }
        log.error(reason)
        kill(getpid(), SIGTERM)
    }

    /// At disconnect: ask the provider for its final invoice (a voucher with the closing flag),
    /// pay it at once, so that its claim equals our final voucher, and mark the session ended
    /// on disk. Waits at most `finalInvoiceWait` for the invoice.
    func finish() {
        if stopPayingAfter == nil {
            // What is owed and allowed is paid now (also up to a reached cap); an over-invoice left nothing pending.
            payPending(now: AgentClock.now(), force: true)
            let request: [UInt8]? = state.withLock { state in
                guard stopReason.withLock({ $0 == nil }) else { return nil }
                state.closing = true
                return state.store[channel.id]?.bestVoucher?.serialized(closing: true)
            }
            if let request {
                send(request)
                // The payment thread pays the final invoice as it arrives.
                for _ in 0..<Int(Self.finalInvoiceWait / 50_000) {
                    if state.withLock({ $0.finalInvoicePaid && $0.pending == nil }) { break }
                    usleep(50_000)
                }
                if !state.withLock({ $0.finalInvoicePaid }) { log.warning("no final invoice from the provider within \(Self.finalInvoiceWait / 1_000_000) s") }
            }
        }
        let now = AgentClock.now()
        state.withLock { state in
            let wall = now.wall / 1_000_000_000
            do {
                try state.store.setSessionEnded(channel: channel.id, at: wall)
                try state.store.persistAll(now: wall)
            } catch {
                log.error("writing the channel at disconnect: \(error)")
            }
        }
    }

    /// The provider lost our session and granted a new one (same addresses): invoices now
    /// name the new session and count from zero; the channel goes on from its best voucher.
    func renew(grant: SessionGrant) {
        let (sent, received) = counts?() ?? (0, 0)
        let now = AgentClock.now()
        state.withLock { state in
            let best = state.store[channel.id]?.bestAmount ?? 0
            state.check = InvoiceCheck(domain: ledger.domain, provider: channel.provider, channelID: channel.id, sessionID: grant.sessionID,
                                       tariff: Tariff(perGiB: grant.prices.perGiB, perMinute: grant.prices.perMinute),
                                       sessionBase: best, spendingCap: state.check.spendingCap, lastVoucherAmount: best)
            state.countsAtStart = (sent, received)
            state.startedMonotonic = now.monotonic
            state.sessionInvoices = 0
            state.lastAnnouncement = 0
            state.sessionBase = best
            state.pending = nil
        }
    }

    /// Microseconds to wait for the final invoice at disconnect.
    static let finalInvoiceWait: UInt32 = 2_000_000

    func status() -> ConsumerPaymentStatus {
        state.withLock { state in
            let record = state.store[channel.id]
            let now = UInt64(time(nil))
            let best = record?.bestAmount ?? 0
            return ConsumerPaymentStatus(
                channel: channel.id.description, providerWallet: channel.provider.description,
                deposit: String(channel.deposit), paid: String(best),
                paidThisSession: String(best > state.sessionBase ? best - state.sessionBase : 0), due: String(state.lastDue),
                spentToday: String(record?.spent(on: now) ?? 0), dailyCap: record?.dailyCap.map { String($0) },
                invoices: state.invoices, vouchers: state.vouchers, expiry: channel.expiry,
                channelWrites: state.store.durableWrites)
        }
    }
}
