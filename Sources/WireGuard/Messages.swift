/// WireGuard's four message types, byte for byte.
///
/// Every parser checks the type and the exact length first, so the code after
/// it can trust every offset. Integers on the wire are little-endian.
public enum MessageType: UInt8, Sendable {
    case handshakeInitiation = 1
    case handshakeResponse = 2
    case cookieReply = 3
    case transportData = 4
}

/// Byte sizes of the fixed-length messages and their MAC offsets.
public enum MessageLayout {
    public static let initiationLength = 148
    public static let responseLength = 92
    public static let cookieReplyLength = 64
    public static let transportHeaderLength = 16
    public static let transportMinimumLength = 32   // header + empty payload's tag

    /// MAC1 covers everything before it; MAC2 everything before MAC2.
    public static func mac1Offset(messageLength: Int) -> Int { messageLength - 32 }
    public static func mac2Offset(messageLength: Int) -> Int { messageLength - 16 }
}

/// What an incoming datagram is, decided from its first byte and exact length.
public enum MessageKind: Equatable, Sendable {
    case handshakeInitiation
    case handshakeResponse
    case cookieReply
    case transportData
    case invalid

    public static func classify(_ datagram: UnsafeRawBufferPointer) -> MessageKind {
        guard datagram.count >= 4 else { return .invalid }
        // The three reserved bytes must be zero.
        guard datagram[1] == 0, datagram[2] == 0, datagram[3] == 0 else { return .invalid }
        switch datagram[0] {
        case 1: return datagram.count == MessageLayout.initiationLength ? .handshakeInitiation : .invalid
        case 2: return datagram.count == MessageLayout.responseLength ? .handshakeResponse : .invalid
        case 3: return datagram.count == MessageLayout.cookieReplyLength ? .cookieReply : .invalid
        case 4: return datagram.count >= MessageLayout.transportMinimumLength ? .transportData : .invalid
        default: return .invalid
        }
    }
}

@inline(__always)
func readLE32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}

@inline(__always)
func readLE64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(readLE32(bytes, offset)) | UInt64(readLE32(bytes, offset + 4)) << 32
}

func appendLE32(_ value: UInt32, to out: inout [UInt8]) {
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
}

/// Message type 1: the initiator's first flight.
public struct HandshakeInitiation: Equatable, Sendable {
    public var senderIndex: UInt32
    public var ephemeral: [UInt8]          // 32
    public var encryptedStatic: [UInt8]    // 32 + 16
    public var encryptedTimestamp: [UInt8] // 12 + 16
    public var mac1: [UInt8]               // 16
    public var mac2: [UInt8]               // 16

    public init(senderIndex: UInt32, ephemeral: [UInt8], encryptedStatic: [UInt8], encryptedTimestamp: [UInt8],
                mac1: [UInt8] = Array(repeating: 0, count: 16), mac2: [UInt8] = Array(repeating: 0, count: 16)) {
        self.senderIndex = senderIndex
        self.ephemeral = ephemeral
        self.encryptedStatic = encryptedStatic
        self.encryptedTimestamp = encryptedTimestamp
        self.mac1 = mac1
        self.mac2 = mac2
    }

    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count == MessageLayout.initiationLength, bytes[0] == 1, bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { return nil }
        senderIndex = readLE32(bytes, 4)
        ephemeral = Array(bytes[8..<40])
        encryptedStatic = Array(bytes[40..<88])
        encryptedTimestamp = Array(bytes[88..<116])
        mac1 = Array(bytes[116..<132])
        mac2 = Array(bytes[132..<148])
    }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = [1, 0, 0, 0]
        out.reserveCapacity(MessageLayout.initiationLength)
        appendLE32(senderIndex, to: &out)
        out += ephemeral + encryptedStatic + encryptedTimestamp + mac1 + mac2
        return out
    }
}

/// Message type 2: the responder's answer.
public struct HandshakeResponse: Equatable, Sendable {
    public var senderIndex: UInt32
    public var receiverIndex: UInt32
    public var ephemeral: [UInt8]       // 32
    public var encryptedNothing: [UInt8] // 0 + 16
    public var mac1: [UInt8]
    public var mac2: [UInt8]

    public init(senderIndex: UInt32, receiverIndex: UInt32, ephemeral: [UInt8], encryptedNothing: [UInt8],
                mac1: [UInt8] = Array(repeating: 0, count: 16), mac2: [UInt8] = Array(repeating: 0, count: 16)) {
        self.senderIndex = senderIndex
        self.receiverIndex = receiverIndex
        self.ephemeral = ephemeral
        self.encryptedNothing = encryptedNothing
        self.mac1 = mac1
        self.mac2 = mac2
    }

    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count == MessageLayout.responseLength, bytes[0] == 2, bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { return nil }
        senderIndex = readLE32(bytes, 4)
        receiverIndex = readLE32(bytes, 8)
        ephemeral = Array(bytes[12..<44])
        encryptedNothing = Array(bytes[44..<60])
        mac1 = Array(bytes[60..<76])
        mac2 = Array(bytes[76..<92])
    }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = [2, 0, 0, 0]
        out.reserveCapacity(MessageLayout.responseLength)
        appendLE32(senderIndex, to: &out)
        appendLE32(receiverIndex, to: &out)
        out += ephemeral + encryptedNothing + mac1 + mac2
        return out
    }
}

/// Message type 3: sent instead of a response when under load.
public struct CookieReply: Equatable, Sendable {
    public var receiverIndex: UInt32
    public var nonce: [UInt8]           // 24
    public var encryptedCookie: [UInt8] // 16 + 16

    public init(receiverIndex: UInt32, nonce: [UInt8], encryptedCookie: [UInt8]) {
        self.receiverIndex = receiverIndex
        self.nonce = nonce
        self.encryptedCookie = encryptedCookie
    }

    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count == MessageLayout.cookieReplyLength, bytes[0] == 3, bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { return nil }
        receiverIndex = readLE32(bytes, 4)
        nonce = Array(bytes[8..<32])
        encryptedCookie = Array(bytes[32..<64])
    }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = [3, 0, 0, 0]
        appendLE32(receiverIndex, to: &out)
        out += nonce + encryptedCookie
        return out
    }
}

/// Message type 4's header; the encrypted packet follows it in the same buffer.
public struct TransportHeader: Equatable, Sendable {
    public var receiverIndex: UInt32
    public var counter: UInt64

    public init(receiverIndex: UInt32, counter: UInt64) {
        self.receiverIndex = receiverIndex
        self.counter = counter
    }

    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MessageLayout.transportMinimumLength, bytes[0] == 4, bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { return nil }
        receiverIndex = readLE32(bytes, 4)
        counter = readLE64(bytes, 8)
    }

    @inline(__always)
    public func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: UInt32(4).littleEndian, toByteOffset: 0, as: UInt32.self)
        pointer.storeBytes(of: receiverIndex.littleEndian, toByteOffset: 4, as: UInt32.self)
        pointer.storeBytes(of: counter.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
}
