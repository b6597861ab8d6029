/// An account on an EVM chain: the last 20 bytes of Keccak-256 of an uncompressed
/// secp256k1 public key (without its 0x04 prefix).
///
/// Printed with the EIP-55 checksum (a mix of capitals that encodes a hash of the address),
/// so a mistyped address pasted into a config or a wallet is caught.
public struct EthereumAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let length = 20

    public let bytes: [UInt8]

    /// nil unless exactly 20 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.length else { return nil }
        self.bytes = bytes
    }

    init(checked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The address of a 64-byte public key (X ‖ Y, big-endian); nil for another length.
    public init?(publicKey: [UInt8]) {
        guard publicKey.count == 64 else { return nil }
        bytes = Array(Keccak256.hash(publicKey)[12..<32])
    }

    /// Parses `0x` and 40 hex digits. All-lowercase and all-uppercase digits carry no checksum
    /// and are accepted as they are; mixed case must be exactly the EIP-55 form.
    public init(parsing text: String) throws(PaymentError) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 2 + 2 * Self.length, utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "x") else {
            throw .notHex
        }
        guard let decoded = Hex.decode(text) else { throw .notHex }
        let digits = utf8[2...]
        let hasLower = digits.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f") }
        let hasUpper = digits.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") }
        bytes = decoded
        if hasLower && hasUpper {
            guard description == text else { throw .badChecksum }
        }
    }

    /// EIP-55: hex digit i is a capital when nibble i of Keccak-256(lowercase hex) is ≥ 8.
    public var description: String {
        let lower = Array(Hex.encode(bytes).utf8)
        let hash = Keccak256.hash(lower)
        var out = Array("0x".utf8)
        for (index, character) in lower.enumerated() {
            let nibble = index % 2 == 0 ? hash[index / 2] >> 4 : hash[index / 2] & 0x0F
            if character >= UInt8(ascii: "a"), nibble >= 8 {
                out.append(character - 0x20)
            } else {
                out.append(character)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func < (a: EthereumAddress, b: EthereumAddress) -> Bool {
        a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}
