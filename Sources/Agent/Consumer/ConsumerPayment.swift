import Configuration
import Glibc
import LinuxPlatform
import PacketPath
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
//   stop       -> what is owed paid, the final invoice asked for and paid, the session ended on disk
//
// The rules are Payment's `ConsumerAccount` (pure); this runner feeds it the clock, our
// meter and the provider's messages, and applies its actions: the channel store, the
// payment socket, the log, the stop.

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
        var account: ConsumerAccount
    }

    let ledger: LocalLedger
    let channel: Channel
    let config: ConsumerPaymentConfig
    let log: EventLog
    let state: Mutex<State>
    /// Why the consumer ended the session itself (over-invoiced, cap reached), said once.
    let stopReason = Mutex<String?>(nil)
    /// Where the end of the session goes: the agent stops with exit code 3.
    let shutdown: Shutdown
    /// The agent's clock: every event of the account is dated by it.
    let clock: TimeSource
    /// The consumer's own meter: inner bytes sent to and received from the provider.
    var counts: (@Sendable () -> (sent: UInt64, received: UInt64))?
    private var socket: PaymentChannelSocket?
    /// The provider's tunnel address, where vouchers go (set by `start`).
    private var providerAddress: IPAddress?
    private let lastWatchdog = Atomic<UInt64>(0)

    static let watchdogEverySeconds: UInt64 = 10

    private init(ledger: LocalLedger, channel: Channel, config: ConsumerPaymentConfig, log: EventLog,
                 store: ChannelStore, account: ConsumerAccount, shutdown: Shutdown, clock: TimeSource) {
        self.shutdown = shutdown
        self.clock = clock
        self.ledger = ledger
        self.channel = channel
        self.config = config
        self.log = log
        state = Mutex(State(store: store, account: account))
    }

    /// Loads the channels, settles what the watchdog can, and picks or opens the channel
    /// that pays this provider. `stopPayingAfter` is the test switch WARREN_TEST_STOP_PAYING_AFTER.
    static func start(stateDirectory: String, config: ConsumerPaymentConfig, grant: SessionGrant, providerWallet: EthereumAddress,
                      stopPayingAfter: UInt64?, shutdown: Shutdown, clock: TimeSource, log: EventLog, file: String) throws(AgentError) -> ConsumerPayment {
        guard config.deposit != nil else { throw noDeposit(config: config, grant: grant, file: file) }
        let opened = try PaymentState.open(stateDirectory: stateDirectory, ledgerDirectory: config.ledger, section: "Exit",
                                           persistInterval: config.persistInterval, nowWall: clock.now().wall / 1_000_000_000, log: log)
        return try start(opened, config: config, grant: grant, providerWallet: providerWallet, stopPayingAfter: stopPayingAfter,
                         shutdown: shutdown, clock: clock, log: log, file: file)
    }

    private static func noDeposit(config: ConsumerPaymentConfig, grant: SessionGrant, file: String) -> AgentError {
        .config(ConfigError(file: file, line: config.depositLine, key: "Deposit",
            message: "the provider charges \(TokenAmount(baseUnits: grant.prices.perGiB).shown)/GiB, \(TokenAmount(baseUnits: grant.prices.perMinute).shown)/min: set Deposit = the tokens to lock in a payment channel (e.g. Deposit = 1) in [Exit]"))
    }

    /// The same over an opened payment state (any storage: a test's is in memory).
    static func start(_ opened: PaymentState, config: ConsumerPaymentConfig, grant: SessionGrant, providerWallet: EthereumAddress,
                      stopPayingAfter: UInt64?, shutdown: Shutdown, clock: TimeSource, log: EventLog, file: String) throws(AgentError) -> ConsumerPayment {
        guard let deposit = config.deposit else { throw noDeposit(config: config, grant: grant, file: file) }
        let (wallet, ledger) = (opened.wallet, opened.ledger)
        var store = opened.store
        let now = clock.now()
        let wall = now.wall / 1_000_000_000
        reclaimExpired(&store, ledger: ledger, now: wall, log: log)

        let dailyCap = config.maxSpendPerDay?.baseUnits
        let reusable = ConsumerAccount.reusableChannel(among: store.records.values, provider: providerWallet, now: wall,
                                                       channelLifetime: config.channelLifetimeSeconds) { id in
            ((try? ledger.channel(id)) ?? nil).map { !$0.reclaimed } == true
        }
        let channel: Channel
        do {
            if let record = reusable {
                channel = record.channel
                if record.dailyCap != dailyCap { try store.setDailyCap(channel: record.id, dailyCap) }
                try store.setSessionEnded(channel: channel.id, at: nil)
                try store.persistNow(channel: channel.id, now: wall)
                log.info("paying on channel \(channel.id): deposit \(TokenAmount(baseUnits: channel.deposit).shown), paid so far \(TokenAmount(baseUnits: record.bestAmount).shown)")
            } else {
                let salt = Sodium.randomBytes(ChannelID.saltLength)
                let expiry = wall &+ config.channelLifetimeSeconds
                do { channel = try Channel(consumer: wallet.address, provider: providerWallet, salt: salt, deposit: deposit.baseUnits, expiry: expiry) } catch {
                    throw AgentError.session("making a channel: \(error)")
                }
                // On disk before the deposit moves: a crash right after still leaves a record to reclaim from.
                try store.add(ChannelRecord(role: .consumer, channel: channel, dailyCap: dailyCap), now: wall)
                do { try ledger.open(channel, now: wall) } catch {
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
            throw .session("writing the channel store in \(opened.channelsLocation): \(error)")
        } catch {
            throw .session("\(error)")
        }
        guard let record = store[channel.id] else { throw .session("channel \(channel.id) is missing from the channel store") }
        let settings = ConsumerAccount.Settings(domain: ledger.domain, maxSpendPerDay: dailyCap, persistInterval: config.persistInterval,
                                                stopPayingAfter: stopPayingAfter)
        // The meter is not attached yet: the tunnel's counts start at zero with the tunnel.
        let account = ConsumerAccount(wallet: wallet, record: record, channels: store.records.values, sessionID: grant.sessionID,
                                      tariff: grant.prices,
                                      counts: .init(sent: 0, received: 0), settings: settings, now: instant(now))
        return ConsumerPayment(ledger: ledger, channel: channel, config: config, log: log, store: store, account: account,
                               shutdown: shutdown, clock: clock)
    }

    /// Before asking for a session: nil while today's MaxSpend has room, else why not. A
    /// consumer at its cap does not even contact the provider (a restarting service would
    /// otherwise open and close sessions all day).
    static func capReachedToday(stateDirectory: String, config: ConsumerPaymentConfig, now: UInt64) -> String? {
        guard let cap = config.maxSpendPerDay?.baseUnits,
              let records = try? ChannelStore.snapshot(files: DiskChannelFiles(directory: stateDirectory + "/channels")).records,
              case let (spent, resume)? = ConsumerAccount.capReachedToday(records: records, maxSpendPerDay: cap, now: now) else { return nil }
        return "today's spending cap is reached (MaxSpend \(TokenAmount(baseUnits: cap).exact), spent \(TokenAmount(baseUnits: spent).exact)): no session through this [Exit] until 00:00 UTC (in \((resume - now + 59) / 60) min), or raise MaxSpend"
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

    private static func instant(_ now: Now) -> ConsumerAccount.Instant {
        ConsumerAccount.Instant(monotonic: now.monotonic, unixSeconds: now.wall / 1_000_000_000)
    }

    private func meter() -> ConsumerAccount.Counts {
        let (sent, received) = counts?() ?? (0, 0)
        return ConsumerAccount.Counts(sent: sent, received: received)
    }

    // MARK: Running

    /// Binds the payment port on our tunnel address, announces the channel and serves the
    /// port (a receive waits at most half a second, so `tick` runs at least twice a second).
    func start(tunnelAddress: IPAddress, providerAddress: IPAddress) throws(PlatformError) {
        let socket = try PaymentChannelSocket(address: tunnelAddress, receiveTimeoutMilliseconds: 500)
        attach(socket, providerAddress: providerAddress)
        try socket.start(name: "warren-pay", log: log, tick: { [self] in tick() }) { [self] bytes, _ in handle(bytes) }
    }

    /// Pays through `socket` from now on and announces the channel; whoever receives on it
    /// calls `handle` and `tick` (the thread `start` runs, or a test step by step).
    func attach(_ socket: PaymentChannelSocket, providerAddress: IPAddress) {
        self.socket = socket
        self.providerAddress = providerAddress
        let now = clock.now()
        lastWatchdog.store(now.monotonic, ordering: .relaxed)
        apply(now) { account, now in account.tunnelUp(now: now) }
    }

    /// After every receive (at least twice a second): the account's timers (announcements,
    /// the batched payment, the end of the final wait), and every 10 s the batched writes
    /// and the reclaiming watchdog.
    func tick() {
        let now = clock.now()
        apply(now) { account, now in account.tick(now: now) }
        guard now.monotonic &- lastWatchdog.load(ordering: .relaxed) >= Self.watchdogEverySeconds * 1_000_000_000 else { return }
        lastWatchdog.store(now.monotonic, ordering: .relaxed)
        state.withLock { state in
            let wall = now.wall / 1_000_000_000
            do { _ = try state.store.persistIfDue(now: wall) } catch { log.limited("channel-persist", "writing channels: \(error)") }
            // The watchdog: channels that expired meanwhile give their deposit back.
            Self.reclaimExpired(&state.store, ledger: ledger, now: wall, log: log)
        }
    }

    /// A datagram from the provider on the payment port.
    func handle(_ bytes: [UInt8]) {
        guard bytes.first == PaymentMessageType.invoice.rawValue, let invoice = try? SignedInvoice(parsing: bytes) else {
            log.limited("invoice-bad", "dropped a payment message from the provider that is not an invoice")
            return
        }
        let now = clock.now()
        let counts = meter()
        apply(now) { account, now in account.receive(invoice: invoice, counts: counts, now: now) }
    }

    /// Runs one account event at `now` and applies its actions in order. Vouchers are written
    /// under the lock, before any send; a voucher whose write failed is not sent. Sends and the
    /// stop happen after the lock. Returns whether the account closed.
    @discardableResult
    private func apply(_ now: Now, _ event: (inout ConsumerAccount, ConsumerAccount.Instant) -> [ConsumerAction]) -> Bool {
        let instant = Self.instant(now)
        let wall = instant.unixSeconds
        let (sends, stops, closed) = state.withLock { state -> ([[UInt8]], [ConsumerStopReason], Bool) in
            var sends: [[UInt8]] = []
            var stops: [ConsumerStopReason] = []
            var closed = false
            var unwritten: Set<SignedVoucher> = []
            for action in event(&state.account, instant) {
                switch action {
                case .record(let voucher):
                    do {
                        try state.store.record(voucher: voucher, now: wall)
                        try state.store.persistNow(channel: channel.id, now: wall)
                    } catch {
                        unwritten.insert(voucher)
                        log.limited("voucher-refused", "not signing a voucher for \(TokenAmount(baseUnits: voucher.cumulativeAmount).shown): \(error)")
                    }
                case .send(let voucher, let closing):
                    if !unwritten.contains(voucher) { sends.append(voucher.serialized(closing: closing)) }
                case .refused(let amount, let error):
                    log.limited("voucher-refused", "not signing a voucher for \(TokenAmount(baseUnits: amount).shown): \(error)")
                case .droppedInvoice:
                    log.limited("invoice-signer", "dropped an invoice not signed by the provider's wallet")
                case .stop(let reason):
                    stops.append(reason)
                case .closed(let how):
                    closed = true
                    if how == .finalInvoiceWaitRanOut {
                        log.warning("no final invoice from the provider within \(state.account.settings.finalInvoiceWait / 1_000_000_000) s")
                    }
                    do {
                        try state.store.setSessionEnded(channel: channel.id, at: wall)
                        try state.store.persistAll(now: wall)
                    } catch {
                        log.error("writing the channel at disconnect: \(error)")
                    }
                }
            }
            return (sends, stops, closed)
        }
        for bytes in sends { send(bytes) }
        for reason in stops { stop(describe(reason)) }
        return closed
    }

    private func send(_ bytes: [UInt8]) {
        guard let socket, let providerAddress else { return }
        _ = socket.send(bytes, to: providerAddress)
    }

    private func describe(_ reason: ConsumerStopReason) -> String {
        switch reason {
        case .spendingCap(let final):
            "the spending cap is reached (\(TokenAmount(baseUnits: final).shown) on channel \(channel.id); MaxSpend per day or the deposit): paid up to it and ended the session"
        case .overInvoiced(let problem):
            "over-invoiced by the provider: \(problem); ended the session and paid nothing more"
        }
    }

    private func stop(_ reason: String) {
        let first = stopReason.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        guard first else { return }
        log.error(reason)
        shutdown.request(.consumerEnded(reason))
    }

    /// At disconnect: pay what is owed, ask the provider for its final invoice (a voucher with
    /// the closing flag), pay it at once, so that its claim equals our final voucher, and mark
    /// the session ended on disk. Waits at most the account's final-invoice wait.
    func finish() {
        var closed = apply(clock.now()) { account, now in account.close(now: now) }
        // The payment thread pays the final invoice as it arrives; this loop ends the wait.
        while !closed {
            usleep(50_000)
            closed = apply(clock.now()) { account, now in account.tick(now: now) }
                || state.withLock { $0.account.phase == .closed }
        }
    }

    /// The provider lost our session and granted a new one (same addresses): invoices now
    /// name the new session and count from zero; the channel goes on from its best voucher.
    func renew(grant: SessionGrant) {
        let counts = meter()
        let now = clock.now()
        state.withLock { state in
            state.account.renew(sessionID: grant.sessionID, tariff: grant.prices,
                                counts: counts, now: Self.instant(now))
        }
    }

    func status() -> ConsumerPaymentStatus {
        state.withLock { state in
            let account = state.account
            let record = state.store[channel.id]
            let now = clock.now().wall / 1_000_000_000
            let best = record?.bestAmount ?? 0
            return ConsumerPaymentStatus(
                channel: channel.id.description, providerWallet: channel.provider.description,
                deposit: String(channel.deposit), paid: String(best),
                paidThisSession: String(best > account.sessionBase ? best - account.sessionBase : 0), due: String(account.lastDue),
                spentToday: String(record?.spent(on: now) ?? 0), dailyCap: record?.dailyCap.map { String($0) },
                invoices: account.invoices, vouchers: account.vouchers, expiry: channel.expiry,
                channelWrites: state.store.durableWrites)
        }
    }
}
