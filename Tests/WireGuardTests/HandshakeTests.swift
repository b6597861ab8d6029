import Testing
import WarrenCrypto
@testable import WireGuard

@Suite struct HandshakeTests {
    @Test func handshakeThenDataBothWays() {
        let pair = TunnelPair()
        let packet = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")
        let first = pair.send(from: "a", packet: packet)
        guard case .staged = first else { Issue.record("first packet should wait for the handshake"); return }
        #expect(pair.dropped == [])
        #expect(pair.delivered.count == 1)
        #expect(pair.delivered.first?.packet == packet)
        // B learned A's endpoint from the handshake and can answer.
        let reply = ipv4Packet(from: "192.168.4.2", to: "192.168.4.1")
        pair.send(from: "b", packet: reply)
        #expect(pair.delivered.last?.to == "a")
        #expect(pair.delivered.last?.packet == reply)
        #expect(pair.peerOfA.latestHandshakeWall > 0 && pair.peerOfB.latestHandshakeWall > 0)
    }
}
