/// EIP-712 typed structured data: how a voucher becomes the 32-byte digest a wallet signs
/// and an EVM contract rebuilds before `ecrecover`.
///
///     digest     = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))
///     hashStruct = keccak256(typeHash ‖ encodeData(fields in declared order))
///     typeHash   = keccak256(encodeType), e.g. "Voucher(bytes32 channelId,uint256 cumulativeAmount)"
///
/// Each field encodes to one 32-byte word: atomic values padded (uint big-endian on the left,
/// address left-padded with zeros, bytes32 as is), `string` and `bytes` as the Keccak-256 of
/// their contents, and a nested struct as its own hashStruct. These helpers are all warren's
/// types need; the tests build the EIP's own "Mail" example from them.
public enum EIP712 {
    public static func typeHash(_ encodedType: String) -> [UInt8] {
        Keccak256.hash(Array(encodedType.utf8))
    }

    /// keccak256(typeHash ‖ words): the hash of one struct whose fields are already encoded.
    public static func hashStruct(typeHash: [UInt8], fields: [[UInt8]]) -> [UInt8] {
        var hasher = Keccak256()
        hasher.update(typeHash)
        for field in fields {
            precondition(field.count == 32, "an EIP-712 field encodes to one 32-byte word")
            hasher.update(field)
        }
        return hasher.finalize()
    }

    /// keccak256(0x1901 ‖ domainSeparator ‖ structHash): what is signed.
    public static func digest(domainSeparator: [UInt8], structHash: [UInt8]) -> [UInt8] {
        Keccak256.hash([0x19, 0x01], domainSeparator, structHash)
    }

    // MARK: Field encoders (each returns one 32-byte word)

    public static func word(string: String) -> [UInt8] { Keccak256.hash(Array(string.utf8)) }

    public static func word(bytes: [UInt8]) -> [UInt8] { Keccak256.hash(bytes) }

    public static func word(address: EthereumAddress) -> [UInt8] {
        [UInt8](repeating: 0, count: 12) + address.bytes
    }

    public static func word(uint value: UInt128) -> [UInt8] { UInt256.encode(value) }

    public static func word(uint value: UInt64) -> [UInt8] { UInt256.encode(value) }

    public static func word(bytes32 value: [UInt8]) -> [UInt8] {
        precondition(value.count == 32, "bytes32 is 32 bytes")
        return value
    }
}

/// The EIP-712 domain every voucher and invoice is signed under: it binds a signature to
/// one contract on one chain, so a voucher for a test ledger is worthless on a real chain.
public struct EIP712Domain: Hashable, Sendable {
    public static let encodedType = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    public static let typeHash = EIP712.typeHash(encodedType)

    public let name: String
    public let version: String
    /// uint256 on chain; every chain id in use (EIP-155) fits in 64 bits, 128 is ample.
    public let chainID: UInt128
    public let verifyingContract: EthereumAddress

    public init(name: String, version: String, chainID: UInt128, verifyingContract: EthereumAddress) {
        self.name = name
        self.version = version
        self.chainID = chainID
        self.verifyingContract = verifyingContract
    }

    /// hashStruct(domain): the first half of every digest.
    public var separator: [UInt8] {
        EIP712.hashStruct(typeHash: Self.typeHash, fields: [
            EIP712.word(string: name), EIP712.word(string: version),
            EIP712.word(uint: chainID), EIP712.word(address: verifyingContract),
        ])
    }
}
