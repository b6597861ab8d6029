import Glibc
import Testing
import WarrenCrypto
@testable import Payment

/// Keys, addresses and a domain shared by the payment tests.
enum PaymentFixture {
    static func bytes(hex: String) -> [UInt8] {
        guard let bytes = Hex.decode(hex) else { fatalError("bad hex in a test: \(hex)") }
        return bytes
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// The well-known key of the web3 / eth-account documentation.
    static let documentedKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    static let documentedAddress = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"

    static let consumer = WalletKey.generate(entropy: SeededEntropy(seed: Array("consumer".utf8)))
    static let provider = WalletKey.generate(entropy: SeededEntropy(seed: Array("provider".utf8)))
    static let stranger = WalletKey.generate(entropy: SeededEntropy(seed: Array("stranger".utf8)))

    static let domain = EIP712Domain(name: "warren", version: "1", chainID: 31337,
                                     verifyingContract: address("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"))

    static func address(_ text: String) -> EthereumAddress {
        do { return try EthereumAddress(parsing: text) } catch { fatalError("bad address in a test: \(text)") }
    }

    static let salt = [UInt8](repeating: 0x5A, count: 32)

    static func channel(deposit: UInt128 = 1_000, expiry: UInt64 = 2_000) -> Channel {
        do {
            return try Channel(consumer: consumer.address, provider: provider.address, salt: salt,
                               deposit: deposit, expiry: expiry)
        } catch { fatalError("fixture channel: \(error)") }
    }

    /// A fresh empty directory under /tmp, removed by the caller with `removeTree`: for the
    /// tests of the disk files only (the others use WarrenTestSupport's memory files).
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/warren-payment-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        return String(cString: made)
    }

    static func removeTree(_ directory: String) {
        for name in ["ledger.state", "ledger.state.tmp", "ledger.lock", "journal"] { _ = unlink(directory + "/" + name) }
        _ = rmdir(directory)
    }
}
