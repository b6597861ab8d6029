import Configuration
import Glibc
import LinuxPlatform
import PacketPath
import Payment
import Policy
import Session
import Synchronization
import WarrenCrypto
import WireGuard

// The provider's payment runner: applies what each session's `ProviderAccount` (Payment)
// decides. Nothing here decides about money; it sends, writes, logs and ends sessions.
//
//   per billed packet past the allowance -> account.admit (recheck against the written voucher)
//   UDP 4747, a voucher -> account.check -> store (durable, batched) -> account.receive
//   every second -> account.tick: invoices, pause, end after the grace; batched writes; watchdog

extension ProviderService {
    /// Counts a billed packet, or rechecks credit when it would cross the allowance; pauses
    /// the session when the consumer is more than a window behind. Provider lock held.
    func admitBilled(_ session: inout ProviderSession, bytes: Int, fromConsumer: Bool, now: Now) -> Bool {
        guard var account = session.account, let billing else { return true }
        defer { session.account = account }
        let verdict = account.admit(bytes: bytes, fromConsumer: fromConsumer, now: now.monotonic, persisted: billing.persistedAmount)
        if let change = verdict.change { logCredit(change, session: session.id) }
        return verdict.passes
    }

    /// The log lines of a pause or resume (the other actions are applied where they arise).
    func logCredit(_ change: ProviderAccountAction, session id: UInt32) {
        switch change {
        case .paused(let short):
            log.limited("session-paused", "session \(id) paused: \(short.awaitingChannel ? "no payment channel yet" : "vouchers are behind"), due \(TokenAmount(baseUnits: short.due).exact), paid \(TokenAmount(baseUnits: short.paid).exact) (window \(short.windowBytes) B)")
        case .resumed(let paid):
            log.limited("session-resumed", "session \(id) resumed: paid \(TokenAmount(baseUnits: paid).shown)")
        default:
            break
        }
    }

    // MARK: Payment messages (UDP 4747 inside the tunnel)

    func handlePayment(_ bytes: [UInt8], from source: Endpoint) {
        guard let billing else { return }
        guard bytes.first == PaymentMessageType.voucher.rawValue, let voucher = try? SignedVoucher(parsing: bytes) else {
            billing.vouchersRefused.add(1, ordering: .relaxed)
            log.limited("voucher-bad", "dropped a payment message from \(source.address) that is not a voucher")
            return
        }
        guard let signer = voucher.signer(domain: billing.ledger.domain) else {
            billing.vouchersRefused.add(1, ordering: .relaxed)
            log.limited("voucher-signer", "dropped a voucher from \(source.address): no signer recovers")
            return
        }
        let now = clock.now()
        let wall = now.wall / 1_000_000_000
        guard let (key, session) = state.withLock({ state -> ([UInt8], ProviderSession)? in
            state.sessions.first { $0.value.addresses.contains { $0.address == source.address } }.map { ($0.key, $0.value) }
        }), let account = session.account else {
            billing.vouchersRefused.add(1, ordering: .relaxed)
            log.limited("voucher-nosession", "dropped a voucher from \(source.address): no paid session has that address")
            return
        }
        // Which channel it pays is checked outside the provider's lock (the ledger is on disk).
        let lookup = ProviderVoucherLookup(billing: billing) { [self] id in
            state.withLock { state in state.sessions.contains { $0.key != key && $0.value.account?.channel == id } }
        }
        let accepted: AcceptedVoucher
        do { accepted = try account.check(voucher, signer: signer, channels: lookup, nowWall: wall) } catch {
            switch error {
            case .notTheSessionChannel, .sessionEnded:
                billing.vouchersRefused.add(1, ordering: .relaxed)
                log.limited("voucher-wrong", "dropped a voucher from \(source.address): \(error)")
            case .inUseByAnotherSession:
                log.limited("voucher-channel", "session \(session.id): \(error)")
            default:
                billing.vouchersRefused.add(1, ordering: .relaxed)
                log.limited("voucher-channel", "session \(session.id): refused channel: \(error)")
            }
            return
        }
        let best: UInt128
        do { best = try billing.store(voucher, channel: accepted.channel, sessionStarted: accepted.binds, nowWall: wall) } catch {
            billing.vouchersRefused.add(1, ordering: .relaxed)
            log.limited("voucher-store", "session \(session.id): voucher refused: \(error)")
            return
        }
        let closing = SignedVoucher.isClosing(bytes)
        let actions = state.withLock { state -> [ProviderAccountAction] in
            guard var current = state.sessions[key], var account = current.account else { return [] }
            let actions = billing.book.withLock { book in
                account.receive(accepted, best: best, closing: closing, book: &book, persisted: billing.persistedAmount, now: now.monotonic)
            }
            current.account = account
            state.sessions[key] = current
            return actions
        }
        for action in actions {
            switch action {
            case .bound(let channel, let paid):
                log.info("session \(session.id) pays on channel \(channel.id) (deposit \(TokenAmount(baseUnits: channel.deposit).shown), paid so far \(TokenAmount(baseUnits: paid).shown))")
            case .paused, .resumed:
                logCredit(action, session: session.id)
            case .settle(let replaced):
                log.info("session \(session.id) replaced channel \(replaced) with \(accepted.channel.id): settling \(replaced) now")
                billing.sessionEnded(channel: replaced, nowWall: wall)
            case .invoice(let invoice):
                // A consumer about to disconnect asks for its final bill: answered at once.
                billing.send(invoice, to: source.address)
            case .end:
                break   // only a tick ends a session
            }
        }
    }

    /// Once a second: each account's tick (credit against the clock, invoices, grace for
    /// paused sessions) applied, then batched writes; the watchdog every ten seconds.
    func billingTick(_ billing: ProviderBilling, now: Now) {
        var invoices: [(IPAddress, Invoice)] = []
        var overdue: [(key: [UInt8], consumer: [UInt8], reason: String)] = []
        state.withLock { state in
            for (key, var session) in state.sessions {
                guard var account = session.account else { continue }
                for action in account.tick(now: now.monotonic, persisted: billing.persistedAmount) {
                    switch action {
                    case .paused, .resumed:
                        logCredit(action, session: session.id)
                    case .invoice(let invoice):
                        if let address = session.addresses.first(where: { $0.address.isV4 })?.address ?? session.addresses.first?.address {
                            invoices.append((address, invoice))
                        }
                    case .end(.stoppedPaying(let due, let paid, let grace)):
                        overdue.append((key, session.consumer.signingPublicKey, "stopped paying: due \(TokenAmount(baseUnits: due).exact), paid \(TokenAmount(baseUnits: paid).exact) after \(grace) s of grace"))
                    case .bound, .settle:
                        break   // only a voucher binds or settles
                    }
                }
                session.account = account
                state.sessions[key] = session
            }
        }
        for (address, invoice) in invoices { billing.send(invoice, to: address) }
        for (key, consumer, reason) in overdue {
            billing.recordNonPayer(consumer, now: now.monotonic)
            end(key, reason: reason)
        }
        let wall = now.wall / 1_000_000_000
        billing.persistDue(nowWall: wall)
        let tick = housekeepingTicks.add(1, ordering: .relaxed).newValue
        if tick % ProviderBilling.watchdogEverySeconds == 0 { billing.runWatchdog(now: wall) }
    }
}
