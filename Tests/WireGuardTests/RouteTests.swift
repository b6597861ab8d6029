import Testing
@testable import WireGuard

/// `route` and `prepareSend(packet:to:now:)`: the two halves of the outbound path the
/// embedder decides between (a provider holding back a consumer that stopped paying).
@Suite struct RouteTests {
    static let toB = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")

    @Test func routeFindsThePeerByDestination() {
        let pair = TunnelPair()
        #expect(Self.toB.withUnsafeBytes { pair.a.route(packet: $0) } === pair.peerOfA)
        let v6 = ipv6Packet(from: "fd00::1", to: "fd00::2")
        #expect(v6.withUnsafeBytes { pair.a.route(packet: $0) } === pair.peerOfA)
        #expect(pair.a.drops[.noRoute] == 0)
    }

    @Test func noRouteIsCounted() {
        let pair = TunnelPair()
        let elsewhere = ipv4Packet(from: "192.168.4.1", to: "198.51.100.7")
        #expect(elsewhere.withUnsafeBytes { pair.a.route(packet: $0) } == nil)
        #expect([UInt8]([0x45, 0, 0]).withUnsafeBytes { pair.a.route(packet: $0) } == nil)
        #expect(pair.a.drops[.noRoute] == 2)
        guard case .drop(.noRoute) = elsewhere.withUnsafeBytes({ pair.a.prepareSend(packet: $0, now: pair.now) }) else {
            Issue.record("the convenience should drop an unroutable packet"); return
        }
        #expect(pair.a.drops[.noRoute] == 3)
    }

    @Test func withheldPacketUsesNoNonceAndIsCounted() {
        let pair = TunnelPair()
        #expect(pair.establish())
        let sentBefore = pair.peerOfA.innerSentBytes
        let counterBefore = pair.peerOfA.current?.sendCounter
        // The embedder routes, then refuses: nothing is reserved, staged or sent.
        let peer = Self.toB.withUnsafeBytes { pair.a.route(packet: $0) }
        #expect(peer === pair.peerOfA)
        pair.a.withhold()
        #expect(pair.a.drops[.withheld] == 1)
        #expect(pair.peerOfA.current?.sendCounter == counterBefore)
        #expect(pair.peerOfA.innerSentBytes == sentBefore)
        #expect(!pair.a.hasOutgoing)
    }

    @Test func prepareSendToTheRoutedPeerSeals() {
        let pair = TunnelPair()
        #expect(pair.establish())
        let counter = pair.peerOfA.current?.sendCounter ?? 0
        var buffer = [UInt8](repeating: 0, count: 16) + Self.toB + [UInt8](repeating: 0, count: 64)
        let decision = buffer.withUnsafeBytes { raw -> SendDecision in
            let packet = UnsafeRawBufferPointer(rebasing: raw[16..<(16 + Self.toB.count)])
            guard let peer = pair.a.route(packet: packet) else { return .drop(.noRoute) }
            return pair.a.prepareSend(packet: packet, to: peer, now: pair.now)
        }
        guard case .seal(let ticket) = decision else { Issue.record("expected a seal ticket, got \(decision)"); return }
        #expect(ticket.counter == counter)
        #expect(ticket.endpoint == pair.endpointB)
        buffer.withUnsafeMutableBytes { ticket.seal(message: $0.baseAddress!, packetLength: Self.toB.count) }
        pair.deliver(Array(buffer[0..<ticket.messageLength]), to: "b", from: "a")
        #expect(pair.delivered.last?.to == "b")
        #expect(pair.delivered.last?.packet == Self.toB)
    }

    @Test func prepareSendWithoutSessionStagesAndStartsAHandshake() {
        let pair = TunnelPair()
        let decision = Self.toB.withUnsafeBytes { packet -> SendDecision in
            guard let peer = pair.a.route(packet: packet) else { return .drop(.noRoute) }
            return pair.a.prepareSend(packet: packet, to: peer, now: pair.now)
        }
        guard case .staged = decision else { Issue.record("expected staging, got \(decision)"); return }
        #expect(pair.a.takeOutgoing().map { $0.bytes.first } == [1], "one handshake initiation")
    }
}
