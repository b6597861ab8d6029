import WarrenCrypto
import WireGuard

/// warren's own message types. They share the UDP port with WireGuard (types 1–4), which
/// drops anything else, so a stock WireGuard peer simply ignores them.
public enum SessionMessageType: UInt8, Sendable {
    case request = 5
    case response = 6
    case close = 7
}

/// Byte sizes and offsets of the session messages (docs/SESSION-PROTOCOL.md has the tables).
///
/// Every message has one fixed length, so a parser decides by type and length alone before it
/// spends any cryptography, and a length is also a cheap fingerprint for classifying datagrams.
public enum SessionLayout {
    public static let headerLength = 4
    public static let keyLength = 32
    public static let signatureLength = 64
    public static let tagLength = 16
    public static let digestLength = 16
    public static let timestampLength = 12
    public static let nonceLength = 16
    public static let priceLength = 16
    public static let channelLength = 32
    public static let reasonLength = 64

    /// The request's cleartext prefix: header and ephemeral key, the AEAD's additional data.
    public static let requestClearLength = headerLength + keyLength                        // 36
    /// Request plaintext up to (not including) the consumer's signature.
    public static let requestSignedFieldsLength = 160
    public static let requestPlaintextLength = requestSignedFieldsLength + signatureLength  // 224
    public static let requestLength = requestClearLength + requestPlaintextLength + tagLength  // 276

    /// The response's cleartext prefix: header, request digest and response nonce.
    public static let responseClearLength = headerLength + digestLength + nonceLength      // 36
    public static let responsePlaintextLength = 188
    public static let responseLength = responseClearLength + responsePlaintextLength + tagLength  // 240

    /// The close message's signed prefix: header, consumer identity, session id, timestamp.
    public static let closeSignedLength = headerLength + keyLength + 4 + timestampLength   // 52
    public static let closeLength = closeSignedLength + signatureLength                    // 116

    /// The version byte inside the request; a new version gets new labels as well.
    public static let requestVersion: UInt8 = 1
}

/// Domain-separation strings. Each key and signature is bound to its one purpose, so no
/// value made for one message can be replayed as part of another.
enum SessionLabel {
    static let requestKey = Array("warren session v1 request".utf8)
    static let responseKey = Array("warren session v1 response".utf8)
    static let requestSignature = Array("warren session request v1".utf8)
    static let closeSignature = Array("warren session close v1".utf8)

    /// Initial chaining keys: HASH(label), computed once.
    static let requestChainKey = BLAKE2s.hash(requestKey)
    static let responseChainKey = BLAKE2s.hash(responseKey)
}

/// Why a session message was refused. Each case names what was wrong so the agent's log says
/// more than "bad packet"; none of them reveals anything an attacker could not compute.
public enum SessionError: Error, Equatable, Sendable {
    /// The first byte is not the message type expected here.
    case wrongType(UInt8)
    /// Every session message has one exact length.
    case wrongLength(expected: Int, actual: Int)
    /// Reserved bytes must be zero, so that they can mean something later.
    case nonZeroReserved
    /// The request's version byte names a version this code does not speak.
    case unsupportedVersion(UInt8)
    /// A public key gave an all-zero Diffie-Hellman result (a low-order point).
    case weakKey
    /// The AEAD tag did not verify: wrong key, or the bytes were changed.
    case authenticationFailed
    /// The Ed25519 signature did not verify for the claimed identity.
    case badSignature
    /// A signed close came from an identity other than the session's consumer.
    case wrongIdentity
    /// A response names a request digest other than the one this consumer sent.
    case requestMismatch
    /// A field holds a value its encoding cannot hold (named by the field).
    case invalidField(String)
}

// MARK: Byte helpers (big-endian: warren's own messages use network order throughout)

/// Reads fields from a buffer whose exact length the caller has already checked.
struct WireReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) -> [UInt8] {
        // A layout constant out of step with the buffer is a bug here, not hostile input.
        precondition(offset + count <= bytes.count, "session layout out of step with its buffer")
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func uint8() -> UInt8 { take(1)[0] }

    mutating func unsigned<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) -> T {
        take(T.bitWidth / 8).reduce(T(0)) { $0 << 8 | T($1) }
    }
}

/// Appends fields in the message's order.
struct WireWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func append(_ field: [UInt8]) { bytes += field }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }

    mutating func zeros(_ count: Int) { bytes += [UInt8](repeating: 0, count: count) }

    mutating func append<T: FixedWidthInteger & UnsignedInteger>(bigEndian value: T) {
        let width = T.bitWidth / 8
        for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * (width - 1 - i)))) }
    }
}

/// Checks type, reserved bytes and exact length: the first thing every parser does.
func checkHeader(_ bytes: UnsafeRawBufferPointer, type: SessionMessageType, length: Int) throws(SessionError) {
    guard bytes.count >= 1 else { throw .wrongLength(expected: length, actual: 0) }
    guard bytes[0] == type.rawValue else { throw .wrongType(bytes[0]) }
    guard bytes.count == length else { throw .wrongLength(expected: length, actual: bytes.count) }
    guard bytes[1] == 0, bytes[2] == 0, bytes[3] == 0 else { throw .nonZeroReserved }
}

/// BLAKE2s-128 of a whole datagram: how a response names the request it answers.
func sessionDigest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
    var hasher = BLAKE2s(outputLength: SessionLayout.digestLength)
    hasher.update(bytes)
    return hasher.finalize()
}

// MARK: TAI64N, read back

/// Decodes a TAI64N label (as `TAI64N.timestamp` writes it) to Unix nanoseconds.
///
/// WireGuard only compares labels; the session protocol needs the time itself, to hold a
/// request against the provider's clock. Labels before 1970 or with nanoseconds ≥ 10^9 are
/// not something an honest clock writes, so they are refused.
func decodeTAI64N(_ label: [UInt8]) -> UInt64? {
    guard label.count == SessionLayout.timestampLength else { return nil }
    var reader = WireReader(label)
    let seconds = reader.unsigned(UInt64.self)
    let nanoseconds = reader.unsigned(UInt32.self)
    let base: UInt64 = 0x4000_0000_0000_000A
    guard seconds >= base, nanoseconds < 1_000_000_000 else { return nil }
    let (scaled, overflow) = (seconds - base).multipliedReportingOverflow(by: 1_000_000_000)
    guard !overflow else { return nil }
    let (wall, overflow2) = scaled.addingReportingOverflow(UInt64(nanoseconds))
    return overflow2 ? nil : wall
}
