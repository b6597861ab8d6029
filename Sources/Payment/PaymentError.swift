/// Why a payment message, key, address or signature was refused. Each case names what was
/// wrong so a log says more than "bad voucher".
public enum PaymentError: Error, Equatable, Sendable {
    /// The first byte is not the message type expected here.
    case wrongType(UInt8)
    /// A fixed-size field or message had another length.
    case wrongLength(expected: Int, actual: Int)
    /// Reserved bytes must be zero, so that they can mean something later.
    case nonZeroReserved
    /// A uint256 on the wire holds a value above what warren keeps (amounts are UInt128).
    case amountTooLarge
    /// Text that should be hex is not (odd length, other characters, missing 0x).
    case notHex
    /// A mixed-case address whose capitals do not match its EIP-55 checksum.
    case badChecksum
    /// r or s is zero or not below the curve order, or v is not 27 or 28.
    case malformedSignature
    /// s is in the upper half of the curve order: a malleated twin of a valid signature.
    case highS
    /// A 32-byte string that is not a valid secp256k1 private key (zero or ≥ the order).
    case invalidPrivateKey
    /// A field holds a value its encoding cannot hold (named by the field).
    case invalidField(String)
}

// MARK: Hex

/// Lowercase hex, without and with the 0x prefix Ethereum tools print.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func prefixed(_ bytes: [UInt8]) -> String { "0x" + encode(bytes) }

    /// Decodes hex of either case, with or without a 0x prefix; nil on anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var utf8 = Array(text.utf8)
        if utf8.count >= 2, utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "x") || utf8[1] == UInt8(ascii: "X") {
            utf8.removeFirst(2)
        }
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

// MARK: uint256, as EIP-712 and the wire carry amounts

/// Amounts are uint256 on chain and on the wire, UInt128 inside warren: 2^128 base units is
/// about 3.4 × 10^20 tokens at 18 decimals, far beyond any deposit.
enum UInt256 {
    /// 32 bytes, big-endian, the top 16 zero.
    static func encode(_ value: UInt128) -> [UInt8] {
        [UInt8](repeating: 0, count: 16) + bigEndian(value)
    }

    static func encode(_ value: UInt64) -> [UInt8] {
        [UInt8](repeating: 0, count: 24) + bigEndian(value)
    }

    /// The value of a 32-byte big-endian word, or nil when it needs more than 128 bits.
    static func decode(_ word: [UInt8]) -> UInt128? {
        guard word.count == 32, word[0..<16].allSatisfy({ $0 == 0 }) else { return nil }
        return word[16..<32].reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
    }
}

func bigEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T) -> [UInt8] {
    let width = T.bitWidth / 8
    return (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * (width - 1 - $0))) }
}

// MARK: Reading and writing fixed layouts (big-endian throughout)

/// Reads fields from a buffer whose exact length the caller has already checked.
struct PaymentReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) -> [UInt8] {
        // A layout constant out of step with the buffer is a bug here, not hostile input.
        precondition(offset + count <= bytes.count, "payment layout out of step with its buffer")
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func unsigned<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) -> T {
        take(T.bitWidth / 8).reduce(T(0)) { $0 << 8 | T($1) }
    }
}

/// Checks type, exact length and reserved bytes: the first thing every payment parser does.
/// `flags` are the bits byte 1 may carry (none for most messages).
func checkHeader(_ bytes: [UInt8], type: PaymentMessageType, length: Int, flags: UInt8 = 0) throws(PaymentError) {
    guard let first = bytes.first else { throw .wrongLength(expected: length, actual: 0) }
    guard first == type.rawValue else { throw .wrongType(first) }
    guard bytes.count == length else { throw .wrongLength(expected: length, actual: bytes.count) }
    guard bytes[1] & ~flags == 0, bytes[2] == 0, bytes[3] == 0 else { throw .nonZeroReserved }
}
