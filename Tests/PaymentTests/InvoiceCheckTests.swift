import Session
import Testing
@testable import Payment

/// The consumer's check of an invoice: tolerance, tariff arithmetic in integers, the cap.
@Suite struct InvoiceCheckTests {
    static let token: UInt128 = 1_000_000_000_000_000_000
    static let gib: UInt64 = 1 << 30
    let domain = PaymentFixture.domain
    let channelID = PaymentFixture.channel().id
    /// 0.5 token per GiB, 0.01 token per minute.
    let tariff = Tariff(perGiB: token / 2, perMinute: token / 100)

    func check(base: UInt128 = 0, cap: UInt128 = 100 * token, last: UInt128 = 0, lastSequence: UInt64? = nil) -> InvoiceCheck {
        InvoiceCheck(domain: domain, provider: PaymentFixture.provider.address, channelID: channelID, sessionID: 42,
                     tariff: tariff, sessionBase: base, spendingCap: cap, lastVoucherAmount: last, lastSequence: lastSequence)
    }

    func invoice(from: UInt64, to: UInt64, seconds: UInt64, due: UInt128, sequence: UInt64 = 1, session: UInt32 = 42,
                 signer: WalletKey = PaymentFixture.provider, channel: ChannelID? = nil) -> SignedInvoice {
        Invoice(channelID: channel ?? channelID, sessionID: session, sequence: sequence, bytesFromConsumer: from,
                bytesToConsumer: to, secondsConnected: seconds, amountDue: due).sign(with: signer, domain: domain)
    }

    @Test func tariffIsIntegerAndRoundsDown() {
        #expect(tariff.cost(bytes: UInt128(Self.gib), seconds: 0) == Self.token / 2)
        #expect(tariff.cost(bytes: 0, seconds: 60) == Self.token / 100)
        #expect(tariff.cost(bytes: 3 * UInt128(Self.gib) + 1, seconds: 90) == 3 * Self.token / 2 + 465_661_287 + 3 * Self.token / 200)
        // One byte at 0.5 token/GiB: 5e17 / 2^30 = 465661287.3… base units, rounded down.
        #expect(tariff.cost(bytes: 1, seconds: 0) == 465_661_287)
        let oneEach = tariff.cost(bytes: 1, seconds: 1)
        #expect(oneEach == UInt128(465_661_287) + UInt128(166_666_666_666_666), "\(String(describing: oneEach))")
        #expect(Tariff.free.cost(bytes: UInt128(UInt64.max) * 2, seconds: .max) == 0)
        #expect(Tariff(perGiB: .max, perMinute: 0).cost(bytes: UInt128(1) << 31, seconds: 0) == nil)
        #expect(Tariff(perGiB: .max, perMinute: 0).cost(bytes: UInt128(1) << 30, seconds: 0) == .max)
        #expect(Tariff(perGiB: 0, perMinute: .max).cost(bytes: 0, seconds: .max) == nil)
    }

    @Test func honestInvoiceIsPaid() {
        let due = tariff.cost(bytes: UInt128(Self.gib), seconds: 120) ?? 0
        let verdict = check().evaluate(invoice(from: Self.gib / 4, to: 3 * Self.gib / 4, seconds: 120, due: due),
                                       bytesSent: Self.gib / 4, bytesReceived: 3 * Self.gib / 4, secondsConnected: 120)
        #expect(verdict == .pay(cumulative: due))
    }

    @Test func toleranceIsTwoPercentPlus64KiB() {
        let measured: UInt64 = 100_000_000
        let limit = measured + measured / 50 + 65536
        let within = check().evaluate(invoice(from: 0, to: limit, seconds: 10, due: 1), bytesSent: 0,
                                      bytesReceived: measured, secondsConnected: 10)
        #expect(within == .pay(cumulative: 1))
        let over = check().evaluate(invoice(from: 0, to: limit + 1, seconds: 10, due: 1), bytesSent: 0,
                                    bytesReceived: measured, secondsConnected: 10)
        #expect(over == .overInvoiced(.bytesToConsumer(invoiced: limit + 1, measured: measured)))
        let sent = check().evaluate(invoice(from: 65537, to: 0, seconds: 10, due: 1), bytesSent: 0,
                                    bytesReceived: 0, secondsConnected: 10)
        #expect(sent == .overInvoiced(.bytesFromConsumer(invoiced: 65537, measured: 0)))
        let time = check().evaluate(invoice(from: 0, to: 0, seconds: 113, due: 1), bytesSent: 0,
                                    bytesReceived: 0, secondsConnected: 100)
        #expect(time == .overInvoiced(.seconds(invoiced: 113, measured: 100)))
        // Saturates instead of overflowing.
        let huge = check().evaluate(invoice(from: .max, to: 0, seconds: 0, due: 0), bytesSent: .max,
                                    bytesReceived: 0, secondsConnected: 0)
        #expect(huge == .pay(cumulative: 0))
    }

    @Test func amountAboveTheTariffIsOverInvoicing() {
        let fair = tariff.cost(bytes: 2_000_000, seconds: 60) ?? 0
        let verdict = check(base: 5).evaluate(invoice(from: 1_000_000, to: 1_000_000, seconds: 60, due: 5 + fair + 1),
                                              bytesSent: 1_000_000, bytesReceived: 1_000_000, secondsConnected: 60)
        #expect(verdict == .overInvoiced(.amountAboveTariff(invoiced: 5 + fair + 1, tariff: 5 + fair)))
        let exact = check(base: 5).evaluate(invoice(from: 1_000_000, to: 1_000_000, seconds: 60, due: 5 + fair),
                                            bytesSent: 1_000_000, bytesReceived: 1_000_000, secondsConnected: 60)
        #expect(exact == .pay(cumulative: 5 + fair))
    }

    @Test func capIsNeverPassed() {
        let due = tariff.cost(bytes: 4 * UInt128(Self.gib), seconds: 0) ?? 0  // 2 tokens
        let verdict = check(cap: Self.token, last: Self.token / 2).evaluate(
            invoice(from: 0, to: 4 * Self.gib, seconds: 0, due: due), bytesSent: 0, bytesReceived: 4 * Self.gib, secondsConnected: 0)
        #expect(verdict == .capReached(finalCumulative: Self.token))
    }

    @Test func alreadyCoveredAmountResendsTheBestVoucher() {
        let verdict = check(last: 1_000).evaluate(invoice(from: 0, to: 0, seconds: 0, due: 0), bytesSent: 0,
                                                  bytesReceived: 0, secondsConnected: 0)
        #expect(verdict == .pay(cumulative: 1_000))
    }

    @Test func staleWrongSignerChannelOrSession() throws {
        let honest = invoice(from: 0, to: 0, seconds: 0, due: 0, sequence: 5)
        #expect(check(lastSequence: 5).evaluate(honest, bytesSent: 0, bytesReceived: 0, secondsConnected: 0) == .stale)
        #expect(check(lastSequence: 4).evaluate(honest, bytesSent: 0, bytesReceived: 0, secondsConnected: 0) == .pay(cumulative: 0))
        let forged = invoice(from: 0, to: 0, seconds: 0, due: 0, signer: PaymentFixture.stranger)
        #expect(check().evaluate(forged, bytesSent: 0, bytesReceived: 0, secondsConnected: 0) == .overInvoiced(.notSignedByProvider))
        let other = try #require(ChannelID(bytes: [UInt8](repeating: 1, count: 32)))
        #expect(check().evaluate(invoice(from: 0, to: 0, seconds: 0, due: 0, channel: other), bytesSent: 0,
                                 bytesReceived: 0, secondsConnected: 0) == .overInvoiced(.wrongChannel))
        #expect(check().evaluate(invoice(from: 0, to: 0, seconds: 0, due: 0, session: 43), bytesSent: 0,
                                 bytesReceived: 0, secondsConnected: 0) == .overInvoiced(.wrongSession(43)))
    }
}
