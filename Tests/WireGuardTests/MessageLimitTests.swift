import Testing
@testable import WireGuard

/// Message-count limits (paper, section 6.1: Rekey-After-Messages, Reject-After-Messages),
/// reached by moving a session's send counter forward instead of sending 2^60 packets.
@Suite struct MessageLimitTests {
    static let fromA = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")
    static let fromB = ipv4Packet(from: "192.168.4.2", to: "192.168.4.1")

    @Test func initiatorRekeysAfterRekeyAfterMessages() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let session = try #require(pair.peerOfA.current)
        session.sendCounter = Protocol.rekeyAfterMessages - 1
        pair.send(from: "a", packet: Self.fromA)
        #expect(pair.captured(to: "b", type: 1).count == 1, "below the limit")
        pair.advance(seconds: 6)   // clear of RekeyTimeout since the first handshake
        pair.send(from: "a", packet: Self.fromA)
        #expect(pair.captured(to: "b", type: 1).count == 2)
        #expect(pair.peerOfA.current !== session)
        #expect(pair.delivered.count == 3)
    }

    @Test
    func responderAlsoRekeysAfterRekeyAfterMessages() throws {
        // The message limit binds both sides (the kernel's and wireguard-go's keep_key_fresh);
        // only the time limit is left to the initiator.
        let pair = TunnelPair()
        #expect(pair.establish())
        let session = try #require(pair.peerOfB.current)
        session.sendCounter = Protocol.rekeyAfterMessages
        pair.send(from: "b", packet: Self.fromB)
        #expect(pair.captured(to: "a", type: 1).count == 1, "B starts a handshake")
        #expect(pair.delivered.count == 2)
    }

    @Test func noSendingAtRejectAfterMessages() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let session = try #require(pair.peerOfA.current)
        session.sendCounter = Protocol.rejectAfterMessages
        pair.advance(seconds: 11)
        pair.linkUp = false
        guard case .staged = pair.send(from: "a", packet: Self.fromA) else {
            Issue.record("A sent with an exhausted session")
            return
        }
        #expect(pair.captured(to: "b", type: 1).count == 2, "a new handshake instead")
    }
}
