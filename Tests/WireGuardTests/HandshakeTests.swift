import Testing
import WarrenCrypto
@testable import WireGuard

/// The handshake and the data path end to end (paper, sections 5.4 and 6): two tunnels
/// back to back, every datagram through the real parsers and ciphers.
@Suite struct HandshakeTests {
    static let fromA = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")
    static let fromB = ipv4Packet(from: "192.168.4.2", to: "192.168.4.1")

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

    @Test func oneInitiationOneResponseThenTransport() {
        let pair = TunnelPair()
        pair.establish()
        #expect(pair.captured.map { $0.bytes[0] } == [1, 2, 4], "initiation, response, then the staged packet")
        #expect(pair.captured(to: "b", type: 1).first?.bytes.count == 148)
        #expect(pair.captured(to: "a", type: 2).first?.bytes.count == 92)
        #expect(pair.peerOfB.endpoint == pair.endpointA, "the responder learns the initiator's endpoint")
    }

    @Test func withPresharedKey() {
        let psk = SeededEntropy(seed: [0x95, 0x4B]).bytes(32)
        let pair = TunnelPair(psk: psk)
        #expect(pair.establish())
        pair.send(from: "b", packet: Self.fromB)
        #expect(pair.delivered.map(\.to) == ["b", "a"])
        #expect(pair.dropped == [])
        // The PSK enters the key schedule: the same seeds without it give other session keys.
        let plain = TunnelPair()
        #expect(plain.establish())
        let withPSK = pair.seal(from: "a", packet: Self.fromA)
        let withoutPSK = plain.seal(from: "a", packet: Self.fromA)
        #expect(withPSK != nil && withoutPSK != nil)
        #expect(withPSK.map { Array($0[16...]) } != withoutPSK.map { Array($0[16...]) })
    }

    @Test(arguments: [
        (SeededEntropy(seed: [1]).bytes(32), SeededEntropy(seed: [2]).bytes(32)),
        ([UInt8](repeating: 0, count: 32), SeededEntropy(seed: [2]).bytes(32)),
        (SeededEntropy(seed: [1]).bytes(32), [UInt8](repeating: 0, count: 32)),
    ])
    func mismatchedPresharedKeyNeverCompletes(initiatorPSK: [UInt8], responderPSK: [UInt8]) {
        let pair = TunnelPair(psk: initiatorPSK, responderPSK: responderPSK)
        pair.send(from: "a", packet: Self.fromA)
        pair.advance(seconds: 30)
        #expect(pair.peerOfA.current == nil && pair.peerOfB.current == nil)
        #expect(pair.peerOfA.latestHandshakeWall == 0)
        #expect(pair.delivered.isEmpty)
        // Every response B sent (one per initiation) was refused by A.
        let responses = pair.captured(to: "a", type: 2).count
        #expect(responses >= 5)
        #expect(pair.a.drops[.handshakeRejected] == UInt64(responses))
        #expect(pair.captured(to: "b", type: 4).isEmpty, "no transport message without a session")
    }

    @Test func ipv6InnerPackets() {
        let pair = TunnelPair()
        let there = ipv6Packet(from: "fd00::1", to: "fd00::2", payload: Array(repeating: 0x66, count: 100))
        pair.send(from: "a", packet: there)
        let back = ipv6Packet(from: "fd00::2", to: "fd00::1")
        pair.send(from: "b", packet: back)
        #expect(pair.dropped == [])
        #expect(pair.delivered.map(\.to) == ["b", "a"])
        #expect(pair.delivered.first?.packet == there)
        #expect(pair.delivered.last?.packet == back)
    }

    @Test func initiationFromAnUnknownKeyIsRejected() throws {
        let pair = TunnelPair()
        // C knows B, but B does not know C.
        let c = Tunnel(privateKey: SeededEntropy(seed: [0xC]).privateKey(), entropy: SeededEntropy(seed: [0xC, 1]))
        c.addPeer(publicKey: pair.b.publicKey, endpoint: pair.endpointB, allowedIPs: [IPPrefix(parsing: "192.168.4.2/32")!])
        Self.fromA.withUnsafeBytes { _ = c.prepareSend(packet: $0, now: pair.now) }
        let initiation = try #require(c.takeOutgoing().first)
        #expect(initiation.bytes.count == 148)
        let outcome = pair.deliver(initiation.bytes, to: "b", from: "a")
        #expect(outcome == .dropped(.handshakeRejected))
        #expect(pair.b.drops[.handshakeRejected] == 1)
        #expect(!pair.b.hasOutgoing, "no response to a stranger")
        #expect(pair.b.indexTable.isEmpty)
    }

    @Test func replayedInitiationIsRejectedAndLeavesTheSessionAlone() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let initiation = try #require(pair.captured(to: "b", type: 1).first).bytes
        let sessionOfB = pair.peerOfB.current
        pair.advance(seconds: 1)   // well past the flood limit, so only the timestamp can refuse it
        let sentBefore = pair.captured.count
        #expect(pair.deliver(initiation, to: "b", from: "a") == .dropped(.handshakeRejected))
        #expect(pair.b.drops[.handshakeRejected] == 1)
        #expect(!pair.b.hasOutgoing, "no response to a replay")
        #expect(pair.captured.count == sentBefore + 1)
        #expect(pair.peerOfB.current === sessionOfB && pair.peerOfB.next == nil)
        pair.send(from: "a", packet: Self.fromA)
        pair.send(from: "b", packet: Self.fromB)
        #expect(pair.delivered.map(\.to) == ["b", "b", "a"])
    }

    @Test func initiationsFasterThanTheMinimumIntervalAreRejected() throws {
        let pair = TunnelPair()
        pair.linkUp = false
        pair.send(from: "a", packet: Self.fromA)
        pair.advance(seconds: 5.5)   // A retransmits: a second initiation with a later timestamp
        let initiations = pair.captured(to: "b", type: 1).map(\.bytes)
        try #require(initiations.count == 2)
        pair.linkUp = true
        #expect(pair.deliver(initiations[0], to: "b", from: "a") == .handled)
        _ = pair.b.takeOutgoing()
        let interval = Protocol.initiationMinimumInterval
        pair.now = pair.now.advanced(by: interval / 2)
        #expect(pair.deliver(initiations[1], to: "b", from: "a") == .dropped(.handshakeRejected))
        #expect(!pair.b.hasOutgoing)
        // The same message is welcome once the interval has passed: the refusal was the rate.
        pair.now = pair.now.advanced(by: interval)
        #expect(pair.deliver(initiations[1], to: "b", from: "a") == .handled)
        pair.pump()
        #expect(pair.peerOfA.current != nil)
        #expect(pair.delivered.map(\.packet) == [Self.fromA])
    }

    @Test func replayedResponseIsDropped() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let response = try #require(pair.captured(to: "a", type: 2).first).bytes
        let session = pair.peerOfA.current
        #expect(pair.deliver(response, to: "a", from: "b") == .dropped(.unknownReceiver))
        #expect(pair.peerOfA.current === session)
        pair.send(from: "a", packet: Self.fromA)
        #expect(pair.delivered.count == 2)
    }

    @Test
    func simultaneousInitiationsStillCarryTraffic() throws {
        // Both sides start a handshake at once (their sessions expired together). Each then
        // holds an initiator session of its own and a responder session for the other's
        // initiation; packets sealed with either must open on the other side, as in the
        // kernel's add_new_keypair, which keeps a pending `next` as `previous`.
        let pair = TunnelPair()
        #expect(pair.establish())
        pair.send(from: "b", packet: Self.fromB)
        pair.advance(seconds: 181)
        #expect(pair.seal(from: "a", packet: Self.fromA) == nil, "staged: A starts a handshake")
        #expect(pair.seal(from: "b", packet: Self.fromB) == nil, "staged: B starts a handshake")
        #expect(pair.a.hasOutgoing && pair.b.hasOutgoing)
        pair.pump()
        #expect(pair.dropped == [])
        #expect(pair.delivered.map(\.to) == ["b", "a", "b", "a"])
        pair.send(from: "a", packet: Self.fromA)
        pair.send(from: "b", packet: Self.fromB)
        #expect(pair.delivered.count == 6)
    }

    @Test func garbageIsCountedAsMalformedAndLeavesTheSessionAlone() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let initiation = try #require(pair.captured(to: "b", type: 1).first).bytes
        let response = try #require(pair.captured(to: "a", type: 2).first).bytes
        let transport = try #require(pair.seal(from: "a", packet: Self.fromA))
        var reservedSet = transport
        reservedSet[2] = 1
        var wrongType = initiation
        wrongType[0] = 7
        let garbage: [[UInt8]] = [
            [], [1], [4, 0, 0], [4, 0, 0, 0],
            Array(initiation.dropLast()), initiation + [0], Array(response.dropLast()), response + [0],
            MessageTests.cookieReply.serialized() + [0], Array(transport.prefix(31)),
            reservedSet, wrongType, [UInt8](repeating: 0xFF, count: 200),
        ]
        for (i, bytes) in garbage.enumerated() {
            #expect(pair.deliver(bytes, to: "b", from: "a") == .dropped(.malformed), "garbage #\(i)")
            #expect(pair.deliver(bytes, to: "a", from: "b") == .dropped(.malformed), "garbage #\(i)")
        }
        #expect(pair.a.drops[.malformed] == UInt64(garbage.count))
        #expect(pair.b.drops[.malformed] == UInt64(garbage.count))
        #expect(!pair.a.hasOutgoing && !pair.b.hasOutgoing)
        #expect(pair.deliver(transport, to: "b", from: "a") == .delivered(Self.fromA))
        pair.send(from: "b", packet: Self.fromB)
        #expect(pair.delivered.map(\.to) == ["b", "b", "a"])
    }

    @Test func transportDeliveredTwiceIsReplayed() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let message = try #require(pair.seal(from: "a", packet: Self.fromA))
        #expect(pair.deliver(message, to: "b", from: "a") == .delivered(Self.fromA))
        #expect(pair.deliver(message, to: "b", from: "a") == .dropped(.replayed))
        #expect(pair.b.drops[.replayed] == 1)
        #expect(pair.delivered.count == 2)
    }

    @Test func flippedCiphertextBitFailsToOpen() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let message = try #require(pair.seal(from: "a", packet: Self.fromA))
        for position in [16, 30, message.count - 1] {
            var tampered = message
            tampered[position] ^= 0x01
            #expect(pair.deliver(tampered, to: "b", from: "a") == .dropped(.decryptFailed), "bit flipped at \(position)")
        }
        #expect(pair.b.drops[.decryptFailed] == 3)
        // A forgery does not burn the counter: the genuine message still opens.
        #expect(pair.deliver(message, to: "b", from: "a") == .delivered(Self.fromA))
    }

    @Test func transportWithAnotherCounterFailsToOpen() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        var message = try #require(pair.seal(from: "a", packet: Self.fromA))
        message[8] &+= 1   // the counter is the nonce: changing it breaks authentication
        #expect(pair.deliver(message, to: "b", from: "a") == .dropped(.decryptFailed))
    }

    @Test func innerSourceOutsideTheSendersAllowedIPsIsDropped() {
        let pair = TunnelPair()
        #expect(pair.establish())
        // B also has a peer D owning 192.168.4.99; A must not be able to speak for it.
        pair.b.addPeer(publicKey: SeededEntropy(seed: [0xD]).bytes(32), allowedIPs: [IPPrefix(parsing: "192.168.4.99/32")!])
        for source in ["192.168.4.99", "192.168.4.3", "10.0.0.1"] {
            pair.send(from: "a", packet: ipv4Packet(from: source, to: "192.168.4.2"))
        }
        pair.send(from: "a", packet: ipv6Packet(from: "fd00::99", to: "fd00::2"))
        #expect(pair.dropped == [.disallowedSource, .disallowedSource, .disallowedSource, .disallowedSource])
        #expect(pair.b.drops[.disallowedSource] == 4)
        #expect(pair.delivered.count == 1, "only the packet of the handshake")
    }

    @Test func destinationWithoutAPeerHasNoRoute() {
        let pair = TunnelPair()
        for packet in [ipv4Packet(from: "192.168.4.1", to: "10.9.9.9"), ipv6Packet(from: "fd00::1", to: "fd00::77"),
                       [0x50] + [UInt8](repeating: 0, count: 40), [0x45, 0, 0], []] {
            guard case .drop(.noRoute) = pair.send(from: "a", packet: packet) else {
                Issue.record("\(packet.count)-byte packet should have no route")
                continue
            }
        }
        #expect(pair.a.drops[.noRoute] == 5)
        #expect(pair.captured.isEmpty, "no handshake for a packet with nowhere to go")
    }

    @Test func packetsArePaddedToSixteenBytes() {
        // Paper, section 5.4.6: plaintext is zero-padded to a multiple of 16 (never past the MTU).
        let pair = TunnelPair()
        #expect(pair.establish())
        for payload in [0, 1, 11, 12, 13, 100] {
            let packet = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2", payload: Array(repeating: 7, count: payload))
            let padded = (packet.count + 15) / 16 * 16
            #expect(pair.seal(from: "a", packet: packet)?.count == 16 + padded + 16, "\(packet.count)-byte packet")
        }
        pair.a.mtu = 1420
        let large = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2", payload: Array(repeating: 7, count: 1419 - 20))
        #expect(pair.seal(from: "a", packet: large)?.count == 16 + 1420 + 16, "padding stops at the MTU")
    }

    @Test func sameSeedsAndTimeGiveTheSameInitiation() throws {
        func firstInitiation(seed: UInt8) throws -> [UInt8] {
            let pair = TunnelPair(seed: seed)
            pair.linkUp = false
            pair.send(from: "a", packet: Self.fromA)
            return try #require(pair.captured(to: "b", type: 1).first).bytes
        }
        let one = try firstInitiation(seed: 1)
        let two = try firstInitiation(seed: 1)
        #expect(one == two)
        #expect(try firstInitiation(seed: 2) != one)
        // Pinned: type 1, three zero bytes, then the sender index (from the seeded entropy) little-endian.
        #expect(one.count == 148)
        #expect(Array(one[0..<8]) == Self.pinnedInitiationHead)
        let pair = TunnelPair(seed: 1)
        pair.linkUp = false
        pair.send(from: "a", packet: Self.fromA)
        #expect(le32(one, 4) == pair.peerOfA.handshake?.localIndex)
    }

    /// The sender index is A's first draw of entropy: the first four bytes of
    /// BLAKE2s(seed [1, 1] || counter 1 as 8 LE bytes) = 40 2d 6c e6, read as the
    /// big-endian value 0x402d6ce6, which goes on the wire little-endian.
    static let pinnedInitiationHead: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0xE6, 0x6C, 0x2D, 0x40]
}
