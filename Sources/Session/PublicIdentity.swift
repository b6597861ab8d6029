import CSodium
import WarrenCrypto

/// A node as others know it: its Ed25519 public key, and the WireGuard key that follows from it.
///
/// The text form is what users paste into configs and chats, so it is short, survives URLs
/// and shells (base64url, no padding), says what it is (`wr1`), and carries a 2-byte checksum
/// that catches a mistyped or truncated paste before it becomes "provider not answering".
///
///     wr1 ‖ base64url(Ed25519 public key (32) ‖ BLAKE2s-16(public key) (2))   — 49 characters
public struct PublicIdentity: Hashable, Sendable, CustomStringConvertible {
    public static let prefix = "wr1"
    /// Characters after the prefix: 34 bytes in base64url without padding.
    public static let encodedLength = 46

    public let signingPublicKey: [UInt8]
    /// The X25519 form of `signingPublicKey`: the node's WireGuard static public key.
    public let wireGuardPublicKey: [UInt8]

    /// Accepts a 32-byte Ed25519 public key that has an X25519 form (libsodium refuses
    /// small-order and non-canonical points, which no honest key is).
    public init?(signingPublicKey: [UInt8]) {
        ensureSodium()
        guard signingPublicKey.count == 32 else { return nil }
        var curve = [UInt8](repeating: 0, count: 32)
        guard crypto_sign_ed25519_pk_to_curve25519(&curve, signingPublicKey) == 0 else { return nil }
        self.signingPublicKey = signingPublicKey
        self.wireGuardPublicKey = curve
    }

    init(checked signingPublicKey: [UInt8], wireGuardPublicKey: [UInt8]) {
        self.signingPublicKey = signingPublicKey
        self.wireGuardPublicKey = wireGuardPublicKey
    }

    /// Parses the `wr1…` text form; surrounding whitespace from a paste is ignored.
    public init(parsing text: String) throws(IdentityTextError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.hasPrefix(Self.prefix) else { throw .notAnIdentity }
        let body = Array(trimmed.utf8.dropFirst(Self.prefix.utf8.count))
        guard body.count == Self.encodedLength else { throw .wrongLength(body.count) }
        let decoded: [UInt8]
        switch Base64URL.decode(body) {
        case .success(let bytes): decoded = bytes
        case .failure(let failure):
            let position = failure.position
            // Report the character as the user sees it, even if it is not ASCII.
            let character = String(decoding: [body[position]], as: UTF8.self).first ?? "?"
            throw .badCharacter(character, position: Self.prefix.count + position)
        }
        let key = Array(decoded[0..<32])
        guard Array(decoded[32..<34]) == Self.checksum(key) else { throw .badChecksum }
        guard let identity = PublicIdentity(signingPublicKey: key) else { throw .notAPublicKey }
        self = identity
    }

    /// `wr1` + base64url of the key and its checksum.
    public var description: String {
        Self.prefix + Base64URL.encode(signingPublicKey + Self.checksum(signingPublicKey))
    }

    static func checksum(_ key: [UInt8]) -> [UInt8] { BLAKE2s.hash(key, outputLength: 2) }
}

/// The name the CLI and the provider configuration use for a pasted identity.
public typealias ProviderIdentity = PublicIdentity

/// Why a pasted identity was not accepted, worded for the person who pasted it.
public enum IdentityTextError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAnIdentity
    case wrongLength(Int)
    case badCharacter(Character, position: Int)
    case badChecksum
    case notAPublicKey

    public var description: String {
        switch self {
        case .notAnIdentity:
            return "not a warren identity: expected wr1… as printed by `warren id`"
        case .wrongLength(let count):
            return "not a warren identity: wr1 is followed by \(PublicIdentity.encodedLength) characters, "
                + "this has \(count) (cut short or run together when pasted?)"
        case .badCharacter(let character, let position):
            return "not a warren identity: character \(position + 1) ('\(character)') cannot appear there"
        case .badChecksum:
            return "not a warren identity: the checksum does not match (a character was changed or mistyped)"
        case .notAPublicKey:
            return "not a warren identity: the checksum matches but the key is not a usable Ed25519 public key"
        }
    }
}

/// base64url without padding (RFC 4648 section 5), canonical only: the unused low bits of the
/// last character must be zero, so each identity has exactly one text form.
enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for i in 0..<(chunk.count + 1) { out.append(alphabet[Int(value >> (18 - 6 * UInt32(i)) & 63)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The decoded bytes, or the position of the first character that cannot stand where it is.
    static func decode(_ text: [UInt8]) -> Result<[UInt8], DecodeFailure> {
        guard text.count % 4 != 1 else { return .failure(DecodeFailure(position: text.count - 1)) }
        var values: [UInt32] = []
        values.reserveCapacity(text.count)
        for (position, character) in text.enumerated() {
            guard let value = sextet(character) else { return .failure(DecodeFailure(position: position)) }
            values.append(value)
        }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let group = Array(values[index..<min(index + 4, values.count)])
            let value = group.enumerated().reduce(UInt32(0)) { $0 | $1.element << (18 - 6 * UInt32($1.offset)) }
            let produced = group.count - 1
            for i in 0..<produced { out.append(UInt8(truncatingIfNeeded: value >> (16 - 8 * UInt32(i)))) }
            // The bits past the last whole byte must be zero, or two texts would mean one key.
            let unusedBits = UInt32(6 * group.count - 8 * produced)
            if unusedBits > 0 && value >> (24 - 6 * UInt32(group.count)) & ((1 << unusedBits) - 1) != 0 {
                return .failure(DecodeFailure(position: index + group.count - 1))
            }
            index += 4
        }
        return .success(out)
    }

    struct DecodeFailure: Error { let position: Int }

    private static func sextet(_ character: UInt8) -> UInt32? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(character - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(character - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(character - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }
}

extension String {
    /// The text without leading and trailing spaces, tabs and line breaks (what a paste adds).
    func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        var result = Substring(self)
        while let first = result.first, isSpace(first) { result = result.dropFirst() }
        while let last = result.last, isSpace(last) { result = result.dropLast() }
        return result
    }
}
