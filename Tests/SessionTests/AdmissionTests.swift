import Testing
import WarrenCrypto
import WireGuard
@testable import Session

/// The provider's gate: rate limits before any cryptography, replay and freshness after it,
/// and bounded memory whatever arrives.
@Suite struct AdmissionTests {
    static let second = Protocol.second
    static let start = Now(monotonic: 10 * second, wall: 1_700_000_000 * second)
    static let alice = IPAddress.v4(0xC000_0201)   // 192.0.2.1
    static let bob = IPAddress.v4(0xC000_0202)

    static func admitted(_ admission: inout SessionAdmission, from source: IPAddress, count: Int, at now: Now) -> Int {
        (0..<count).filter { _ in admission.admitDatagram(from: source, now: now) == .admit }.count
    }

    // MARK: Rate limits

    @Test func perSourceBurstThenRate() {
        var admission = SessionAdmission(limits: AdmissionLimits(perSourceRequestsPerSecond: 5, perSourceBurst: 10))
        #expect(Self.admitted(&admission, from: Self.alice, count: 10, at: Self.start) == 10)
        #expect(admission.admitDatagram(from: Self.alice, now: Self.start) == .rateLimited)
        // Another source is not affected.
        #expect(admission.admitDatagram(from: Self.bob, now: Self.start) == .admit)
        // 5 per second: one more after 200 ms, not after 199 ms.
        #expect(admission.admitDatagram(from: Self.alice, now: Self.start.advanced(by: 199_000_000)) == .rateLimited)
        #expect(admission.admitDatagram(from: Self.alice, now: Self.start.advanced(by: 200_000_000)) == .admit)
        #expect(admission.admitDatagram(from: Self.alice, now: Self.start.advanced(by: 200_000_000)) == .rateLimited)
        // After a quiet spell the whole burst is back, and no more than the burst.
        let later = Self.start.advanced(by: 10 * Self.second)
        #expect(Self.admitted(&admission, from: Self.alice, count: 20, at: later) == 10)
    }

    @Test func steadyRateIsSustained() {
        var admission = SessionAdmission(limits: AdmissionLimits(perSourceRequestsPerSecond: 5, perSourceBurst: 1))
        var now = Self.start
        var admitted = 0
        for _ in 0..<100 {   // 10 s at 10 attempts a second
            if admission.admitDatagram(from: Self.alice, now: now) == .admit { admitted += 1 }
            now = now.advanced(by: Self.second / 10)
        }
        #expect(admitted == 50)
    }

    @Test func ipv6SourcesCountPerSlash64() throws {
        var admission = SessionAdmission(limits: AdmissionLimits(perSourceRequestsPerSecond: 1, perSourceBurst: 2))
        let a = try #require(IPAddress(parsing: "2001:db8:1:2::1"))
        let b = try #require(IPAddress(parsing: "2001:db8:1:2:ffff::9"))
        let other = try #require(IPAddress(parsing: "2001:db8:1:3::1"))
        #expect(admission.admitDatagram(from: a, now: Self.start) == .admit)
        #expect(admission.admitDatagram(from: b, now: Self.start) == .admit)
        #expect(admission.admitDatagram(from: a, now: Self.start) == .rateLimited)
        #expect(admission.admitDatagram(from: other, now: Self.start) == .admit)
    }

    @Test func globalLimitHoldsAcrossSources() {
        var admission = SessionAdmission(limits: AdmissionLimits(globalRequestsPerSecond: 10, globalBurst: 20))
        var admitted = 0
        for i in 0..<100 where admission.admitDatagram(from: .v4(0x0A00_0000 + UInt32(i)), now: Self.start) == .admit {
            admitted += 1
        }
        #expect(admitted == 20)
        #expect(admission.admitDatagram(from: .v4(0x0B00_0000), now: Self.start.advanced(by: Self.second / 10)) == .admit)
    }

    @Test func refusedSourceDoesNotSpendTheGlobalBudget() {
        var admission = SessionAdmission(limits: AdmissionLimits(perSourceRequestsPerSecond: 1, perSourceBurst: 1,
                                                                 globalRequestsPerSecond: 1, globalBurst: 3))
        #expect(admission.admitDatagram(from: Self.alice, now: Self.start) == .admit)
        for _ in 0..<1000 { _ = admission.admitDatagram(from: Self.alice, now: Self.start) }
        #expect(admission.admitDatagram(from: Self.bob, now: Self.start) == .admit)
        #expect(admission.admitDatagram(from: .v4(3), now: Self.start) == .admit)
        #expect(admission.admitDatagram(from: .v4(4), now: Self.start) == .rateLimited)
        // A global refusal does not charge the source either.
        #expect(admission.admitDatagram(from: .v4(4), now: Self.start.advanced(by: Self.second)) == .admit)
    }

    @Test func sourceTableForgetsTheLeastRecentlySeen() {
        var admission = SessionAdmission(limits: AdmissionLimits(perSourceRequestsPerSecond: 1, perSourceBurst: 1,
                                                                 maxTrackedSources: 3))
        let a = IPAddress.v4(1), b = IPAddress.v4(2), c = IPAddress.v4(3), d = IPAddress.v4(4)
        for source in [a, b, c] { #expect(admission.admitDatagram(from: source, now: Self.start) == .admit) }
        #expect(admission.trackedSourceCount == 3)
        // Touching a (even refused) does not count as seen; only admitted requests move a source up.
        #expect(admission.admitDatagram(from: a, now: Self.start) == .rateLimited)
        #expect(admission.admitDatagram(from: d, now: Self.start) == .admit)   // evicts a, the stalest
        #expect(admission.trackedSourceCount == 3)
        #expect(admission.admitDatagram(from: b, now: Self.start) == .rateLimited)  // b is still tracked
        #expect(admission.admitDatagram(from: a, now: Self.start) == .admit)        // a was forgotten; evicts b
        #expect(admission.admitDatagram(from: c, now: Self.start) == .rateLimited)  // c is still tracked
        #expect(admission.admitDatagram(from: b, now: Self.start) == .admit)        // b was forgotten; evicts c
        #expect(admission.admitDatagram(from: d, now: Self.start) == .rateLimited)
        #expect(admission.trackedSourceCount == 3)
    }

    @Test func memoryStaysBoundedUnder100kSources() {
        var admission = SessionAdmission(limits: AdmissionLimits(maxTrackedSources: 1024, globalRequestsPerSecond: 1_000_000,
                                                                 globalBurst: 1_000_000))
        var now = Self.start
        var admitted = 0
        var largest = 0
        for i in 0..<100_000 {
            let source: IPAddress = i % 2 == 0 ? .v4(UInt32(i)) : .v6(0x2001_0DB8_0000_0000 | UInt64(i), 1)
            if admission.admitDatagram(from: source, now: now) == .admit { admitted += 1 }
            largest = max(largest, admission.trackedSourceCount)
            now = now.advanced(by: 1000)
        }
        #expect(admitted == 100_000)
        #expect(largest == 1024)
        #expect(admission.trackedSourceCount == 1024)
    }

    // MARK: Replay and freshness

    static let nonce = [UInt8](repeating: 1, count: 16)

    @Test func openedRequestIsAdmittedOnceWithinTheWindow() throws {
        var admission = SessionAdmission()
        let (bytes, _) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(bytes, providerIdentity: Fixture.provider)
        let now = Now(monotonic: 0, wall: Fixture.now.wall)
        #expect(admission.admitRequest(opened, now: now) == .admit)
        #expect(admission.admitRequest(opened, now: now.advanced(by: 59 * Self.second)) == .replayed)
        // After the window it is stale, not forgotten-and-admitted.
        #expect(admission.admitRequest(opened, now: now.advanced(by: 61 * Self.second)) == .stale)
        // A fresh request from the same consumer (new nonce) is admitted.
        let (fresh, _) = try Fixture.request(entropy: SeededEntropy(seed: [77]))
        let openedFresh = try OpenedSessionRequest.open(fresh, providerIdentity: Fixture.provider)
        #expect(admission.admitRequest(openedFresh, now: now) == .admit)
    }

    @Test func sameNonceFromAnotherConsumerIsNotAReplay() {
        var admission = SessionAdmission()
        let wall = Self.start.wall
        #expect(admission.admitRequest(consumer: Fixture.consumer.publicIdentity, nonce: Self.nonce, wallNanoseconds: wall, now: Self.start) == .admit)
        #expect(admission.admitRequest(consumer: Fixture.stranger.publicIdentity, nonce: Self.nonce, wallNanoseconds: wall, now: Self.start) == .admit)
        #expect(admission.admitRequest(consumer: Fixture.consumer.publicIdentity, nonce: Self.nonce, wallNanoseconds: wall, now: Self.start) == .replayed)
    }

    @Test func timestampsOutsideSixtySecondsAreStale() {
        var admission = SessionAdmission()
        let consumer = Fixture.consumer.publicIdentity
        let wall = Self.start.wall
        func admit(_ timestamp: UInt64, _ nonceByte: UInt8) -> AdmissionVerdict {
            admission.admitRequest(consumer: consumer, nonce: [UInt8](repeating: nonceByte, count: 16), wallNanoseconds: timestamp, now: Self.start)
        }
        #expect(admit(wall - 60 * Self.second, 1) == .admit)
        #expect(admit(wall + 60 * Self.second, 2) == .admit)
        #expect(admit(wall - 60 * Self.second - 1, 3) == .stale)
        #expect(admit(wall + 60 * Self.second + 1, 4) == .stale)
        #expect(admit(0, 5) == .stale)
        #expect(admit(UInt64.max, 6) == .stale)
    }

    @Test func entriesAreForgottenWhenTheyLeaveTheWindow() {
        var admission = SessionAdmission(limits: AdmissionLimits(maxRememberedRequests: 2))
        let consumer = Fixture.consumer.publicIdentity
        var now = Self.start
        #expect(admission.admitRequest(consumer: consumer, nonce: [1], wallNanoseconds: now.wall + 30 * Self.second, now: now) == .admit)
        #expect(admission.admitRequest(consumer: consumer, nonce: [2], wallNanoseconds: now.wall - 30 * Self.second, now: now) == .admit)
        #expect(admission.admitRequest(consumer: consumer, nonce: [3], wallNanoseconds: now.wall, now: now) == .full)
        #expect(admission.rememberedRequestCount == 2)
        // 31 s later the older entry (timestamp −30 s) has left the window; the other stays.
        now = now.advanced(by: 31 * Self.second)
        #expect(admission.admitRequest(consumer: consumer, nonce: [3], wallNanoseconds: now.wall, now: now) == .admit)
        #expect(admission.rememberedRequestCount == 2)
        #expect(admission.admitRequest(consumer: consumer, nonce: [1], wallNanoseconds: Self.start.wall + 30 * Self.second, now: now) == .replayed)
        #expect(admission.admitRequest(consumer: consumer, nonce: [2], wallNanoseconds: Self.start.wall - 30 * Self.second, now: now) == .stale)
        // Far later everything has gone.
        now = now.advanced(by: 1000 * Self.second)
        #expect(admission.admitRequest(consumer: consumer, nonce: [9], wallNanoseconds: now.wall, now: now) == .admit)
        #expect(admission.rememberedRequestCount == 1)
    }

    @Test func replayMemoryStaysBoundedAndRefusesWhenFull() {
        var admission = SessionAdmission(limits: AdmissionLimits(maxRememberedRequests: 1000))
        let consumer = Fixture.consumer.publicIdentity
        var now = Self.start
        var verdicts: [AdmissionVerdict: Int] = [:]
        var largest = 0
        for i in 0..<20_000 {
            let nonce = (0..<4).map { UInt8(truncatingIfNeeded: i >> (8 * $0)) }
            verdicts[admission.admitRequest(consumer: consumer, nonce: nonce, wallNanoseconds: now.wall, now: now), default: 0] += 1
            largest = max(largest, admission.rememberedRequestCount)
            now = now.advanced(by: 5_000_000)   // 200 requests a second: 12 000 would be live
        }
        #expect(largest == 1000)
        #expect(verdicts[.full, default: 0] > 0)
        #expect(verdicts[.admit, default: 0] > 1000)   // entries leaving the window make room again
        #expect(verdicts[.replayed, default: 0] == 0 && verdicts[.stale, default: 0] == 0)
    }
}
