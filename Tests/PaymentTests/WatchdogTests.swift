import Glibc
import Testing
import WarrenTestSupport
@testable import Payment

/// A backend that refuses or delays: counts submissions and answers with a set state.
final class ScriptedSettlement: Settlement {
    var claimCalls: [UInt128] = []
    var claimError: LedgerError?
    var state: ClaimState = .unknown

    func open(_ channel: Channel, now: UInt64) throws(LedgerError) {}

    func claim(_ voucher: SignedVoucher, now: UInt64) throws(LedgerError) -> ClaimReceipt {
        claimCalls.append(voucher.cumulativeAmount)
        if let claimError { throw claimError }
        return ClaimReceipt(id: ClaimID(channelID: voucher.channelID, cumulativeAmount: voucher.cumulativeAmount),
                            channelID: voucher.channelID, cumulativeAmount: voucher.cumulativeAmount, amountPaid: 0)
    }

    func reclaim(_ channelID: ChannelID, now: UInt64) throws(LedgerError) -> UInt128 { 0 }
    func balance(of address: EthereumAddress) throws(LedgerError) -> UInt128 { 0 }
    func claimState(_ id: ClaimID) throws(LedgerError) -> ClaimState { state }
    func channel(_ id: ChannelID) throws(LedgerError) -> LedgerChannel? { nil }
}

/// The persisted watchdog: when to claim, never twice, backoff, reclaim after expiry.
@Suite struct WatchdogTests {
    let domain = PaymentFixture.domain
    let consumer = PaymentFixture.consumer
    let provider = PaymentFixture.provider
    /// Claim at 300 unclaimed after the session; always from 100 s before expiry.
    let policy = WatchdogPolicy(settleThreshold: 300, expiryMargin: 100)

    func voucher(_ amount: UInt128, _ channel: Channel) -> SignedVoucher {
        Voucher(channelID: channel.id, cumulativeAmount: amount).sign(with: consumer, domain: domain)
    }

    func providerRecord(best: UInt128, ended: UInt64?, channel: Channel = ChannelStoreTests.channel(40)) throws -> ChannelRecord {
        var record = ChannelRecord(role: .provider, channel: channel)
        try record.offer(voucher(best, channel), now: 1_000)
        record.sessionEndedAt = ended
        return record
    }

    func actions(_ record: ChannelRecord, now: UInt64, states: [ClaimID: ClaimState] = [:]) -> [WatchdogAction] {
        Watchdog.actions(records: [record], claimStates: states, now: now, policy: policy)
    }

    @Test func claimsAfterSessionEndOnlyOverThreshold() throws {
        let over = try providerRecord(best: 500, ended: nil)
        #expect(actions(over, now: 1_200).isEmpty)  // session still running
        var ended = over
        ended.sessionEndedAt = 1_100
        #expect(actions(ended, now: 1_200) == [.claim(ended.id, voucher(500, ended.channel))])
        // Already claimed 300 of it: 200 unclaimed is under the threshold.
        ended.claimed = 300
        #expect(actions(ended, now: 1_200).isEmpty)
        let under = try providerRecord(best: 299, ended: 1_100)
        #expect(actions(under, now: 1_200).isEmpty)
    }

    @Test func claimsAnythingFromExpiryMinusMargin() throws {
        // Expiry 2000, margin 100: from 1900 on, even a small amount, session or not.
        let small = try providerRecord(best: 10, ended: nil)
        #expect(actions(small, now: 1_899).isEmpty)
        #expect(actions(small, now: 1_900) == [.claim(small.id, voucher(10, small.channel))])
        // After expiry the ledger refuses claims: nothing to do.
        #expect(actions(small, now: 2_000).isEmpty)
        // Nothing unclaimed: nothing to do.
        var done = small
        done.claimed = 10
        #expect(actions(done, now: 1_950).isEmpty)
    }

    @Test func backoffDoublesUpToTheMaximum() {
        let standard = WatchdogPolicy(settleThreshold: 1, expiryMargin: 1)
        #expect((1...10).map { standard.backoff(afterAttempt: $0) } == [5, 10, 20, 40, 80, 160, 320, 600, 600, 600])
        #expect(standard.backoff(afterAttempt: 0) == 5)
        #expect(standard.backoff(afterAttempt: .max) == 600)
    }

    @Test func aSubmittedClaimIsNeverSubmittedAgainWhileOutstanding() throws {
        var record = try providerRecord(best: 500, ended: 1_100)
        let id = ClaimID(channelID: record.id, cumulativeAmount: 500)
        record.claims = [SubmittedClaim(amount: 500, id: id, submittedAt: 1_200, attempts: 1, nextRetry: 1_205, confirmed: false)]
        // Before the retry time: nothing, whatever the backend says.
        #expect(actions(record, now: 1_204, states: [id: .unknown]).isEmpty)
        // At the retry time: pending → wait longer; unknown → submit again (the first was lost).
        #expect(actions(record, now: 1_205, states: [id: .pending]) == [.postpone(record.id, id)])
        #expect(actions(record, now: 1_205, states: [id: .unknown]) == [.claim(record.id, voucher(500, record.channel))])
        // Confirmed: recorded, and nothing new to claim.
        let receipt = ClaimReceipt(id: id, channelID: record.id, cumulativeAmount: 500, amountPaid: 500)
        #expect(actions(record, now: 1_204, states: [id: .confirmed(receipt)]) == [.markConfirmed(record.id, receipt)])

        // A higher voucher arrives: after the session it waits for the claim in flight…
        var higher = record
        try higher.offer(voucher(700, higher.channel), now: 1_300)
        #expect(actions(higher, now: 1_204, states: [id: .pending]).isEmpty)
        // …but from expiry minus margin it is claimed at once (another amount).
        #expect(actions(higher, now: 1_900, states: [id: .pending]) == [.claim(record.id, voucher(700, record.channel))])
    }

    @Test func consumerChannelNeverOpenedIsSettledAsNothingToReclaim() throws {
        let storeFiles = MemoryChannelFiles()
        let ledgerFiles = MemoryLedgerFiles()
        let ledger = try LocalLedger(files: ledgerFiles, domain: domain)
        var store = try ChannelStore.load(files: storeFiles)
        // Added, then the power went before the deposit was opened on the ledger.
        try store.add(ChannelRecord(role: .consumer, channel: ChannelStoreTests.channel(44)), now: 1_000)
        let report = try WatchdogRunner.run(store: &store, settlement: ledger, now: 2_000, policy: policy)
        #expect(report.refunds.isEmpty)
        #expect(store[ChannelStoreTests.channel(44).id]?.reclaimed == true)
    }

    @Test func pendingBackendGetsOneSubmissionAndBackoff() throws {
        let files = MemoryChannelFiles()
        var store = try ChannelStore.load(files: files)
        let record = try providerRecord(best: 500, ended: 1_100)
        try store.add(record, now: 1_100)

        let backend = ScriptedSettlement()
        backend.state = .pending
        for now in UInt64(1_200)...1_400 {
            _ = try WatchdogRunner.run(store: &store, settlement: backend, now: now, policy: policy)
        }
        // One submission; then asked at 1205, 1215, 1235, 1275, 1355 (5, 10, 20, 40, 80 s).
        #expect(backend.claimCalls == [500])
        let claim = try #require(store[record.id]?.claims.first)
        #expect(claim.attempts == 6)
        #expect(claim.nextRetry == 1_355 + 160)
        #expect(!claim.confirmed)
        // The tracked claim is on disk.
        #expect(try ChannelStore.load(files: files)[record.id]?.claims == [claim])
    }

    @Test func failedSubmissionIsRetriedWithBackoff() throws {
        let files = MemoryChannelFiles()
        var store = try ChannelStore.load(files: files)
        let record = try providerRecord(best: 500, ended: 1_100)
        try store.add(record, now: 1_100)
        let backend = ScriptedSettlement()
        backend.claimError = .storage(StorageFailure(call: "test", errno: EIO, description: "test"))
        var submittedAt: [UInt64] = []
        for now in UInt64(1_200)...1_260 {
            let before = backend.claimCalls.count
            let report = try WatchdogRunner.run(store: &store, settlement: backend, now: now, policy: policy)
            if backend.claimCalls.count > before {
                submittedAt.append(now)
                #expect(report.failures.count == 1)
            }
        }
        #expect(submittedAt == [1_200, 1_205, 1_215, 1_235])
        #expect(Set(backend.claimCalls) == [500])
    }

    @Test func channelEndedWhileTheBoxWasOffIsClaimedOnFirstRun() throws {
        let storeFiles = MemoryChannelFiles()
        let ledgerFiles = MemoryLedgerFiles()
        let ledger = try LocalLedger(files: ledgerFiles, domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        let ended = ChannelStoreTests.channel(41), cut = ChannelStoreTests.channel(42)
        try ledger.open(ended, now: 1_000)
        try ledger.open(cut, now: 1_000)
        do {
            // Before the power cut: one session ended (recorded), one was running when the power went.
            var store = try ChannelStore.load(files: storeFiles)
            try store.add(ChannelRecord(role: .provider, channel: ended), now: 1_000)
            try store.add(ChannelRecord(role: .provider, channel: cut), now: 1_000)
            try store.record(voucher: voucher(400, ended), now: 1_010)
            try store.record(voucher: voucher(350, cut), now: 1_010)
            try store.setSessionEnded(channel: ended.id, at: 1_020)
            try store.persistIfDue(now: 1_020)
        }
        // The box comes back at 1500: load, end sessions that died with it, run.
        var store = try ChannelStore.load(files: storeFiles)
        #expect(store.damaged.isEmpty)
        store.endSessionsLeftOpen(now: 1_500)
        let report = try WatchdogRunner.run(store: &store, settlement: ledger, now: 1_500, policy: policy)
        #expect(report.failures.isEmpty)
        #expect(Set(report.submitted) == [ClaimID(channelID: ended.id, cumulativeAmount: 400),
                                          ClaimID(channelID: cut.id, cumulativeAmount: 350)])
        #expect(try ledger.balance(of: provider.address) == 750)
        // Confirmed and durable: a restart does not claim again.
        var again = try ChannelStore.load(files: storeFiles)
        #expect(again[ended.id]?.claimed == 400)
        #expect(again[ended.id]?.claims.map(\.confirmed) == [true])
        let second = try WatchdogRunner.run(store: &again, settlement: ledger, now: 1_600, policy: policy)
        #expect(second.actions.isEmpty)
        #expect(try ledger.balance(of: provider.address) == 750)
    }

    @Test func consumerReclaimsAfterExpiryAndTheLedgerAddsUp() throws {
        let consumerFiles = MemoryChannelFiles()
        let providerFiles = MemoryChannelFiles()
        let ledgerFiles = MemoryLedgerFiles()
        let ledger = try LocalLedger(files: ledgerFiles, domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        let channel = ChannelStoreTests.channel(43, deposit: 1_000, expiry: 2_000)

        var consumerStore = try ChannelStore.load(files: consumerFiles)
        try consumerStore.add(ChannelRecord(role: .consumer, channel: channel, dailyCap: 800), now: 1_000)
        try ledger.open(channel, now: 1_000)
        var providerStore = try ChannelStore.load(files: providerFiles)
        try providerStore.add(ChannelRecord(role: .provider, channel: channel), now: 1_000)

        // The session: the consumer persists each voucher before it leaves; the provider
        // checks the signer and keeps the best.
        for (step, amount) in [100, 250, 400].enumerated() {
            let now = 1_000 + UInt64(step) * 20
            let signed = voucher(UInt128(amount), channel)
            try consumerStore.record(voucher: signed, now: now)
            try consumerStore.persistNow(channel: channel.id, now: now)
            #expect(signed.signer(domain: domain) == channel.consumer)
            try providerStore.record(voucher: signed, now: now)
            try providerStore.persistIfDue(now: now)
        }
        try providerStore.setSessionEnded(channel: channel.id, at: 1_100)
        let claimed = try WatchdogRunner.run(store: &providerStore, settlement: ledger, now: 1_100, policy: policy)
        #expect(claimed.submitted == [ClaimID(channelID: channel.id, cumulativeAmount: 400)])
        #expect(try ledger.balance(of: provider.address) == 400)

        // Before expiry the consumer has nothing to do; at expiry it takes the rest back.
        #expect(try WatchdogRunner.run(store: &consumerStore, settlement: ledger, now: 1_999, policy: policy).actions.isEmpty)
        let reclaim = try WatchdogRunner.run(store: &consumerStore, settlement: ledger, now: 2_000, policy: policy)
        #expect(reclaim.actions == [.reclaim(channel.id)])
        #expect(reclaim.refunds == [channel.id: 600])
        #expect(try ChannelStore.load(files: consumerFiles)[channel.id]?.reclaimed == true)
        // Once only, also across a restart.
        var reloaded = try ChannelStore.load(files: consumerFiles)
        #expect(try WatchdogRunner.run(store: &reloaded, settlement: ledger, now: 2_100, policy: policy).actions.isEmpty)
        #expect(try WatchdogRunner.run(store: &providerStore, settlement: ledger, now: 2_100, policy: policy).actions.isEmpty)

        // Money is conserved: funded 5000 = consumer 4000 + 600 back, provider 400.
        #expect(try ledger.balance(of: consumer.address) == 4_600)
        #expect(try ledger.balance(of: consumer.address) + ledger.balance(of: provider.address) == 5_000)
        #expect(try ledger.channel(channel.id)?.reclaimed == true)
    }
}
