import ArgumentParser
import Payment

/// `warren voucher`: signs and checks EIP-712 vouchers by hand, so that the payment format can
/// be cross-checked against other Ethereum tools (Tests/e2e/eth_crosscheck.sh uses eth-account).
struct VoucherTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voucher",
        abstract: "Sign a payment voucher or recover its signer (EIP-712, for cross-checks).",
        subcommands: [Sign.self, Recover.self]
    )

    /// The EIP-712 domain and the voucher's two fields, shared by both subcommands.
    struct VoucherOptions: ParsableArguments {
        @Option(help: "The channel id: 32 bytes of hex.")
        var channel: String

        @Option(help: "The cumulative amount, in base units (a decimal integer).")
        var amount: String

        @Option(help: "The EIP-712 domain's chain id.")
        var chainId: String

        @Option(help: "The EIP-712 domain's verifying contract (0x address).")
        var contract: String

        @Option(help: "The EIP-712 domain's name.")
        var name: String = "warren"

        @Option(help: "The EIP-712 domain's version.")
        var version: String = "1"

        func voucher() -> Voucher {
            let channelID: ChannelID
            do { channelID = try ChannelID(parsing: channel) } catch { fail("--channel: expected 32 bytes of hex (\(error))") }
            return Voucher(channelID: channelID, cumulativeAmount: decimal(amount, option: "--amount"))
        }

        func domain() -> EIP712Domain {
            let address: EthereumAddress
            do { address = try EthereumAddress(parsing: contract) } catch { fail("--contract: not an address (\(error))") }
            return EIP712Domain(name: name, version: version, chainID: decimal(chainId, option: "--chain-id"),
                                verifyingContract: address)
        }

        func decimal(_ text: String, option: String) -> UInt128 {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt128(text) else {
                fail("\(option): expected a decimal integer below 2^128")
            }
            return value
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a voucher; print the signature (r ‖ s ‖ v), the EIP-712 digest and the signer's address.")

        @Option(help: "The secp256k1 private key: 32 bytes of hex (visible to other users in ps: test keys only).")
        var key: String

        @OptionGroup var options: VoucherOptions

        func run() {
            guard let bytes = Hex.decode(key) else { fail("--key: expected 32 bytes of hex") }
            let wallet: WalletKey
            do { wallet = try WalletKey(privateKey: bytes) } catch { fail("--key: not a secp256k1 private key (\(error))") }
            let voucher = options.voucher()
            let domain = options.domain()
            let signed = voucher.sign(with: wallet, domain: domain)
            print("signature \(Hex.prefixed(signed.signature.bytes))")
            print("digest \(Hex.prefixed(voucher.digest(domain: domain)))")
            print("address \(wallet.address)")
        }
    }

    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the address that signed a voucher.")

        @Option(help: "The 65-byte signature r ‖ s ‖ v, in hex.")
        var signature: String

        @OptionGroup var options: VoucherOptions

        func run() {
            guard let bytes = Hex.decode(signature) else { fail("--signature: expected 65 bytes of hex") }
            let parsed: Signature
            do { parsed = try Signature(bytes: bytes) } catch { fail("--signature: \(error)") }
            guard let signer = parsed.recover(digest: options.voucher().digest(domain: options.domain())) else {
                fail("no key made this signature over this voucher")
            }
            print(signer)
        }
    }
}
