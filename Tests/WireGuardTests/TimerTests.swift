import Testing
@testable import WireGuard

/// The timer state machine of the WireGuard paper, section 6, in virtual time.
@Suite struct TimerTests {
    static let fromA = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")
    static let fromB = ipv4Packet(from: "192.168.4.2", to: "192.168.4.1")
    static let millisecond = Protocol.millisecond

    @Test func handshakeIsRetransmittedAfterRekeyTimeoutPlusJitter() {
        let pair = TunnelPair()
        pair.linkUp = false
        pair.send(from: "a", packet: Self.fromA)
        pair.advance(seconds: 27, step: Self.millisecond)
        let times = pair.captured(to: "b", type: 1).map(\.at)
        #expect(times.count == 6, "the first initiation and five retries in 27 s")
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        for gap in gaps {
            #expect(gap >= Protocol.rekeyTimeout, "gap \(gap) ns")
            #expect(gap < Protocol.rekeyTimeout + Protocol.rekeyTimeoutJitterMax + Self.millisecond, "gap \(gap) ns")
        }
        #expect(Protocol.rekeyTimeout + Protocol.rekeyTimeoutJitterMax <= ns(5.334))
        #expect(Set(gaps).count > 1, "the jitter varies between retries")
        // Each retry is a fresh initiation: new ephemeral key, new sender index.
        let messages = pair.captured(to: "b", type: 1).map(\.bytes)
        #expect(Set(messages.map { Array($0[4..<40]) }).count == messages.count)
    }

    @Test func handshakeGivesUpAfterMaxAttempts() {
        let pair = TunnelPair()
        pair.linkUp = false
        pair.send(from: "a", packet: Self.fromA)
        pair.advance(seconds: 110, step: 10 * Self.millisecond)
        #expect(Protocol.maxHandshakeAttempts == 18, "RekeyAttemptTime / RekeyTimeout")
        // The first try plus maxHandshakeAttempts + 1 retries, as wireguard-go (attempts > max gives up).
        #expect(pair.captured(to: "b", type: 1).count == Protocol.maxHandshakeAttempts + 2)
        #expect(pair.peerOfA.handshake == nil, "the abandoned handshake is forgotten")
        #expect(pair.peerOfA.staged.isEmpty, "packets waiting for it are dropped")
        pair.advance(seconds: 100)
        #expect(pair.captured(to: "b", type: 1).count == Protocol.maxHandshakeAttempts + 2, "then silence")
        // New traffic starts a fresh cycle straight away, and it can succeed.
        pair.linkUp = true
        pair.send(from: "a", packet: Self.fromA)
        #expect(pair.captured(to: "b", type: 1).count == Protocol.maxHandshakeAttempts + 3)
        #expect(pair.delivered.map(\.packet) == [Self.fromA])
    }

    @Test func passiveKeepaliveAfterReceivingData() {
        let pair = TunnelPair()
        #expect(pair.establish())
        let received = pair.now.monotonic
        #expect(pair.keepalives(to: "a").isEmpty)
        pair.advance(seconds: 9.9)
        #expect(pair.keepalives(to: "a").isEmpty, "not before KeepaliveTimeout")
        pair.advance(seconds: 0.2)
        let sent = pair.keepalives(to: "a")
        #expect(sent.count == 1)
        #expect(sent.first.map { $0 - received } == Protocol.keepaliveTimeout)
        // Only one: the keepalive answered the data; with nothing new there is nothing to answer.
        pair.advance(seconds: 60)
        #expect(pair.keepalives(to: "a").count == 1)
        #expect(pair.captured(to: "b", type: 1).count == 1, "and no new handshake")
    }

    @Test func noPassiveKeepaliveWhenDataWasAnswered() {
        let pair = TunnelPair()
        #expect(pair.establish())
        pair.advance(seconds: 5)
        pair.send(from: "b", packet: Self.fromB)   // B answers with data before the timer fires
        pair.advance(seconds: 6)
        #expect(pair.keepalives(to: "a").isEmpty)
        // A got data from B, so A now owes the keepalive.
        pair.advance(seconds: 5)
        #expect(pair.keepalives(to: "b").count == 1)
    }

    @Test func newHandshakeWhenSentDataGoesUnanswered() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        pair.advance(seconds: 11)   // B's keepalive arrives; both sides quiet
        #expect(pair.captured(to: "b", type: 1).count == 1)
        pair.linkUp = false
        pair.send(from: "a", packet: Self.fromA)
        let sentAt = pair.now.monotonic
        pair.advance(seconds: 14.9)
        #expect(pair.captured(to: "b", type: 1).count == 1, "not before KeepaliveTimeout + RekeyTimeout")
        pair.advance(seconds: 0.6)
        let initiations = pair.captured(to: "b", type: 1)
        try #require(initiations.count == 2)
        let waited = initiations[1].at - sentAt
        #expect(waited >= Protocol.keepaliveTimeout + Protocol.rekeyTimeout)
        #expect(waited < Protocol.keepaliveTimeout + Protocol.rekeyTimeout + Protocol.rekeyTimeoutJitterMax + ns(0.1))
    }

    @Test func rekeyAfterTimeStartsASecondHandshakeWithoutLosingPackets() throws {
        let pair = TunnelPair()
        pair.a.rekeyAfterTime = 30 * Protocol.second
        #expect(pair.establish())
        let first = try #require(pair.peerOfA.current)
        var inFlightFromA: [UInt8]?, inFlightFromB: [UInt8]?
        for second in 1...45 {
            pair.advance(seconds: 1)
            if second == 29 {
                // Sealed with the first session, delivered only after the rekey.
                inFlightFromA = pair.seal(from: "a", packet: Self.fromA)
                inFlightFromB = pair.seal(from: "b", packet: Self.fromB)
            }
            pair.send(from: "a", packet: Self.fromA)
        }
        #expect(pair.captured(to: "b", type: 1).count == 2, "exactly one rekey in 45 s")
        let second = try #require(pair.peerOfA.current)
        #expect(second !== first)
        #expect(pair.peerOfA.previous === first)
        #expect(pair.peerOfB.current?.localIndex == second.remoteIndex)
        #expect(pair.delivered.count == 46)
        #expect(pair.dropped == [])
        // The previous session still opens packets that were in flight.
        #expect(pair.deliver(try #require(inFlightFromA), to: "b", from: "a") == .delivered(Self.fromA))
        #expect(pair.deliver(try #require(inFlightFromB), to: "a", from: "b") == .delivered(Self.fromB))
        // Data after the rekey uses the new session.
        let next = try #require(pair.seal(from: "a", packet: Self.fromA))
        #expect(le32(next, 4) == second.remoteIndex)
    }

    @Test func keysAreRejectedAfterRejectAfterTime() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let late = try #require(pair.seal(from: "a", packet: Self.fromA))
        let early = try #require(pair.seal(from: "a", packet: Self.fromA))
        pair.advance(seconds: 179)
        #expect(pair.deliver(early, to: "b", from: "a") == .delivered(Self.fromA), "still valid before RejectAfterTime")
        pair.advance(seconds: 2)
        let outcome = pair.deliver(late, to: "b", from: "a")
        #expect(outcome == .dropped(.expiredKeypair) || outcome == .dropped(.unknownReceiver))
        #expect(pair.captured(to: "b", type: 1).count == 1, "an idle tunnel does not rehandshake")
        // Nor will A send with the old keys: the packet waits for a new handshake.
        pair.linkUp = false
        let transportsBefore = pair.captured(to: "b", type: 4).count
        guard case .staged = pair.send(from: "a", packet: Self.fromA) else {
            Issue.record("A sent with a session older than RejectAfterTime")
            return
        }
        #expect(pair.captured(to: "b", type: 1).count == 2)
        #expect(pair.captured(to: "b", type: 4).count == transportsBefore)
    }

    @Test func sessionKeysAreZeroedAfterThreeTimesRejectAfterTime() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let held = try #require(pair.seal(from: "a", packet: Self.fromA))
        pair.advance(seconds: 539)
        #expect(pair.peerOfA.current != nil && pair.peerOfB.current != nil)
        pair.advance(seconds: 2)
        #expect(pair.peerOfA.current == nil && pair.peerOfA.previous == nil && pair.peerOfA.next == nil)
        #expect(pair.peerOfB.current == nil && pair.peerOfB.previous == nil && pair.peerOfB.next == nil)
        #expect(pair.a.indexTable.isEmpty && pair.b.indexTable.isEmpty)
        #expect(pair.deliver(held, to: "b", from: "a") == .dropped(.unknownReceiver))
        // A fresh handshake still works afterwards.
        pair.send(from: "a", packet: Self.fromA)
        #expect(pair.peerOfA.current != nil)
        #expect(pair.delivered.count == 2)
    }

    @Test func persistentKeepaliveOnAnIdleTunnel() {
        let pair = TunnelPair(keepaliveA: 5)
        let start = pair.now.monotonic
        pair.a.start(now: pair.now)
        pair.pump()
        let initiations = pair.captured(to: "b", type: 1)
        #expect(initiations.count == 1 && initiations.first?.at == start, "start sends right away")
        #expect(pair.peerOfA.current != nil && pair.peerOfB.current != nil, "the staged keepalive confirms the session")
        pair.advance(seconds: 31)
        let keepalives = pair.keepalives(to: "b")
        #expect(keepalives.count == 7, "at 0, 5, 10, ..., 30 s")
        #expect(keepalives.first == start)
        for (later, earlier) in zip(keepalives.dropFirst(), keepalives) {
            #expect(later - earlier == 5 * Protocol.second)
        }
        #expect(pair.captured(to: "a", type: 4).isEmpty, "B has no persistent keepalive and nothing to answer")
    }

    @Test func noKeepalivesWithoutPersistentKeepalive() {
        let pair = TunnelPair()
        pair.a.start(now: pair.now)
        pair.pump()
        #expect(pair.captured.isEmpty, "start does nothing for peers without persistent keepalive")
        #expect(pair.establish())
        pair.advance(seconds: 11)
        pair.advance(seconds: 60)
        #expect(pair.keepalives(to: "b").isEmpty)
        #expect(pair.keepalives(to: "a").count == 1, "only the passive one")
    }
}
