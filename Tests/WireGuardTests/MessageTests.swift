import Testing
@testable import WireGuard

/// The four wire formats of the WireGuard paper, section 5.4: exact lengths, type bytes,
/// zero reserved bytes and little-endian integers.
@Suite struct MessageTests {
    static func bytes(_ count: Int, from start: UInt8) -> [UInt8] {
        (0..<count).map { start &+ UInt8(truncatingIfNeeded: $0) }
    }

    static func classify(_ bytes: [UInt8]) -> MessageKind {
        bytes.withUnsafeBytes { MessageKind.classify($0) }
    }

    static let initiation = HandshakeInitiation(
        senderIndex: 0x0403_0201, ephemeral: bytes(32, from: 0x10), encryptedStatic: bytes(48, from: 0x40),
        encryptedTimestamp: bytes(28, from: 0x80), mac1: bytes(16, from: 0xA0), mac2: bytes(16, from: 0xC0))
    static let response = HandshakeResponse(
        senderIndex: 0x0403_0201, receiverIndex: 0x0807_0605, ephemeral: bytes(32, from: 0x10),
        encryptedNothing: bytes(16, from: 0x40), mac1: bytes(16, from: 0xA0), mac2: bytes(16, from: 0xC0))
    static let cookieReply = CookieReply(receiverIndex: 0x0403_0201, nonce: bytes(24, from: 0x10), encryptedCookie: bytes(32, from: 0x40))

    // MARK: Round trips and layout

    @Test func initiationRoundTripAndLayout() throws {
        let wire = Self.initiation.serialized()
        #expect(wire.count == 148)
        #expect(Array(wire[0..<8]) == [1, 0, 0, 0, 0x01, 0x02, 0x03, 0x04])
        #expect(Array(wire[8..<40]) == Self.initiation.ephemeral)
        #expect(Array(wire[40..<88]) == Self.initiation.encryptedStatic)
        #expect(Array(wire[88..<116]) == Self.initiation.encryptedTimestamp)
        #expect(Array(wire[116..<132]) == Self.initiation.mac1)
        #expect(Array(wire[132..<148]) == Self.initiation.mac2)
        #expect(MessageLayout.mac1Offset(messageLength: 148) == 116)
        #expect(MessageLayout.mac2Offset(messageLength: 148) == 132)
        let parsed = try #require(wire.withUnsafeBytes { HandshakeInitiation(parsing: $0) })
        #expect(parsed == Self.initiation)
        #expect(parsed.serialized() == wire)
        #expect(Self.classify(wire) == .handshakeInitiation)
    }

    @Test func responseRoundTripAndLayout() throws {
        let wire = Self.response.serialized()
        #expect(wire.count == 92)
        #expect(Array(wire[0..<12]) == [2, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
        #expect(Array(wire[12..<44]) == Self.response.ephemeral)
        #expect(Array(wire[44..<60]) == Self.response.encryptedNothing)
        #expect(Array(wire[60..<76]) == Self.response.mac1)
        #expect(Array(wire[76..<92]) == Self.response.mac2)
        #expect(MessageLayout.mac1Offset(messageLength: 92) == 60)
        #expect(MessageLayout.mac2Offset(messageLength: 92) == 76)
        let parsed = try #require(wire.withUnsafeBytes { HandshakeResponse(parsing: $0) })
        #expect(parsed == Self.response)
        #expect(parsed.serialized() == wire)
        #expect(Self.classify(wire) == .handshakeResponse)
    }

    @Test func cookieReplyRoundTripAndLayout() throws {
        let wire = Self.cookieReply.serialized()
        #expect(wire.count == 64)
        #expect(Array(wire[0..<8]) == [3, 0, 0, 0, 0x01, 0x02, 0x03, 0x04])
        #expect(Array(wire[8..<32]) == Self.cookieReply.nonce)
        #expect(Array(wire[32..<64]) == Self.cookieReply.encryptedCookie)
        let parsed = try #require(wire.withUnsafeBytes { CookieReply(parsing: $0) })
        #expect(parsed == Self.cookieReply)
        #expect(parsed.serialized() == wire)
        #expect(Self.classify(wire) == .cookieReply)
    }

    @Test func transportHeaderRoundTripAndLayout() throws {
        let header = TransportHeader(receiverIndex: 0x0403_0201, counter: 0x0807_0605_0403_0201)
        var wire = [UInt8](repeating: 0xEE, count: 32)
        wire.withUnsafeMutableBytes { header.write(to: $0.baseAddress!) }
        #expect(Array(wire[0..<16]) == [4, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
        #expect(Array(wire[16...]) == [UInt8](repeating: 0xEE, count: 16), "write touches only the 16-byte header")
        let parsed = try #require(wire.withUnsafeBytes { TransportHeader(parsing: $0) })
        #expect(parsed == header)
        #expect(Self.classify(wire) == .transportData)
        // The largest counter survives the trip: all 64 bits are carried.
        let top = TransportHeader(receiverIndex: .max, counter: .max - 1)
        wire.withUnsafeMutableBytes { top.write(to: $0.baseAddress!) }
        #expect(Array(wire[4..<16]) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFE] + [UInt8](repeating: 0xFF, count: 7))
        #expect(wire.withUnsafeBytes { TransportHeader(parsing: $0) } == top)
    }

    @Test func sealedTransportMessagesCarryIndexAndCounterLittleEndian() throws {
        let pair = TunnelPair()
        #expect(pair.establish())
        let keypair = try #require(pair.peerOfA.current)
        let first = try #require(pair.seal(from: "a", packet: ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")))
        let second = try #require(pair.seal(from: "a", packet: ipv4Packet(from: "192.168.4.1", to: "192.168.4.2")))
        #expect(Array(first[0..<4]) == [4, 0, 0, 0])
        #expect(le32(first, 4) == keypair.remoteIndex)
        #expect(le32(first, 4) == pair.peerOfB.current?.localIndex)
        #expect(le64(second, 8) == le64(first, 8) + 1, "counters count up by one per packet")
        let counter = le64(second, 8)
        #expect(second[8] == UInt8(counter & 0xFF) && second[9] == UInt8(counter >> 8 & 0xFF))
        #expect(Array(second[12..<16]) == [0, 0, 0, 0])
        #expect(first.count == 16 + 32 + 16, "a 25-byte packet is padded to 32 bytes and sealed with a 16-byte tag")
    }

    // MARK: Classification of bad input

    @Test func emptyAndTinyInputIsInvalid() {
        #expect(Self.classify([]) == .invalid)
        for count in 1...3 {
            #expect(Self.classify([4] + [UInt8](repeating: 0, count: count - 1)) == .invalid)
        }
        #expect(Self.classify([4, 0, 0, 0]) == .invalid)
    }

    @Test(arguments: [(UInt8(1), 148), (2, 92), (3, 64)])
    func fixedLengthMessagesNeedTheExactLength(type: UInt8, length: Int) {
        func message(_ count: Int) -> [UInt8] { [type, 0, 0, 0] + [UInt8](repeating: 0x5A, count: count - 4) }
        #expect(Self.classify(message(length)) != .invalid)
        for wrong in [length - 1, length + 1, length + 16, 32, 4, 1500] where wrong != length {
            #expect(Self.classify(message(wrong)) == .invalid, "type \(type) with \(wrong) bytes")
        }
        message(length - 1).withUnsafeBytes { raw in
            #expect(HandshakeInitiation(parsing: raw) == nil)
            #expect(HandshakeResponse(parsing: raw) == nil)
            #expect(CookieReply(parsing: raw) == nil)
        }
    }

    @Test func transportNeedsAtLeastThirtyTwoBytes() {
        func message(_ count: Int) -> [UInt8] { [4, 0, 0, 0] + [UInt8](repeating: 0x5A, count: count - 4) }
        #expect(Self.classify(message(31)) == .invalid)
        #expect(message(31).withUnsafeBytes { TransportHeader(parsing: $0) } == nil)
        for good in [32, 33, 48, 1500, 65535] {
            #expect(Self.classify(message(good)) == .transportData, "\(good) bytes")
        }
    }

    @Test(arguments: [UInt8(0), 5, 6, 0x10, 0x41, 0xFF])
    func unknownTypeBytesAreInvalid(type: UInt8) {
        for length in [32, 64, 92, 148] {
            #expect(Self.classify([type, 0, 0, 0] + [UInt8](repeating: 0, count: length - 4)) == .invalid)
        }
    }

    @Test(arguments: [1, 2, 3])
    func nonZeroReservedBytesAreInvalid(position: Int) {
        var messages = [Self.initiation.serialized(), Self.response.serialized(), Self.cookieReply.serialized(),
                        [4, 0, 0, 0] + [UInt8](repeating: 0, count: 28)]
        for i in messages.indices {
            messages[i][position] = 1
            #expect(Self.classify(messages[i]) == .invalid, "type \(messages[i][0]), reserved byte \(position)")
        }
        messages[0].withUnsafeBytes { #expect(HandshakeInitiation(parsing: $0) == nil) }
        messages[1].withUnsafeBytes { #expect(HandshakeResponse(parsing: $0) == nil) }
        messages[2].withUnsafeBytes { #expect(CookieReply(parsing: $0) == nil) }
        messages[3].withUnsafeBytes { #expect(TransportHeader(parsing: $0) == nil) }
    }

    @Test func parsersRejectAnotherTypesBytes() {
        // A parser checks its own type byte, even when the length happens to fit.
        var initiationSized = Self.initiation.serialized()
        initiationSized[0] = 2
        initiationSized.withUnsafeBytes { #expect(HandshakeInitiation(parsing: $0) == nil) }
        var responseSized = Self.response.serialized()
        responseSized[0] = 1
        responseSized.withUnsafeBytes { #expect(HandshakeResponse(parsing: $0) == nil) }
        var cookieSized = Self.cookieReply.serialized()
        cookieSized[0] = 4
        cookieSized.withUnsafeBytes { #expect(CookieReply(parsing: $0) == nil) }
        Self.cookieReply.serialized().withUnsafeBytes { #expect(TransportHeader(parsing: $0) == nil) }
    }
}
