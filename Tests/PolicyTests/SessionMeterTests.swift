import Testing
@testable import Policy

@Suite struct SessionMeterTests {
    @Test func countsEveryVerdict() {
        var meter = SessionMeter()
        let traffic: [(Int, ExitVerdict)] = [(1500, .allow), (1200, .allow), (80, .allowDNS), (60, .blockedLocal),
                                             (60, .blockedSMTP), (40, .notWhitelisted), (40, .notWhitelisted), (3, .malformed)]
        for (bytes, verdict) in traffic { meter.recordFromConsumer(bytes: bytes, verdict: verdict) }
        meter.recordToConsumer(bytes: 9000)
        meter.recordToConsumer(bytes: 100)
        meter.recordRefusedName()
        #expect(meter.packetsFromConsumer == 8)
        #expect(meter.bytesFromConsumer == 2983)
        #expect(meter.bytesForwarded == 2780)
        #expect(meter.whitelistHits == 2)
        #expect(meter.dnsPackets == 1)
        #expect(meter.packetsToConsumer == 2)
        #expect(meter.bytesToConsumer == 9100)
        #expect(meter.namesRefused == 1)
        #expect(meter.droppedPackets == 5)
        #expect(meter.drops(.blockedLocal) == 1)
        #expect(meter.drops(.blockedSMTP) == 1)
        #expect(meter.drops(.notWhitelisted) == 2)
        #expect(meter.drops(.malformed) == 1)
        #expect(meter.drops(.allow) == 0)
        #expect(ExitVerdict.allCases.filter(\.isForwarded) == [.allow, .allowDNS])
    }

    @Test func countersWrapInsteadOfTrapping() {
        var meter = SessionMeter()
        meter.bytesFromConsumer = .max
        meter.recordFromConsumer(bytes: 2, verdict: .malformed)
        meter.recordFromConsumer(bytes: -5, verdict: .malformed)
        #expect(meter.bytesFromConsumer == 1)
    }
}
