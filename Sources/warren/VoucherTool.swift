import ArgumentParser
import Glibc
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

        @Option(help: "Sign this many times and print the CPU time per signature (a benchmark).")
        var repeatCount: Int = 1

        func run() {
            guard let bytes = Hex.decode(key) else { fail("--key: expected 32 bytes of hex") }
            let wallet: WalletKey
            do { wallet = try WalletKey(privateKey: bytes) } catch { fail("--key: not a secp256k1 private key (\(error))") }
            let voucher = options.voucher()
            let domain = options.domain()
            let signed = voucher.sign(with: wallet, domain: domain)
            if repeatCount > 1 {
                let perOperation = CPUTime.perOperation(repeatCount) { _ = voucher.sign(with: wallet, domain: domain) }
                print("sign cpu \(perOperation) us per voucher (\(repeatCount) signatures, digest included)")
            }
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

        @Option(help: "Recover this many times and print the CPU time per verification (a benchmark).")
        var repeatCount: Int = 1

        func run() {
            guard let bytes = Hex.decode(signature) else { fail("--signature: expected 65 bytes of hex") }
            let parsed: Signature
            do { parsed = try Signature(bytes: bytes) } catch { fail("--signature: \(error)") }
            let voucher = options.voucher()
            let domain = options.domain()
            guard let signer = parsed.recover(digest: voucher.digest(domain: domain)) else {
                fail("no key made this signature over this voucher")
            }
            if repeatCount > 1 {
                let perOperation = CPUTime.perOperation(repeatCount) { _ = parsed.recover(digest: voucher.digest(domain: domain)) }
                print("verify cpu \(perOperation) us per voucher (\(repeatCount) recoveries, digest included)")
            }
            print(signer)
        }
    }
}

/// The process's CPU time (not wall time: a shared machine's other load does not count).
enum CPUTime {
    static func microseconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) * 1e6 + Double(spec.tv_nsec) / 1e3
    }

    /// Runs `body` `count` times; returns microseconds per run, two decimals.
    static func perOperation(_ count: Int, _ body: () -> Void) -> String {
        let start = microseconds()
        for _ in 0..<count { body() }
        let each = (microseconds() - start) / Double(count)
        return String(Double(Int(each * 100)) / 100)
    }
}
