import Session
import Testing
@testable import Payment

/// The consumer's money rules without a socket, a clock or a disk: invoices and time in,
/// actions out.
@Suite struct ConsumerAccountTests {
    static let second: UInt64 = 1_000_000_000
    /// A day well after the epoch; the channel expires long after it.
    static let day: UInt64 = 20_000
    let domain = PaymentFixture.domain
    let consumer = PaymentFixture.consumer
    let provider = PaymentFixture.provider
    /// One base unit per byte (both directions) and per second.
    let tariff = Tariff(perGiB: 1 << 30, perMinute: 60)
    let sessionID: UInt32 = 7
    /// Seconds between two paid vouchers.
    let interval: UInt64 = 10

    static func channel(_ saltByte: UInt8, deposit: UInt128 = 1_000_000, expiry: UInt64 = day * 86_400 + 7 * 86_400,
                        provider: EthereumAddress = PaymentFixture.provider.address) -> Channel {
        do {
            return try Channel(consumer: PaymentFixture.consumer.address, provider: provider,
                               salt: [UInt8](repeating: saltByte, count: 32), deposit: deposit, expiry: expiry)
        } catch { fatalError("test channel: \(error)") }
    }

    /// `seconds` after the account's start (monotonic 1000 s, Unix day `day` + 1 h).
    func at(_ seconds: UInt64, nanoseconds: UInt64 = 0) -> ConsumerAccount.Instant {
        ConsumerAccount.Instant(monotonic: (1_000 + seconds) * Self.second + nanoseconds,
                                unixSeconds: Self.day * 86_400 + 3_600 + seconds)
    }

    func voucher(_ amount: UInt128, _ channel: Channel) -> SignedVoucher {
        Voucher(channelID: channel.id, cumulativeAmount: amount).sign(with: consumer, domain: domain)
    }

    func record(_ channel: Channel, best: UInt128? = nil, dailyCap: UInt128? = nil) throws -> ChannelRecord {
        var record = ChannelRecord(role: .consumer, channel: channel, dailyCap: dailyCap)
        if let best { try record.offer(voucher(best, channel), now: at(0).unixSeconds) }
        return record
    }

    func account(_ record: ChannelRecord, others: [ChannelRecord] = [], maxSpend: UInt128? = nil,
                 stopPayingAfter: UInt64? = nil) -> ConsumerAccount {
        let settings = ConsumerAccount.Settings(domain: domain, maxSpendPerDay: maxSpend, persistInterval: interval,
                                                stopPayingAfter: stopPayingAfter)
        return ConsumerAccount(wallet: consumer, record: record, channels: [record] + others, sessionID: sessionID, tariff: tariff,
                               counts: .init(sent: 0, received: 0), settings: settings, now: at(0))
    }

    /// An invoice as the provider signs it; by default it bills exactly the given counts.
    func invoice(_ account: ConsumerAccount, sequence: UInt64, from: UInt64, to: UInt64, seconds: UInt64,
                 due: UInt128? = nil, base: UInt128 = 0, session: UInt32? = nil) -> SignedInvoice {
        let amount = due ?? base + UInt128(from) + UInt128(to) + UInt128(seconds)
        return Invoice(channelID: account.channel.id, sessionID: session ?? sessionID, sequence: sequence, bytesFromConsumer: from,
                       bytesToConsumer: to, secondsConnected: seconds, amountDue: amount).sign(with: provider, domain: domain)
    }

    func counts(_ sent: UInt64, _ received: UInt64) -> ConsumerAccount.Counts { .init(sent: sent, received: received) }

    /// The vouchers the actions send, as amounts.
    func sentAmounts(_ actions: [ConsumerAction]) -> [UInt128] {
        actions.compactMap { if case .send(let voucher, _) = $0 { voucher.cumulativeAmount } else { nil } }
    }

    // MARK: Invoices

    @Test func honestInvoiceIsPaidWithARecordedVoucher() throws {
        var account = account(try record(Self.channel(1), best: 100))
        #expect(account.tunnelUp(now: at(0)) == [.send(voucher(100, account.channel), closing: false)])
        let bill = invoice(account, sequence: 1, from: 1_000, to: 4_000, seconds: 20, base: 100)
        #expect(account.receive(invoice: bill, counts: counts(1_000, 4_000), now: at(20)) == [])
        #expect(account.phase == .paying)
        let paid = voucher(5_120, account.channel)
        #expect(account.tick(now: at(20)) == [.record(paid), .send(paid, closing: false)])
        #expect(account.record.bestAmount == 5_120)
        #expect(account.invoices == 1 && account.vouchers == 1 && account.lastDue == 5_120)
    }

    @Test func voucherIsRecordedBeforeItIsSent() throws {
        // The first announcement of a channel with nothing signed yet: a voucher for 0.
        var fresh = account(try record(Self.channel(2)))
        let first = fresh.tunnelUp(now: at(0))
        let zero = voucher(0, fresh.channel)
        #expect(first == [.record(zero), .send(zero, closing: false)])
        // A payment: every sent voucher that is new was recorded earlier in the same list.
        _ = fresh.receive(invoice: invoice(fresh, sequence: 1, from: 10, to: 20, seconds: 1), counts: counts(10, 20), now: at(11))
        let paid = fresh.tick(now: at(11))
        for (index, action) in paid.enumerated() {
            guard case .send(let sent, _) = action, sent.cumulativeAmount > 0 else { continue }
            let recordedAt = paid.firstIndex(of: .record(sent))
            #expect(recordedAt.map { $0 < index } == true, "\(paid)")
        }
        #expect(sentAmounts(paid) == [31])
    }

    @Test func bytesBeyondOurCountsStopTheSessionAndPayNothingMore() throws {
        var account = account(try record(Self.channel(3)))
        _ = account.tunnelUp(now: at(0))
        // The provider bills 200 KiB received where we counted 100 KiB: beyond 2 % + 64 KiB.
        let over = invoice(account, sequence: 1, from: 0, to: 200_000, seconds: 10)
        let actions = account.receive(invoice: over, counts: counts(0, 100_000), now: at(10))
        #expect(actions == [.stop(.overInvoiced(.bytesToConsumer(invoiced: 200_000, measured: 100_000)))])
        #expect(account.phase == .stopped(.overInvoiced(.bytesToConsumer(invoiced: 200_000, measured: 100_000))))
        // Nothing is paid for it, later or at close, and an honest invoice after it is not taken.
        #expect(sentAmounts(account.tick(now: at(30))) == [])
        let honest = invoice(account, sequence: 2, from: 0, to: 100_000, seconds: 11)
        #expect(account.receive(invoice: honest, counts: counts(0, 100_000), now: at(31)) == [])
        #expect(account.close(now: at(40)) == [.closed(.withoutFinalInvoice)])
        #expect(account.record.bestAmount == 0)
    }

    @Test func timeBeyondOurClockOrAmountBeyondTheTariffStops() throws {
        var slow = account(try record(Self.channel(4)))
        // 30 s billed after 10 s connected: beyond 2 % + 10 s.
        let time = slow.receive(invoice: invoice(slow, sequence: 1, from: 0, to: 0, seconds: 30), counts: counts(0, 0), now: at(10))
        #expect(time == [.stop(.overInvoiced(.seconds(invoiced: 30, measured: 10)))])

        var dear = account(try record(Self.channel(5)))
        // The counts are right, the amount is one unit above their price.
        let bill = invoice(dear, sequence: 1, from: 100, to: 100, seconds: 10, due: 211)
        #expect(dear.receive(invoice: bill, counts: counts(100, 100), now: at(10))
                == [.stop(.overInvoiced(.amountAboveTariff(invoiced: 211, tariff: 210)))])
        // Within tolerance (2 % + 64 KiB) it is paid.
        var fair = account(try record(Self.channel(6)))
        let near = invoice(fair, sequence: 1, from: 0, to: 100_000 + 2_000 + 65_536, seconds: 10)
        #expect(fair.receive(invoice: near, counts: counts(0, 100_000), now: at(10)) == [])
        #expect(fair.phase == .paying)
    }

    @Test func invoiceNotSignedByTheProviderIsDroppedNotCounted() throws {
        var account = account(try record(Self.channel(7)))
        let forged = Invoice(channelID: account.channel.id, sessionID: sessionID, sequence: 1, bytesFromConsumer: 0, bytesToConsumer: 0,
                             secondsConnected: 1, amountDue: 1).sign(with: PaymentFixture.stranger, domain: domain)
        #expect(account.receive(invoice: forged, counts: counts(0, 0), now: at(1)) == [.droppedInvoice(.notSignedByProvider)])
        #expect(account.invoices == 0)
        #expect(account.phase == .announcing(lastSent: nil))
    }

    // MARK: Cadence

    @Test func paysAtMostOncePerIntervalAndOnlyTheLatest() throws {
        var account = account(try record(Self.channel(8), best: 10))
        _ = account.tunnelUp(now: at(0))
        _ = account.receive(invoice: invoice(account, sequence: 1, from: 0, to: 100, seconds: 1, base: 10), counts: counts(0, 100), now: at(1))
        #expect(sentAmounts(account.tick(now: at(1))) == [111])        // nothing written in this run yet: at once
        _ = account.receive(invoice: invoice(account, sequence: 2, from: 0, to: 200, seconds: 3, base: 10), counts: counts(0, 200), now: at(3))
        #expect(account.tick(now: at(3)).isEmpty)
        _ = account.receive(invoice: invoice(account, sequence: 3, from: 0, to: 300, seconds: 8, base: 10), counts: counts(0, 300), now: at(8))
        #expect(account.tick(now: at(10, nanoseconds: Self.second - 1)).isEmpty)   // 1 ns short of the interval
        let due = account.tick(now: at(11))
        #expect(due == [.record(voucher(318, account.channel)), .send(voucher(318, account.channel), closing: false)])
        #expect(account.tick(now: at(30)).isEmpty)       // nothing pending
        #expect(account.vouchers == 2)
    }

    @Test func anAmountAlreadyCoveredGetsTheSameVoucherAgain() throws {
        var account = account(try record(Self.channel(9), best: 500))
        // The provider bills what our best voucher already covers (it may have missed that voucher).
        _ = account.receive(invoice: invoice(account, sequence: 1, from: 0, to: 300, seconds: 0, due: 500, base: 500),
                            counts: counts(0, 300), now: at(1))
        #expect(account.tick(now: at(1)) == [.send(voucher(500, account.channel), closing: false)])
        #expect(account.vouchers == 0)
    }

    @Test func announcesEverySecondUntilTheFirstInvoice() throws {
        var account = account(try record(Self.channel(10), best: 40))
        let best = voucher(40, account.channel)
        #expect(account.tunnelUp(now: at(0)) == [.send(best, closing: false)])
        #expect(account.tick(now: at(0)) == [.send(best, closing: false)])
        #expect(account.tick(now: at(0, nanoseconds: Self.second / 2)).isEmpty)
        #expect(account.tick(now: at(1)) == [.send(best, closing: false)])
        _ = account.receive(invoice: invoice(account, sequence: 1, from: 0, to: 0, seconds: 2, base: 40), counts: counts(0, 0), now: at(2))
        #expect(sentAmounts(account.tick(now: at(2))) == [42])
        #expect(account.tick(now: at(5)).isEmpty)                       // no announcement after the first invoice
        // A renewal starts a new session: announcements again, counts and seconds from zero.
        account.renew(sessionID: 8, tariff: tariff, counts: counts(1_000, 1_000), now: at(6))
        #expect(account.tick(now: at(6)) == [.send(voucher(42, account.channel), closing: false)])
        let renewed = invoice(account, sequence: 1, from: 10, to: 10, seconds: 1, base: 42, session: 8)
        #expect(account.receive(invoice: renewed, counts: counts(1_010, 1_010), now: at(7)) == [])
        #expect(sentAmounts(account.tick(now: at(20))) == [63])
    }

    @Test func theTestSwitchZeroNeverAnnouncesNorPays() throws {
        var account = account(try record(Self.channel(11)), stopPayingAfter: 0)
        #expect(account.tunnelUp(now: at(0)).isEmpty)
        #expect(account.tick(now: at(1)).isEmpty)
        _ = account.receive(invoice: invoice(account, sequence: 1, from: 0, to: 0, seconds: 1), counts: counts(0, 0), now: at(1))
        #expect(account.tick(now: at(20)).isEmpty)
        #expect(account.close(now: at(21)) == [.closed(.withoutFinalInvoice)])
    }

    // MARK: The cap

    @Test func theDailyCapStopsAfterPayingUpToIt() throws {
        // Another channel spent 200 today; MaxSpend 1000 leaves 800 here.
        var other = try record(Self.channel(12))
        try other.offer(voucher(200, other.channel), now: at(0).unixSeconds)
        var account = account(try record(Self.channel(13)), others: [other], maxSpend: 1_000)
        let bill = invoice(account, sequence: 1, from: 0, to: 900, seconds: 0)
        #expect(account.receive(invoice: bill, counts: counts(0, 900), now: at(1)) == [.stop(.spendingCap(paidUpTo: 800))])
        #expect(account.phase == .stopped(.spendingCap(paidUpTo: 800)))
        // The capped amount is still paid (at the interval, or at close), never more.
        let close = account.close(now: at(2))
        #expect(close == [.record(voucher(800, account.channel)), .send(voucher(800, account.channel), closing: false),
                          .closed(.withoutFinalInvoice)])
    }

    @Test func theDepositCapsTheChannel() throws {
        var account = account(try record(Self.channel(14, deposit: 500)))
        let bill = invoice(account, sequence: 1, from: 0, to: 600, seconds: 0)
        #expect(account.receive(invoice: bill, counts: counts(0, 600), now: at(1)) == [.stop(.spendingCap(paidUpTo: 500))])
        #expect(sentAmounts(account.tick(now: at(1))) == [500])
    }

    @Test func capFunctionsCountEveryConsumerChannelToday() throws {
        var spent = try record(Self.channel(15))
        try spent.offer(voucher(700, spent.channel), now: at(0).unixSeconds)
        let now = at(0).unixSeconds
        #expect(ConsumerAccount.capReachedToday(records: [spent], maxSpendPerDay: 800, now: now) == nil)
        let reached = ConsumerAccount.capReachedToday(records: [spent], maxSpendPerDay: 700, now: now)
        #expect(reached?.spent == 700 && reached?.resumesAt == (Self.day + 1) * 86_400)
        #expect(ConsumerAccount.capReachedToday(records: [spent], maxSpendPerDay: 700, now: now + 86_400) == nil)
        #expect(ConsumerAccount.capReachedToday(records: [spent], maxSpendPerDay: nil, now: now) == nil)
        let fresh = try record(Self.channel(16))
        #expect(ConsumerAccount.spendingCap(record: fresh, otherChannels: [spent], maxSpendPerDay: 1_000, now: now) == 300)
        #expect(ConsumerAccount.spendingCap(record: fresh, otherChannels: [spent], maxSpendPerDay: nil, now: now) == 1_000_000)
    }

    // MARK: Channel choice

    @Test func reusesAChannelToTheSameProviderWithRoomLeft() throws {
        let now = Self.day * 86_400
        let lifetime: UInt64 = 7 * 86_400
        let roomy = try record(Self.channel(20, deposit: 1_000, expiry: now + lifetime), best: 100)
        let roomier = try record(Self.channel(21, deposit: 1_000, expiry: now + lifetime), best: 50)
        let exhausted = try record(Self.channel(22, deposit: 1_000, expiry: now + lifetime), best: 1_000)
        // A quarter of the lifetime before expiry is too close to start a session on.
        let expiring = try record(Self.channel(23, deposit: 1_000, expiry: now + lifetime / 4), best: 0)
        let otherProvider = try record(Self.channel(24, deposit: 1_000, expiry: now + lifetime,
                                                    provider: PaymentFixture.stranger.address))
        var reclaimed = try record(Self.channel(25, deposit: 1_000, expiry: now + lifetime))
        reclaimed.reclaimed = true
        let providerSide = ChannelRecord(role: .provider, channel: Self.channel(26, deposit: 1_000, expiry: now + lifetime))

        func choose(_ records: [ChannelRecord], open: Set<ChannelID>? = nil) -> ChannelID? {
            ConsumerAccount.reusableChannel(among: records, provider: provider.address, now: now, channelLifetime: lifetime) {
                open?.contains($0) ?? true
            }?.id
        }
        #expect(choose([roomy]) == roomy.id)
        #expect(choose([roomy, roomier]) == roomier.id)                  // the most left
        #expect(choose([roomy, roomier], open: [roomy.id]) == roomy.id)  // the other is gone from the ledger
        #expect(choose([exhausted]) == nil)
        #expect(choose([expiring]) == nil)
        #expect(choose([otherProvider]) == nil)
        #expect(choose([reclaimed]) == nil)
        #expect(choose([providerSide]) == nil)
        let justInTime = try record(Self.channel(27, deposit: 1_000, expiry: now + lifetime / 4 + 1), best: 0)
        #expect(choose([justInTime]) == justInTime.id)
    }

    // MARK: Closing

    @Test func closingPaysWhatIsOwedAsksForTheFinalInvoiceAndPaysItAtOnce() throws {
        var account = account(try record(Self.channel(30), best: 0))
        _ = account.tunnelUp(now: at(0))
        _ = account.receive(invoice: invoice(account, sequence: 1, from: 0, to: 100, seconds: 1), counts: counts(0, 100), now: at(1))
        _ = account.tick(now: at(1))                                    // pays 101, the interval starts
        _ = account.receive(invoice: invoice(account, sequence: 2, from: 0, to: 150, seconds: 2), counts: counts(0, 150), now: at(2))
        let owed = voucher(152, account.channel)
        let close = account.close(now: at(3))
        // What is owed is paid at once, then the best voucher asks for the final invoice.
        #expect(close == [.record(owed), .send(owed, closing: false), .send(owed, closing: true)])
        #expect(account.phase == .closing(deadline: at(3).monotonic + 2 * Self.second, finalInvoiceArrived: false))
        #expect(account.tick(now: at(4)).isEmpty)                        // still waiting
        _ = account.receive(invoice: invoice(account, sequence: 3, from: 0, to: 160, seconds: 4), counts: counts(0, 160), now: at(4))
        // Within the persist interval of the last write, yet paid at once, then closed.
        let final = voucher(164, account.channel)
        #expect(account.tick(now: at(4)) == [.record(final), .send(final, closing: false), .closed(.finalInvoicePaid)])
        #expect(account.phase == .closed)
        #expect(account.tick(now: at(30)).isEmpty)
        #expect(account.close(now: at(30)).isEmpty)
    }

    @Test func closingEndsWhenTheWaitRunsOut() throws {
        var account = account(try record(Self.channel(31), best: 20))
        #expect(account.close(now: at(0)) == [.send(voucher(20, account.channel), closing: true)])
        #expect(account.tick(now: at(1, nanoseconds: Self.second - 1)).isEmpty)
        #expect(account.phase != .closed)
        #expect(account.tick(now: at(2)) == [.closed(.finalInvoiceWaitRanOut)])
        #expect(account.phase == .closed)
    }

    @Test func closingWithNothingSignedClosesAtOnce() throws {
        var account = account(try record(Self.channel(32)), stopPayingAfter: nil)
        #expect(account.close(now: at(0)) == [.closed(.withoutFinalInvoice)])
    }

    @Test func theTestSwitchStopsPayingAfterItsBytes() throws {
        var account = account(try record(Self.channel(33), best: 0), stopPayingAfter: 1_000)
        _ = account.receive(invoice: invoice(account, sequence: 1, from: 0, to: 999, seconds: 1), counts: counts(0, 999), now: at(1))
        #expect(sentAmounts(account.tick(now: at(1))) == [1_000])
        _ = account.receive(invoice: invoice(account, sequence: 2, from: 0, to: 1_000, seconds: 30), counts: counts(0, 1_000), now: at(30))
        #expect(account.tick(now: at(30)).isEmpty)
        #expect(account.close(now: at(31)) == [.closed(.withoutFinalInvoice)])
    }
}
