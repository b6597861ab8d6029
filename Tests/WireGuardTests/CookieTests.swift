import Testing
@testable import WireGuard

/// MAC1, MAC2 and cookie replies (paper, section 5.4.7): under load the responder answers an
/// initiation without a valid MAC2 with a cookie, and does no Diffie-Hellman for it.
@Suite struct CookieTests {
    static let fromA = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")
    static let zeros = [UInt8](repeating: 0, count: 16)

    /// A pair whose first initiation has been sent but not delivered.
    static func pairWithPendingInitiation() throws -> (TunnelPair, [UInt8]) {
        let pair = TunnelPair()
        pair.linkUp = false
        pair.send(from: "a", packet: fromA)
        pair.linkUp = true
        let initiation = try #require(pair.captured(to: "b", type: 1).first).bytes
        return (pair, initiation)
    }

    @Test func underLoadTheResponderAnswersWithACookieThenAcceptsMAC2() throws {
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        #expect(Array(initiation[132..<148]) == Self.zeros, "no cookie yet, so no MAC2")
        #expect(pair.deliver(initiation, to: "b", from: "a", underLoad: true) == .handled)
        let replies = pair.b.takeOutgoing()
        try #require(replies.count == 1)
        let reply = replies[0].bytes
        #expect(reply.count == 64 && Array(reply[0..<4]) == [3, 0, 0, 0])
        #expect(le32(reply, 4) == le32(initiation, 4), "addressed to the initiator's sender index")
        #expect(replies[0].endpoint == pair.endpointA)
        #expect(pair.b.cookieRepliesSent == 1)
        #expect(pair.peerOfB.next == nil && pair.peerOfB.current == nil, "no session derived")
        #expect(pair.b.indexTable.isEmpty)
        #expect(pair.peerOfB.latestTimestamp == nil, "the initiation was not consumed")

        #expect(pair.deliver(reply, to: "a", from: "b") == .handled)
        #expect(pair.a.drops.counts.allSatisfy { $0 == 0 })

        pair.underLoad = ["b"]
        pair.advance(seconds: 5.5)   // A's retransmission, now with MAC2
        let retry = try #require(pair.captured(to: "b", type: 1).last).bytes
        #expect(retry != initiation)
        #expect(Array(retry[132..<148]) != Self.zeros, "MAC2 is set once a cookie is held")
        #expect(pair.b.cookieRepliesSent == 1, "a valid MAC2 passes under load")
        #expect(pair.peerOfA.current != nil && pair.peerOfB.current != nil)
        #expect(pair.delivered.map(\.packet) == [Self.fromA])
        #expect(pair.dropped == [])
    }

    @Test func cookieIsBoundToTheSourceAddress() throws {
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        pair.deliver(initiation, to: "b", from: "a", underLoad: true)
        pair.pump()
        pair.linkUp = false
        pair.advance(seconds: 5.5)
        let retry = try #require(pair.captured(to: "b", type: 1).last).bytes
        #expect(Array(retry[132..<148]) != Self.zeros)
        // The same message from another address does not carry a valid MAC2 for that address.
        let elsewhere = Endpoint(address: .v4(0x0A00_0063), port: 51820)
        let decision = retry.withUnsafeBytes { pair.b.receive(message: $0, from: elsewhere, now: pair.now, underLoad: true) }
        guard case .handled = decision else { Issue.record("expected a cookie reply, got \(decision)"); return }
        #expect(pair.b.cookieRepliesSent == 2)
        #expect(pair.b.takeOutgoing().map(\.endpoint) == [elsewhere])
        #expect(pair.peerOfB.next == nil)
    }

    @Test func withoutLoadMAC2IsNotRequired() throws {
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        #expect(pair.deliver(initiation, to: "b", from: "a", underLoad: false) == .handled)
        #expect(pair.b.cookieRepliesSent == 0)
        pair.pump()
        #expect(pair.peerOfA.current != nil)
    }

    @Test(arguments: [4, 8, 20, 31, 32, 45, 63])
    func tamperedCookieReplyIsRejected(position: Int) throws {
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        pair.deliver(initiation, to: "b", from: "a", underLoad: true)
        let reply = try #require(pair.b.takeOutgoing().first).bytes
        var tampered = reply
        tampered[position] ^= 0x80
        let outcome = pair.deliver(tampered, to: "a", from: "b")
        if position < 8 {
            #expect(outcome == .dropped(.unknownReceiver), "receiver index changed")
        } else {
            #expect(outcome == .dropped(.invalidMac))
            #expect(pair.a.drops[.invalidMac] == 1)
        }
        // A holds no cookie: its retransmission still has an empty MAC2.
        pair.linkUp = false
        pair.advance(seconds: 5.5)
        let retry = try #require(pair.captured(to: "b", type: 1).last).bytes
        #expect(retry != initiation)
        #expect(Array(retry[132..<148]) == Self.zeros)
    }

    @Test func cookieReplyForAnOlderInitiationIsRejected() throws {
        // The reply is bound to the MAC1 of the message it answers; A has since sent another.
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        pair.deliver(initiation, to: "b", from: "a", underLoad: true)
        let reply = try #require(pair.b.takeOutgoing().first).bytes
        pair.linkUp = false
        pair.advance(seconds: 5.5)
        pair.linkUp = true
        #expect(pair.deliver(reply, to: "a", from: "b") != .handled)
    }

    @Test(arguments: [116, 125, 131, 8, 100])
    func wrongMAC1IsDroppedWithoutReply(position: Int) throws {
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        var tampered = initiation
        tampered[position] ^= 0x01
        for load in [false, true] {
            #expect(pair.deliver(tampered, to: "b", from: "a", underLoad: load) == .dropped(.invalidMac))
        }
        #expect(pair.b.drops[.invalidMac] == 2)
        #expect(!pair.b.hasOutgoing && pair.b.cookieRepliesSent == 0)
        #expect(pair.peerOfB.next == nil)
        // The genuine message is still accepted.
        #expect(pair.deliver(initiation, to: "b", from: "a") == .handled)
    }

    @Test func wrongMAC1OnAResponseIsDropped() throws {
        let (pair, initiation) = try Self.pairWithPendingInitiation()
        pair.deliver(initiation, to: "b", from: "a")
        var response = try #require(pair.b.takeOutgoing().first).bytes
        #expect(response.count == 92)
        response[60] ^= 0x01
        #expect(pair.deliver(response, to: "a", from: "b") == .dropped(.invalidMac))
        #expect(pair.peerOfA.current == nil)
    }
}
