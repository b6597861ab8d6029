/// A payment channel's id: 32 bytes, as the contract keys its channels.
///
///     channelId = keccak256(consumer (20) ‖ provider (20) ‖ salt (32))
///
/// packed (Solidity's `abi.encodePacked(address, address, bytes32)`), so a contract computes
/// it from `msg.sender`, the provider and the salt without trusting the caller's id. A fresh
/// random salt per channel lets one consumer open several channels to the same provider.
public struct ChannelID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let length = 32
    public static let saltLength = 32

    public let bytes: [UInt8]

    /// nil unless exactly 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.length else { return nil }
        self.bytes = bytes
    }

    public static func derive(consumer: EthereumAddress, provider: EthereumAddress, salt: [UInt8]) throws(PaymentError) -> ChannelID {
        guard salt.count == saltLength else { throw .wrongLength(expected: saltLength, actual: salt.count) }
        return ChannelID(checked: Keccak256.hash(consumer.bytes, provider.bytes, salt))
    }

    init(checked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// 0x and 64 lowercase hex digits.
    public var description: String { Hex.prefixed(bytes) }

    /// Parses 64 hex digits, with or without 0x.
    public init(parsing text: String) throws(PaymentError) {
        guard let decoded = Hex.decode(text) else { throw .notHex }
        guard decoded.count == Self.length else { throw .wrongLength(expected: Self.length, actual: decoded.count) }
        bytes = decoded
    }

    public static func < (a: ChannelID, b: ChannelID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// A one-way channel from a consumer to a provider: the consumer locks `deposit` until
/// `expiry`; the provider may claim up to the deposit with the consumer's best voucher
/// before expiry; after expiry the consumer takes back what was not claimed.
public struct Channel: Hashable, Sendable {
    public let id: ChannelID
    public let consumer: EthereumAddress
    public let provider: EthereumAddress
    public let salt: [UInt8]
    /// Base units of the token (18 decimals).
    public let deposit: UInt128
    /// Unix seconds; claims are accepted strictly before it, reclaims at or after it.
    public let expiry: UInt64

    /// A channel whose id is derived from its parties and salt (32 bytes).
    public init(consumer: EthereumAddress, provider: EthereumAddress, salt: [UInt8],
                deposit: UInt128, expiry: UInt64) throws(PaymentError) {
        id = try ChannelID.derive(consumer: consumer, provider: provider, salt: salt)
        self.consumer = consumer
        self.provider = provider
        self.salt = salt
        self.deposit = deposit
        self.expiry = expiry
    }
}
