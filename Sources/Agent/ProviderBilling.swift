import Configuration
import Glibc
import LinuxPlatform
import Payment
import Session
import Synchronization
import WireGuard

// The provider's side of payment.
//
//   grant          -> CreditBook.open: a SessionAccount (window and carried debt from the
//                     consumer identity's record, a share of the stranger budget, no channel)
//   data plane     -> account.admit per packet: count, compare with the byte allowance;
//                     crossing it recomputes the allowance from the voucher on disk (never
//                     writing: the packet path does not wait for flash) or pauses the session
//   UDP 4747       -> voucher: the first binds the session to a channel the ledger holds
//                     (provider = us, consumer = signer); later ones raise the best voucher
//   every second   -> invoices, credit recheck (time is priced too), grace for paused
//                     sessions, batched writes; every 10 s and at each session end: watchdog
//   end or re-ask  -> CreditBook.close: what the account left unpaid becomes the identity's
//                     debt; the channel (and one the session replaced) is settled

/// The per-packet half of a session's account: counters, the allowance and the paused flag,
/// in atomics, so both data-plane directions decide a packet without a lock (the tunnel's
/// send gate runs under the tunnel's lock; taking the provider's there would serialise the
/// two directions). Two packets racing at the boundary overshoot it by at most one packet each.
final class BillingGate: Sendable {
    let fromConsumer = Atomic<UInt64>(0)
    let toConsumer = Atomic<UInt64>(0)
    let billed = Atomic<UInt64>(0)
    let allowance: Atomic<UInt64>
    let paused = Atomic<Bool>(false)

    init(allowance: UInt64) {
        self.allowance = Atomic(allowance)
    }

    enum Admission { case pass, drop, recheck }

    /// Payment datagrams always pass and are not billed, so a paused consumer can pay its way out.
    func admit(bytes: Int, fromConsumer direction: Bool, isPayment: Bool) -> Admission {
        if isPayment { return .pass }
        if paused.load(ordering: .relaxed) { return .drop }
        let size = UInt64(bytes)
        let total = billed.wrappingAdd(size, ordering: .relaxed).newValue
        guard total >= size, total <= allowance.load(ordering: .relaxed) else {
            billed.wrappingSubtract(size, ordering: .relaxed)
            return .recheck
        }
        countDirection(size, direction)
        return .pass
    }

    func count(_ bytes: Int, fromConsumer direction: Bool) {
        billed.wrappingAdd(UInt64(bytes), ordering: .relaxed)
        countDirection(UInt64(bytes), direction)
    }

    private func countDirection(_ size: UInt64, _ fromTheConsumer: Bool) {
        if fromTheConsumer { fromConsumer.wrappingAdd(size, ordering: .relaxed) } else { toConsumer.wrappingAdd(size, ordering: .relaxed) }
    }
}

/// What one consumer's session owes and may still use. Lives in `ProviderSession`, under
/// the provider's lock; the per-packet counters live in its `gate`.
struct SessionAccount {
    typealias Admission = BillingGate.Admission

    var channel: ChannelID?
    var consumerWallet: EthereumAddress?
    var credit: CreditLine
    let startedMonotonic: UInt64
    let gate: BillingGate
    var pausedSince: UInt64 = 0
    /// The best voucher amount received in this session (in memory; maybe not yet on disk).
    var paid: UInt128
    var invoiceSequence: UInt64 = 0
    var lastInvoiceBytes: UInt64 = 0
    var lastInvoiceMonotonic: UInt64 = 0
    var lastInvoiceDue: UInt128 = 0
    var invoiceNow = false
    var vouchers: UInt64 = 0
    /// The latest invoice's due when the previous voucher arrived: the next voucher, a
    /// PersistInterval or so later, should pay at least that much to count as good.
    var dueAskedBeforeLastVoucher: UInt128 = 0
    /// This session's share of the stranger budget (0 once the identity is good).
    var reservation: UInt128 = 0
    /// The channel of the session this one replaced (the consumer asked again): settled as
    /// soon as this session binds another channel, or when it ends.
    var replacedChannel: ChannelID?

    init(tariff: Tariff, grant: CreditBook.Grant, now: UInt64) {
        credit = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: grant.windowBytes, carried: grant.carried, paysDown: grant.paysDown)
        reservation = grant.reservation
        startedMonotonic = now
        paid = 0
        gate = BillingGate(allowance: credit.byteAllowance(seconds: 0, paid: 0))
    }

    init(tariff: Tariff, window: UInt64, now: UInt64) {
        self.init(tariff: tariff, grant: CreditBook.Grant(windowBytes: window), now: now)
    }

    var bytesFromConsumer: UInt64 { gate.fromConsumer.load(ordering: .relaxed) }
    var bytesToConsumer: UInt64 { gate.toConsumer.load(ordering: .relaxed) }
    var billedBytes: UInt64 { gate.billed.load(ordering: .relaxed) }
    /// Total bytes (both directions) the paid amount plus the window covers right now.
    var allowance: UInt64 {
        get { gate.allowance.load(ordering: .relaxed) }
        nonmutating set { gate.allowance.store(newValue, ordering: .relaxed) }
    }
    var paused: Bool {
        get { gate.paused.load(ordering: .relaxed) }
        nonmutating set { gate.paused.store(newValue, ordering: .relaxed) }
    }

    func seconds(now: UInt64) -> UInt64 { (now &- startedMonotonic) / 1_000_000_000 }

    func due(now: UInt64) -> UInt128 { credit.due(bytes: billedBytes, seconds: seconds(now: now)) }

    /// What this session used and has not paid (vouchers received), at `now`.
    func unpaid(now: UInt64) -> UInt128 { credit.unpaid(bytes: billedBytes, seconds: seconds(now: now), paid: paid) }

    /// The channels to settle when this account is closed: its own and the one it replaced.
    var channelsToSettle: [ChannelID] {
        [channel, replacedChannel == channel ? nil : replacedChannel].compactMap { $0 }
    }

    enum CreditChange { case paused, resumed }

    /// Applies a credit check's answer, the one place a session is paused or resumed:
    /// uncovered pauses it (its grace starts, and the consumer gets an invoice at once),
    /// covered resumes it. Nil when nothing changed.
    mutating func apply(covered: Bool, now: UInt64) -> CreditChange? {
        guard covered == paused else { return nil }
        paused = !covered
        guard !covered else { return .resumed }
        pausedSince = now
        invoiceNow = true
        return .paused
    }

    func admit(bytes: Int, fromConsumer: Bool, isPayment: Bool) -> Admission {
        gate.admit(bytes: bytes, fromConsumer: fromConsumer, isPayment: isPayment)
    }

    func count(_ bytes: Int, fromConsumer: Bool) { gate.count(bytes, fromConsumer: fromConsumer) }
}

/// The provider's payment machinery shared by all sessions: wallet, ledger, channel store,
/// consumers' credit records and the payment sockets.
final class ProviderBilling: @unchecked Sendable {
    let wallet: WalletKey
    let ledger: LocalLedger
    let config: ProviderPaymentConfig
    let tariff: Tariff
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

    static let invoiceEverySeconds: UInt64 = 5
    /// Test switch (WARREN_TEST_OVERCHARGE_PERCENT): invoices ask this much more than due, to
    /// show that a consumer refuses them. Never set outside tests.
    let overchargePercent: UInt64 = getenv("WARREN_TEST_OVERCHARGE_PERCENT").flatMap { UInt64(String(cString: $0)) } ?? 0
    static let watchdogEverySeconds: UInt64 = 10

    init(wallet: WalletKey, ledger: LocalLedger, store: ChannelStore, config: ProviderPaymentConfig, tariff: Tariff, log: EventLog) {
        self.wallet = wallet
        self.ledger = ledger
        self.store = Mutex(store)
        self.config = config
        self.tariff = tariff
        self.log = log
        book = Mutex(CreditBook(tariff: tariff, maximumWindow: config.creditWindow, strangerWindows: config.strangerWindows))
        policy = WatchdogPolicy(settleThreshold: config.settleThreshold.baseUnits, expiryMargin: config.expiryMarginSeconds)
    }

    /// Loads the channel store, marks sessions that died with the process as ended and runs
    /// the watchdog once: a provider that was off when sessions ended claims now.
    static func start(stateDirectory: String, config: ProviderPaymentConfig, tariff: Tariff, log: EventLog) throws(AgentError) -> ProviderBilling {
        let opened = try PaymentState.open(stateDirectory: stateDirectory, ledgerDirectory: config.ledger, section: "Provider",
                                           persistInterval: config.persistInterval, log: log)
        let (wallet, ledger, store) = (opened.wallet, opened.ledger, opened.store)
        let now = UInt64(time(nil))
        let billing = ProviderBilling(wallet: wallet, ledger: ledger, store: store, config: config, tariff: tariff, log: log)
        billing.runWatchdog(now: now)
        log.info("payments to \(wallet.address) on the local ledger \(config.ledger); \(billing.store.withLock { $0.records.count }) channel(s) on disk")
        return billing
    }

    func startSockets(addresses: [IPAddress], handle: @escaping @Sendable ([UInt8], Endpoint) -> Void) throws(PlatformError) {
        for address in addresses {
            let socket = try PaymentChannelSocket(address: address)
            try socket.start(name: "warren-pay", log: log, handle: handle)
            sockets.append(socket)
        }
    }

    func send(_ bytes: [UInt8], to address: IPAddress) -> Bool {
        guard let socket = sockets.first(where: { $0.address.isV4 == address.isV4 }) else { return false }
        return socket.send(bytes, to: address)
    }

    /// Seconds on the monotonic clock: the credit book's time.
    static func bookSeconds(_ now: Now) -> UInt64 { now.monotonic / 1_000_000_000 }

    /// A session for `consumer` (any live one already closed): its grant, or a refusal.
    func open(consumer: [UInt8], now: Now) -> CreditBook.Decision {
        book.withLock { $0.open(consumer, now: Self.bookSeconds(now)) }
    }

    /// An account is done (its session ended, or the consumer asked again): what it left
    /// unpaid becomes the identity's debt, its stranger share goes back. Returns the unpaid
    /// amount it carried on (for the log).
    @discardableResult
    func close(_ account: SessionAccount, consumer: [UInt8], now: Now) -> UInt128 {
        let unpaid = account.unpaid(now: now.monotonic)
        let left = account.credit.debtLeft(paid: account.paid)
        book.withLock {
            $0.close(consumer, unpaid: unpaid, debtLeft: left, reservation: account.reservation, now: Self.bookSeconds(now))
        }
        let (sum, overflow) = unpaid.addingReportingOverflow(left)
        return overflow ? .max : sum
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

    func recordGoodVoucher(consumer: [UInt8]) -> UInt64 {
        book.withLock { $0.goodVoucher(consumer) }
    }

    /// A voucher added `amount` to what `account`'s consumer paid: a stranger that has now
    /// paid a first window's money gives its share of the budget back and pays down what it
    /// carried from then on.
    func recordPayment(_ amount: UInt128, consumer: [UInt8], account: inout SessionAccount, now: Now) {
        let good = book.withLock { $0.paid(consumer, amount: amount, reservation: account.reservation, now: Self.bookSeconds(now)) }
        if good && account.reservation > 0 {
            account.reservation = 0
            account.credit = account.credit.with(paysDown: true)
        }
    }

    // MARK: Credit

    /// Recomputes the account's allowance from the best voucher on disk and returns whether
    /// `extra` more bytes are covered. Never writes: the packet path must not wait for flash.
    /// Vouchers are written by the payment thread when they arrive (if the channel's last
    /// write is a PersistInterval old) or by the once-a-second batch, which then unpauses.
    /// Called with the provider's lock held (lock order: provider state, then store).
    func recheck(_ account: inout SessionAccount, extra: Int, now: Now) -> Bool {
        let seconds = account.seconds(now: now.monotonic)
        let bytes = account.billedBytes &+ UInt64(extra)
        let paid = account.channel.map { channel in store.withLock { $0.persistedAmount(channel) } } ?? 0
        account.allowance = account.credit.byteAllowance(seconds: seconds, paid: paid)
        return bytes <= account.allowance
    }

    // MARK: Invoices

    func invoice(for account: inout SessionAccount, sessionID: UInt32, now: UInt64) -> Invoice? {
        guard let channel = account.channel else { return nil }
        var due = account.due(now: now)
        if overchargePercent > 0 {
            let usage = due - account.credit.sessionBase
            due = account.credit.sessionBase &+ usage &+ usage * UInt128(overchargePercent) / 100 &+ 1
        }
        let interval = max(account.credit.windowBytes / 4, 1)
        let bytesSince = account.billedBytes &- account.lastInvoiceBytes
        let timeSince = now &- account.lastInvoiceMonotonic
        guard due != account.lastInvoiceDue || account.invoiceNow else { return nil }
        guard account.invoiceNow || bytesSince >= interval || timeSince >= Self.invoiceEverySeconds * 1_000_000_000 else { return nil }
        account.invoiceSequence &+= 1
        account.lastInvoiceBytes = account.billedBytes
        account.lastInvoiceMonotonic = now
        account.lastInvoiceDue = due
        account.invoiceNow = false
        return Invoice(channelID: channel, sessionID: sessionID, sequence: account.invoiceSequence,
                       bytesFromConsumer: account.bytesFromConsumer, bytesToConsumer: account.bytesToConsumer,
                       secondsConnected: account.seconds(now: now), amountDue: due)
    }

    func sign(_ invoice: Invoice) -> [UInt8] {
        invoice.sign(with: wallet, domain: ledger.domain).serialized()
    }

    // MARK: Vouchers

    enum VoucherCheck {
        case bind(Channel)
        case refused(String)
    }

    /// For a session without a channel: is this voucher's channel one the ledger holds for
    /// us, from this signer, far enough from expiry?
    func checkNewChannel(_ voucher: SignedVoucher, signer: EthereumAddress, nowWall: UInt64) -> VoucherCheck {
        let entry: LedgerChannel?
        do { entry = try ledger.channel(voucher.channelID) } catch {
            return .refused("the ledger could not be read: \(error)")
        }
        guard let entry else { return .refused("channel \(voucher.channelID) is not on the ledger") }
        let channel = entry.channel
        guard !entry.reclaimed else { return .refused("channel \(channel.id) was reclaimed") }
        guard channel.provider == wallet.address else { return .refused("channel \(channel.id) pays \(channel.provider), not us") }
        guard channel.consumer == signer else { return .refused("voucher signed by \(signer), not the channel's consumer \(channel.consumer)") }
        guard channel.expiry > nowWall &+ config.expiryMarginSeconds else {
            return .refused("channel \(channel.id) expires within the expiry margin (\(config.expiryMarginSeconds) s)")
        }
        return .bind(channel)
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
