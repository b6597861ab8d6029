import Session
import Testing
@testable import Payment

/// The provider's per-packet billing decision: count within the allowance, recheck when a
/// packet would cross it, drop while paused, let payment datagrams through unbilled.
/// (Moved from AgentTests with `SessionAccount`, now `ProviderAccount` and its `BillingGate`.)
@Suite struct SessionAccountTests {
    static let token: UInt128 = 1_000_000_000_000_000_000
    let tariff = Tariff(perGiB: 2 * token, perMinute: 0)

    static func account(tariff: Tariff, window: UInt64, now: UInt64) -> ProviderAccount {
        let terms = ProviderAccountTerms(tariff: tariff, provider: PaymentFixture.provider.address, expiryMarginSeconds: 0, graceSeconds: 30)
        return ProviderAccount(sessionID: 1, consumer: [1], terms: terms, grant: CreditBook.Grant(windowBytes: window), now: now)
    }

    @Test func countsUntilTheAllowanceThenAsksForARecheck() {
        let account = Self.account(tariff: tariff, window: 64 << 10, now: 0)
        // Nothing paid: the window alone (64 KiB) is the allowance.
        #expect(account.allowance == 64 << 10)
        #expect(account.gate.admit(bytes: 60 << 10, fromConsumer: true, isPayment: false) == .pass)
        #expect(account.gate.admit(bytes: 4 << 10, fromConsumer: false, isPayment: false) == .pass)
        #expect(account.billedBytes == 64 << 10)
        #expect(account.bytesFromConsumer == 60 << 10 && account.bytesToConsumer == 4 << 10)
        #expect(account.gate.admit(bytes: 1, fromConsumer: true, isPayment: false) == .recheck)
        #expect(account.billedBytes == 64 << 10)      // a packet that needs a recheck is not counted yet
    }

    @Test func pausedDropsAllButPayment() {
        var account = Self.account(tariff: tariff, window: 64 << 10, now: 0)
        #expect(account.apply(covered: false, now: 0) != nil)
        #expect(account.gate.admit(bytes: 100, fromConsumer: true, isPayment: false) == .drop)
        #expect(account.gate.admit(bytes: 100, fromConsumer: true, isPayment: true) == .pass)
        #expect(account.billedBytes == 0)
    }

    @Test func dueCountsBothDirectionsAndTheBase() {
        var account = Self.account(tariff: tariff, window: 1 << 20, now: 0)
        account.credit = CreditLine(tariff: tariff, sessionBase: 5, windowBytes: 1 << 20)
        account.gate.count(1 << 29, fromConsumer: true)
        account.gate.count(1 << 29, fromConsumer: false)
        #expect(account.due(now: 10_000_000_000) == 5 + 2 * Self.token)
    }
}

/// Pausing and resuming happen in one place, whoever found the credit short or covered.
@Suite struct CreditChangeTests {
    @Test func pauseStartsGraceAndAsksForAnInvoiceResumeUndoes() {
        var account = SessionAccountTests.account(tariff: Tariff(perGiB: 1 << 30, perMinute: 0), window: 64 << 10, now: 0)
        #expect(account.apply(covered: true, now: 5) == nil)
        guard case .paused? = account.apply(covered: false, now: 7) else { Issue.record("not paused"); return }
        #expect(account.isPaused && account.phase == .paused(since: 7) && account.invoices.atOnce)
        // Still short later: no new pause, and the grace keeps counting from the first.
        #expect(account.apply(covered: false, now: 9) == nil)
        #expect(account.phase == .paused(since: 7))
        #expect(account.apply(covered: true, now: 11) == .resumed(paid: 0))
        #expect(!account.isPaused)
        #expect(account.gate.admit(bytes: 10, fromConsumer: true, isPayment: false) == .pass)
    }
}
