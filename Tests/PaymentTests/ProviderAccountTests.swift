import Session
import Testing
@testable import Payment

/// The ledger, store and session table a voucher check asks, in memory.
struct MemoryProviderChannels: ProviderChannelLookup {
    var ledger: [ChannelID: LedgerChannel] = [:]
    var stored: [ChannelID: Channel] = [:]
    var boundElsewhere: Set<ChannelID> = []
    var ledgerError: LedgerError?

    init(_ channels: [Channel] = []) {
        for channel in channels {
            ledger[channel.id] = LedgerChannel(channel: channel)
            stored[channel.id] = channel
        }
    }

    func ledgerChannel(_ id: ChannelID) throws(LedgerError) -> LedgerChannel? {
        if let ledgerError { throw ledgerError }
        return ledger[id]
    }

    func storedChannel(_ id: ChannelID) -> Channel? { stored[id] }
    func isBoundByAnotherSession(_ id: ChannelID) -> Bool { boundElsewhere.contains(id) }
}

/// One paid session's account on the provider, driven by hand: vouchers, packets and ticks
/// with the time passed in, and the channel store's best amount on disk as a value.
@Suite struct ProviderAccountTests {
    static let second: UInt64 = 1_000_000_000
    /// One base unit per byte, time free: amounts read as bytes.
    static let perByte = Tariff(perGiB: 1 << 30, perMinute: 0)
    static let window: UInt64 = 64 << 10

    let consumer = PaymentFixture.consumer
    let channel = PaymentFixture.channel(deposit: 1 << 40, expiry: 100_000)
    let nowWall: UInt64 = 1_000

    static func terms(_ tariff: Tariff = perByte, margin: UInt64 = 3_600, grace: UInt64 = 30) -> ProviderAccountTerms {
        ProviderAccountTerms(tariff: tariff, provider: PaymentFixture.provider.address, expiryMarginSeconds: margin, graceSeconds: grace)
    }

    static func account(_ tariff: Tariff = perByte, window: UInt64 = window, replacing: ChannelID? = nil) -> ProviderAccount {
        ProviderAccount(sessionID: 7, consumer: [0xC0], terms: terms(tariff), grant: CreditBook.Grant(windowBytes: window),
                        replacing: replacing, now: 0)
    }

    func voucher(_ amount: UInt128, on channel: Channel? = nil) -> SignedVoucher {
        Voucher(channelID: (channel ?? self.channel).id, cumulativeAmount: amount).sign(with: consumer, domain: PaymentFixture.domain)
    }

    /// Check, store (`best` as the store would answer) and receive, as the agent does.
    func pay(_ account: inout ProviderAccount, _ amount: UInt128, best: UInt128? = nil, closing: Bool = false,
             book: inout CreditBook, onDisk: UInt128, now: UInt64) throws -> [ProviderAccountAction] {
        let accepted = try account.check(voucher(amount), signer: consumer.address, channels: MemoryProviderChannels([channel]), nowWall: nowWall)
        return account.receive(accepted, best: best ?? amount, closing: closing, book: &book, persisted: { _ in onDisk }, now: now)
    }

    /// A book whose windows stay at `window` (first = maximum), so only the tests about
    /// growth see a window change.
    static func book(_ tariff: Tariff = perByte, maximumWindow: UInt64 = window) -> CreditBook {
        CreditBook(tariff: tariff, maximumWindow: maximumWindow, strangerWindows: 16)
    }

    static func invoices(_ actions: [ProviderAccountAction]) -> [Invoice] {
        actions.compactMap { if case .invoice(let invoice) = $0 { invoice } else { nil } }
    }

    // MARK: Binding

    @Test func theFirstVoucherBindsTheChannelAndItsAmountIsTheBase() throws {
        var account = Self.account()
        var book = Self.book()
        #expect(account.phase == .awaitingChannel)
        #expect(account.tick(now: Self.second, persisted: { _ in 0 }).isEmpty)   // no invoice without a channel
        let actions = try pay(&account, 500, book: &book, onDisk: 500, now: Self.second)
        #expect(actions.first == .bound(channel, paid: 500))
        #expect(account.channel == channel.id && account.consumerWallet == consumer.address)
        #expect(account.phase == .paying && account.credit.sessionBase == 500 && account.paid == 500 && account.earned == 0)
        // A new channel is invoiced at once, for the base plus the usage.
        _ = account.gate.admit(bytes: 1_000, fromConsumer: true, isPayment: false)
        let invoice = try #require(Self.invoices(account.tick(now: 2 * Self.second, persisted: { _ in 500 })).first)
        #expect(invoice.channelID == channel.id && invoice.sessionID == 7 && invoice.sequence == 1 && invoice.amountDue == 1_500)
    }

    @Test func aVoucherForAnUnknownChannelOrAnotherProviderDoesNotBind() throws {
        let account = Self.account()
        let elsewhere = try Channel(consumer: consumer.address, provider: PaymentFixture.stranger.address, salt: PaymentFixture.salt,
                                    deposit: 1 << 40, expiry: 100_000)
        let expiring = try Channel(consumer: consumer.address, provider: PaymentFixture.provider.address,
                                   salt: [UInt8](repeating: 1, count: 32), deposit: 1 << 40, expiry: nowWall + 3_600)
        var channels = MemoryProviderChannels([elsewhere, expiring])

        func refusal(_ voucher: SignedVoucher, signer: EthereumAddress? = nil) -> VoucherRefusal? {
            do {
                _ = try account.check(voucher, signer: signer ?? consumer.address, channels: channels, nowWall: nowWall)
                return nil
            } catch { return error }
        }
        #expect(refusal(voucher(10)) == .notOnLedger(channel.id))
        #expect(refusal(voucher(10, on: elsewhere)) == .paysAnotherProvider(elsewhere.id, PaymentFixture.stranger.address))
        #expect(refusal(voucher(10, on: expiring)) == .expiresWithinMargin(expiring.id, marginSeconds: 3_600))

        channels = MemoryProviderChannels([channel])
        #expect(refusal(voucher(10), signer: PaymentFixture.stranger.address)
                == .notTheChannelConsumer(signer: PaymentFixture.stranger.address, consumer: consumer.address))
        channels.boundElsewhere = [channel.id]
        #expect(refusal(voucher(10)) == .inUseByAnotherSession(channel.id))
        channels.boundElsewhere = []
        channels.ledger[channel.id]?.reclaimed = true
        #expect(refusal(voucher(10)) == .reclaimed(channel.id))
        channels.ledgerError = .corrupt("torn")
        #expect(refusal(voucher(10)) == .ledgerUnreadable(.corrupt("torn")))
        #expect(account.channel == nil && account.phase == .awaitingChannel)
    }

    @Test func aBoundSessionTakesOnlyItsOwnChannelFromItsOwnSigner() throws {
        var account = Self.account()
        var book = Self.book()
        _ = try pay(&account, 100, book: &book, onDisk: 100, now: Self.second)
        let other = try Channel(consumer: consumer.address, provider: PaymentFixture.provider.address,
                                salt: [UInt8](repeating: 2, count: 32), deposit: 1 << 40, expiry: 100_000)
        let channels = MemoryProviderChannels([channel, other])
        #expect(throws: VoucherRefusal.notTheSessionChannel) {
            try account.check(voucher(200, on: other), signer: consumer.address, channels: channels, nowWall: nowWall)
        }
        #expect(throws: VoucherRefusal.notTheSessionChannel) {
            try account.check(voucher(200), signer: PaymentFixture.stranger.address, channels: channels, nowWall: nowWall)
        }
        #expect(try account.check(voucher(200), signer: consumer.address, channels: channels, nowWall: nowWall).binds == false)
    }

    @Test func bindingSettlesTheChannelOfTheSessionItReplaced() throws {
        let earlier = try Channel(consumer: consumer.address, provider: PaymentFixture.provider.address,
                                  salt: [UInt8](repeating: 3, count: 32), deposit: 1 << 40, expiry: 100_000)
        var account = Self.account(replacing: earlier.id)
        var book = Self.book()
        let actions = try pay(&account, 100, book: &book, onDisk: 100, now: Self.second)
        #expect(actions.contains(.settle(earlier.id)))
        #expect(account.replacedChannel == nil)
        // Closing settles its own channel only now.
        #expect(account.close(now: 2 * Self.second, book: &book).settle == [channel.id])

        // Replacing a session on the same channel settles nothing early, and both once at the end.
        var same = Self.account(replacing: channel.id)
        #expect(try !pay(&same, 100, book: &book, onDisk: 100, now: Self.second).contains(.settle(channel.id)))
        var unbound = Self.account(replacing: earlier.id)
        let closing = unbound.close(now: Self.second, book: &book)
        #expect(closing.settle == [earlier.id] && closing.handedOn == earlier.id)
        #expect(unbound.close(now: Self.second, book: &book).settle.isEmpty)   // a second close settles nothing
    }

    // MARK: Invoices

    @Test func invoicesComeAtTheCadence() throws {
        var account = Self.account()   // a quarter window: 16 KiB
        var book = Self.book()
        _ = try pay(&account, 0, book: &book, onDisk: 0, now: 0)
        let onDisk: (ChannelID) -> UInt128 = { _ in 0 }
        _ = account.gate.admit(bytes: 100, fromConsumer: true, isPayment: false)
        #expect(Self.invoices(account.tick(now: Self.second, persisted: onDisk)).map(\.sequence) == [1])   // at once: new channel
        _ = account.gate.admit(bytes: 1_000, fromConsumer: false, isPayment: false)
        // Under a quarter window and under 5 s since the last: none.
        #expect(Self.invoices(account.tick(now: 5 * Self.second, persisted: onDisk)).isEmpty)
        // 5 s after the last one: the next.
        let timed = Self.invoices(account.tick(now: 6 * Self.second, persisted: onDisk))
        #expect(timed.map(\.sequence) == [2] && timed.first?.amountDue == 1_100)
        #expect(timed.first?.bytesFromConsumer == 100 && timed.first?.bytesToConsumer == 1_000 && timed.first?.secondsConnected == 6)
        // A quarter window of bytes: at once.
        _ = account.gate.admit(bytes: 16 << 10, fromConsumer: true, isPayment: false)
        #expect(Self.invoices(account.tick(now: 6 * Self.second + 1, persisted: onDisk)).map(\.sequence) == [3])
        // Nothing new due (time is free here): none, however long.
        #expect(Self.invoices(account.tick(now: 60 * Self.second, persisted: onDisk)).isEmpty)
        // A closing voucher is answered at once, even with nothing new due.
        let closing = try pay(&account, 1_100, closing: true, book: &book, onDisk: 1_100, now: 61 * Self.second)
        #expect(Self.invoices(closing).map(\.sequence) == [4])
    }

    @Test func overchargingAsksMoreThanDue() throws {
        let terms = ProviderAccountTerms(tariff: Self.perByte, provider: PaymentFixture.provider.address, expiryMarginSeconds: 0,
                                         graceSeconds: 30, overchargePercent: 10)
        var account = ProviderAccount(sessionID: 1, consumer: [1], terms: terms, grant: CreditBook.Grant(windowBytes: Self.window), now: 0)
        var book = Self.book()
        _ = try pay(&account, 50, book: &book, onDisk: 50, now: 0)
        _ = account.gate.admit(bytes: 1_000, fromConsumer: true, isPayment: false)
        let invoice = try #require(Self.invoices(account.tick(now: Self.second, persisted: { _ in 50 })).first)
        #expect(invoice.amountDue == 50 + 1_000 + 100 + 1)
    }

    // MARK: Credit

    @Test func aGoodVoucherGrowsTheWindowAShortOneDoesNot() throws {
        // 1024 bytes a unit; a 16 MiB maximum: the first window is 1 MiB, its bytes cost 1024.
        let tariff = Tariff(perGiB: 1 << 20, perMinute: 0)
        var book = Self.book(tariff, maximumWindow: 16 << 20)
        guard case .granted(let grant) = book.open([0xC0], now: 0) else { Issue.record("not granted"); return }
        var account = ProviderAccount(sessionID: 1, consumer: [0xC0], terms: Self.terms(tariff), grant: grant, now: 0)
        #expect(account.windowBytes == 1 << 20 && account.reservation > 0)
        let onDisk: (ChannelID) -> UInt128 = { _ in 0 }
        _ = try pay(&account, 0, book: &book, onDisk: 0, now: 0)
        _ = account.gate.admit(bytes: 900 << 10, fromConsumer: true, isPayment: false)
        #expect(Self.invoices(account.tick(now: Self.second, persisted: onDisk)).first?.amountDue == 900)
        // Pays a first window's money: the identity is good (its stranger share goes back) and
        // the voucher paid what was asked before the previous one (the binding's 0): doubled.
        _ = try pay(&account, 1_024, book: &book, onDisk: 0, now: 2 * Self.second)
        #expect(account.windowBytes == 2 << 20)
        #expect(account.reservation == 0 && account.credit.paysDown && book.strangers.reserved == 0)
        _ = account.gate.admit(bytes: 1_000 << 10, fromConsumer: true, isPayment: false)
        #expect(Self.invoices(account.tick(now: 3 * Self.second, persisted: onDisk)).first?.amountDue == 1_900)
        // Asked before the previous voucher: 1024. This pays it: doubled again.
        _ = try pay(&account, 1_500, book: &book, onDisk: 0, now: 4 * Self.second)
        #expect(account.windowBytes == 4 << 20)
        // Asked before the previous voucher: 1900. This pays more than before, but short of it: no growth.
        _ = try pay(&account, 1_800, book: &book, onDisk: 0, now: 5 * Self.second)
        #expect(account.windowBytes == 4 << 20 && account.paid == 1_800)
        // Paying nothing more than before grows nothing either; paying what was asked does.
        _ = try pay(&account, 1_800, book: &book, onDisk: 0, now: 6 * Self.second)
        #expect(account.windowBytes == 4 << 20)
        _ = try pay(&account, 1_900, book: &book, onDisk: 0, now: 7 * Self.second)
        #expect(account.windowBytes == 8 << 20)
    }

    @Test func aConsumerThatStopsPayingIsPausedAWindowBehindThenEndedAfterTheGrace() throws {
        var account = Self.account()
        var book = Self.book()
        _ = try pay(&account, 100, book: &book, onDisk: 100, now: 0)
        let onDisk: (ChannelID) -> UInt128 = { _ in 100 }
        // Up to the window beyond what is paid, packets pass.
        #expect(account.gate.admit(bytes: Int(Self.window) - 1, fromConsumer: true, isPayment: false) == .pass)
        #expect(account.admit(bytes: 1, fromConsumer: true, now: Self.second, persisted: onDisk) == PacketVerdict(passes: true, change: nil))
        // One byte more is a window behind: paused, billed packets dropped, payments still pass.
        let verdict = account.admit(bytes: 1, fromConsumer: false, now: 2 * Self.second, persisted: onDisk)
        #expect(!verdict.passes)
        #expect(verdict.change == .paused(CreditShortfall(awaitingChannel: false, due: 100 + UInt128(Self.window), paid: 100,
                                                          windowBytes: Self.window)))
        #expect(account.phase == .paused(since: 2 * Self.second))
        #expect(account.gate.admit(bytes: 1, fromConsumer: true, isPayment: false) == .drop)
        #expect(account.gate.admit(bytes: 1, fromConsumer: true, isPayment: true) == .pass)
        // A packet the other direction let through at the same moment keeps it behind (else
        // the next recheck finds exactly the allowance used, and resumes).
        account.gate.count(1, fromConsumer: true)
        let due = 100 + UInt128(Self.window) + 1
        // The pause asks for an invoice at once.
        let ticked = account.tick(now: 3 * Self.second, persisted: onDisk)
        #expect(Self.invoices(ticked).first?.amountDue == due)
        #expect(!ticked.contains { if case .end = $0 { true } else { false } })
        // The grace is 30 s from the pause: not over at 32 s, over just after.
        #expect(account.tick(now: 32 * Self.second, persisted: onDisk).isEmpty)
        #expect(account.tick(now: 32 * Self.second + 1, persisted: onDisk)
                == [.end(.stoppedPaying(due: due, paid: 100, graceSeconds: 30))])
        // What it used and did not pay becomes the identity's debt.
        let closing = account.close(now: 33 * Self.second, book: &book)
        #expect(closing.leftUnpaid == due - 100 && account.phase == .ended)
        #expect(book.records[[0xC0]]?.debt(now: 33) == due - 100)
        #expect(account.tick(now: 40 * Self.second, persisted: onDisk).isEmpty)
    }

    @Test func aPausedSessionResumesWhenItsPaymentIsOnDisk() throws {
        var account = Self.account()
        var book = Self.book()
        _ = try pay(&account, 100, book: &book, onDisk: 100, now: 0)
        let old: (ChannelID) -> UInt128 = { _ in 100 }
        _ = account.gate.admit(bytes: Int(Self.window), fromConsumer: true, isPayment: false)
        account.gate.count(10, fromConsumer: true)   // a packet that raced past the boundary
        #expect(account.tick(now: Self.second, persisted: old).contains { if case .paused = $0 { true } else { false } })
        // The voucher arrived but is not written yet: credit counts only what is on disk.
        let paid = 100 + UInt128(Self.window)
        #expect(try !pay(&account, paid, book: &book, onDisk: 100, now: 2 * Self.second).contains(.resumed(paid: paid)))
        #expect(account.isPaused)
        // Written (the once-a-second batch): the next tick resumes, and packets pass again.
        #expect(account.tick(now: 3 * Self.second, persisted: { _ in paid }).first == .resumed(paid: paid))
        #expect(account.phase == .paying)
        #expect(account.gate.admit(bytes: 10, fromConsumer: true, isPayment: false) == .pass)
        // Behind again; a voucher already on disk when it arrives resumes at once.
        _ = account.gate.admit(bytes: Int(account.allowance - account.billedBytes), fromConsumer: true, isPayment: false)
        #expect(!account.admit(bytes: 10, fromConsumer: true, now: 4 * Self.second, persisted: { _ in paid }).passes)
        #expect(account.isPaused)
        let high = 100 + 2 * UInt128(Self.window)
        #expect(try pay(&account, high, book: &book, onDisk: high, now: 5 * Self.second).contains(.resumed(paid: high)))
        #expect(!account.isPaused)
    }

    @Test func timeIsBilled() throws {
        // One unit a second, bytes free: the window's money is its minute.
        var account = Self.account(Tariff(perGiB: 0, perMinute: 60))
        var book = Self.book(Tariff(perGiB: 0, perMinute: 60))
        _ = try pay(&account, 0, book: &book, onDisk: 0, now: 0)
        let onDisk: (ChannelID) -> UInt128 = { _ in 0 }
        #expect(account.gate.admit(bytes: 10, fromConsumer: true, isPayment: false) == .pass)
        #expect(account.due(now: 30 * Self.second) == 30)
        let invoice = try #require(Self.invoices(account.tick(now: 30 * Self.second, persisted: onDisk)).first)
        #expect(invoice.amountDue == 30 && invoice.secondsConnected == 30)
        // Still covered at the minute; a second past it, the unpaid time pauses the session.
        #expect(account.tick(now: 60 * Self.second, persisted: onDisk).allSatisfy { if case .paused = $0 { false } else { true } })
        let late = account.tick(now: 61 * Self.second, persisted: onDisk)
        #expect(late.contains(.paused(CreditShortfall(awaitingChannel: false, due: 61, paid: 0, windowBytes: Self.window))))
    }

    @Test func theGatePassesUpToTheAllowanceThenAsksForARecheckThatCountsWhenCovered() throws {
        var account = Self.account()
        var book = Self.book()
        _ = try pay(&account, 1_000, book: &book, onDisk: 1_000, now: 0)
        // On disk, the binding voucher only: the window alone is the allowance.
        #expect(account.allowance == Self.window)
        #expect(account.gate.admit(bytes: Int(Self.window), fromConsumer: true, isPayment: false) == .pass)
        #expect(account.gate.admit(bytes: 500, fromConsumer: false, isPayment: false) == .recheck)
        #expect(account.billedBytes == Self.window)
        // The recheck reads what is on disk: 1500, of which 500 beyond the base pays 500 bytes.
        let verdict = account.admit(bytes: 500, fromConsumer: false, now: Self.second, persisted: { _ in 1_500 })
        #expect(verdict == PacketVerdict(passes: true, change: nil))
        #expect(account.allowance == Self.window + 500 && account.billedBytes == Self.window + 500)
        #expect(account.bytesToConsumer == 500)
        #expect(account.gate.admit(bytes: 1, fromConsumer: false, isPayment: false) == .recheck)
    }
}
