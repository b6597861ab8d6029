import Configuration
import LinuxPlatform
import PacketPath
import Payment
import Session
import Synchronization
import WireGuard

// The provider's side of payment.
//
//   grant          -> CreditBook.open: a Payment.ProviderAccount (window and carried debt
//                     from the consumer identity's record, a share of the stranger budget)
//   data plane     -> BillingGate per packet; crossing the allowance -> account.admit, which
//                     rechecks from the voucher on disk (never writing: the packet path does
//                     not wait for flash) or pauses the session
//   UDP 4747       -> voucher: account.check (ledger, store, sessions through
//                     ProviderChannelLookup), store it here, account.receive
//   every second   -> account.tick: invoices, credit recheck, end after grace; batched
//                     writes here; every 10 s and at each session end: watchdog
//   end or re-ask  -> account.close: what it left unpaid becomes the identity's debt; the
//                     channel (and one the session replaced) is settled
//
// The money rules are all in ProviderAccount; this file and ProviderService apply its
// actions: the sockets, the channel store, the ledger, the log.

/// The provider's payment machinery shared by all sessions: wallet, ledger, channel store,
/// consumers' credit records and the payment sockets. Each session's money rules are its
/// `ProviderAccount`; this applies what they decide.
final class ProviderBilling: @unchecked Sendable {
    let wallet: WalletKey
    let ledger: LocalLedger
    let config: ProviderPaymentConfig
    let tariff: Tariff
    /// What every session's account is opened with.
    let terms: ProviderAccountTerms
    let store: Mutex<ChannelStore>
    let log: EventLog
    let policy: WatchdogPolicy
    /// Credit records by consumer identity (its Ed25519 key), with their debts, and the
    /// stranger budget: what one identity, and all new ones together, can cost (`CreditBook`).
    let book: Mutex<CreditBook>
    /// Consumers whose last session ended unpaid, and until when (monotonic ns) they are
    /// refused: otherwise asking again would buy a fresh free window each time.
    let nonPayers = Mutex<[[UInt8]: UInt64]>([:])
    static let nonPayerRefusal: UInt64 = 600_000_000_000
    private var sockets: [PaymentChannelSocket] = []
    let vouchersRefused = Atomic<UInt64>(0)
    let invoicesSent = Atomic<UInt64>(0)

    static let watchdogEverySeconds: UInt64 = 10

    /// `overchargePercent` is a test switch (`TestKnobs`): invoices ask that much more than
    /// due, to show that a consumer refuses them. Zero outside tests.
    init(wallet: WalletKey, ledger: LocalLedger, store: ChannelStore, config: ProviderPaymentConfig, tariff: Tariff,
         overchargePercent: UInt64, log: EventLog) {
        self.wallet = wallet
        self.ledger = ledger
        self.store = Mutex(store)
        self.config = config
        self.tariff = tariff
        self.log = log
        terms = ProviderAccountTerms(tariff: tariff, provider: wallet.address, expiryMarginSeconds: config.expiryMarginSeconds,
                                     graceSeconds: config.graceSeconds, overchargePercent: overchargePercent)
        book = Mutex(CreditBook(tariff: tariff, maximumWindow: config.creditWindow, strangerWindows: config.strangerWindows))
        policy = WatchdogPolicy(settleThreshold: config.settleThreshold.baseUnits, expiryMargin: config.expiryMarginSeconds)
    }

    /// Loads the channel store from the state directory, marks sessions that died with the
    /// process as ended and runs the watchdog once: a provider that was off when sessions
    /// ended claims now.
    static func start(stateDirectory: String, config: ProviderPaymentConfig, tariff: Tariff, overchargePercent: UInt64,
                      clock: TimeSource, log: EventLog) throws(AgentError) -> ProviderBilling {
        let nowWall = clock.now().wall / 1_000_000_000
        let opened = try PaymentState.open(stateDirectory: stateDirectory, ledgerDirectory: config.ledger, section: "Provider",
                                           persistInterval: config.persistInterval, nowWall: nowWall, log: log)
        return start(opened, config: config, tariff: tariff, overchargePercent: overchargePercent, nowWall: nowWall, log: log)
    }

    /// The same over an opened payment state (any storage: a test's is in memory).
    static func start(_ opened: PaymentState, config: ProviderPaymentConfig, tariff: Tariff, overchargePercent: UInt64,
                      nowWall: UInt64, log: EventLog) -> ProviderBilling {
        let billing = ProviderBilling(wallet: opened.wallet, ledger: opened.ledger, store: opened.store, config: config, tariff: tariff,
                                      overchargePercent: overchargePercent, log: log)
        billing.runWatchdog(now: nowWall)
        log.info("payments to \(opened.wallet.address) on the local ledger \(config.ledger); \(billing.store.withLock { $0.records.count }) channel(s) on disk")
        return billing
    }

    /// Binds the payment port on each tunnel address and serves it, one thread each.
    func startSockets(addresses: [IPAddress], handle: @escaping @Sendable ([UInt8], Endpoint) -> Void) throws(PlatformError) {
        for address in addresses {
            let socket = try PaymentChannelSocket(address: address)
            try socket.start(name: "warren-pay", log: log, handle: handle)
            sockets.append(socket)
        }
    }

    /// Sends through `socket` too, whoever receives on it (a test receives itself, step by step).
    func use(_ socket: PaymentChannelSocket) {
        sockets.append(socket)
    }

    func send(_ bytes: [UInt8], to address: IPAddress) -> Bool {
        guard let socket = sockets.first(where: { $0.address.isV4 == address.isV4 }) else { return false }
        return socket.send(bytes, to: address)
    }

    /// Signs and sends an invoice; counted when it left.
    func send(_ invoice: Invoice, to address: IPAddress) {
        if send(invoice.sign(with: wallet, domain: ledger.domain).serialized(), to: address) {
            invoicesSent.add(1, ordering: .relaxed)
        }
    }

    /// A session for `consumer` (any live one already closed): its grant, or a refusal.
    func open(consumer: [UInt8], now: Now) -> CreditBook.Decision {
        book.withLock { $0.open(consumer, now: now.monotonic / 1_000_000_000) }
    }

    /// Closes an account against the credit book (`ProviderAccount.close`).
    func close(_ account: inout ProviderAccount, now: Now) -> ProviderAccountClosing {
        book.withLock { account.close(now: now.monotonic, book: &$0) }
    }

    func recordNonPayer(_ consumer: [UInt8], now: UInt64) {
        nonPayers.withLock { table in
            table = table.filter { $0.value > now }
            table[consumer] = now &+ Self.nonPayerRefusal
        }
    }

    func isRefusedNonPayer(_ consumer: [UInt8], now: UInt64) -> Bool {
        nonPayers.withLock { ($0[consumer] ?? 0) > now }
    }

    /// The best voucher amount of a channel that is on disk: what credit is computed from.
    /// Called with the provider's lock held (lock order: provider state, then store).
    func persistedAmount(_ channel: ChannelID) -> UInt128 {
        store.withLock { $0.persistedAmount(channel) }
    }

    /// Stores a voucher for a channel (adding the channel on first sight) and returns the
    /// channel's best amount in memory.
    func store(_ voucher: SignedVoucher, channel: Channel, sessionStarted: Bool, nowWall: UInt64) throws(ChannelStoreError) -> UInt128 {
        try store.withLock { store throws(ChannelStoreError) -> UInt128 in
            if store[channel.id] == nil {
                try store.add(ChannelRecord(role: .provider, channel: channel), now: nowWall)
            }
            if sessionStarted { try store.setSessionEnded(channel: channel.id, at: nil) }
            try store.record(voucher: voucher, now: nowWall)
            // Written now unless this channel was written less than a PersistInterval ago;
            // then the once-a-second batch writes it when the interval is up.
            try store.persistIfDue(now: nowWall)
            return store[channel.id]?.bestAmount ?? 0
        }
    }

    // MARK: Session end, batching, watchdog

    func sessionEnded(channel: ChannelID, nowWall: UInt64) {
        do {
            try store.withLock { store throws(ChannelStoreError) in
                try store.setSessionEnded(channel: channel, at: nowWall)
                try store.persistNow(channel: channel, now: nowWall)
            }
        } catch {
            log.error("recording the end of the session on channel \(channel): \(error)")
        }
        runWatchdog(now: nowWall)
    }

    func persistDue(nowWall: UInt64) {
        do { _ = try store.withLock { store throws(ChannelStoreError) -> Int in try store.persistIfDue(now: nowWall) } } catch {
            log.limited("channel-persist", "writing channels: \(error)")
        }
    }

    func runWatchdog(now: UInt64) {
        let result = store.withLock { store -> Result<WatchdogReport, ChannelStoreError> in
            Result { () throws(ChannelStoreError) in try WatchdogRunner.run(store: &store, settlement: ledger, now: now, policy: policy) }
        }
        switch result {
        case .success(let report):
            for id in report.submitted { log.info("claimed \(id) on the local ledger") }
            for (channel, error) in report.failures { log.warning("claim on channel \(channel) failed: \(error); retried after backoff") }
        case .failure(let error):
            log.error("watchdog: \(error)")
        }
    }

    func shutdown(nowWall: UInt64) {
        do { try store.withLock { store throws(ChannelStoreError) in try store.persistAll(now: nowWall) } } catch {
            log.error("writing channels at shutdown: \(error)")
        }
    }
}

/// The ledger, the channel store and the session table, as a session's voucher check asks
/// them (`ProviderAccount.check`, outside the provider's lock).
struct ProviderVoucherLookup: ProviderChannelLookup {
    let billing: ProviderBilling
    /// Whether a session other than the voucher's own is bound to a channel.
    let boundElsewhere: (ChannelID) -> Bool

    func ledgerChannel(_ id: ChannelID) throws(LedgerError) -> LedgerChannel? { try billing.ledger.channel(id) }
    func storedChannel(_ id: ChannelID) -> Channel? { billing.store.withLock { $0[id]?.channel } }
    func isBoundByAnotherSession(_ id: ChannelID) -> Bool { boundElsewhere(id) }
}
