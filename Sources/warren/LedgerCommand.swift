import Configuration
import Agent
import ArgumentParser
import Glibc
import LinuxPlatform
import Payment

/// `warren ledger`: the local ledger (the single-machine stand-in for the on-chain contract)
/// as a person or a test sees it, and its faucet.
struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Show the local ledger (balances, channels, claims) or fund an address on it.",
        discussion: "The local ledger is the single-machine stand-in for the on-chain channel contract; agents on "
            + "this machine share it through its directory (their Ledger = setting).",
        subcommands: [Show.self, Fund.self],
        defaultSubcommand: Show.self
    )

    static let defaultDirectory = AgentOptions.defaultStateDirectory + "/ledger"

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the domain, balances, channels and claims, with each claim id's submissions from the journal.",
            discussion: "Read-only: takes no lock and creates nothing. JSON amounts are decimal strings of base units "
                + "(18 decimals), with a …Tokens twin.")

        @Option(name: .long, help: "Directory of the local ledger.")
        var dir: String = LedgerCommand.defaultDirectory

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() {
            var info = stat()
            guard stat(dir, &info) == 0 else {
                let code = errno
                if code == ENOENT {
                    fail("no local ledger at \(dir): an agent with Ledger = \(dir) creates it, or "
                        + "`warren ledger fund --dir \(dir) --address 0x... --amount TOKENS`; or pass --dir")
                }
                fail("cannot read the local ledger at \(dir): \(StorageFailureText.text(call: "stat \(dir)", errno: code)); "
                    + "or pass another --dir")
            }
            let state: LedgerState
            let journal: LedgerJournal.Contents
            do {
                let files = DiskLedgerFiles(directory: dir)
                state = try LocalLedger.snapshot(files: files) ?? LedgerState(domain: LocalLedger.defaultDomain)
                journal = try LedgerJournal.readAll(files: files)
            } catch {
                fail("cannot read the local ledger at \(dir): \(LedgerCommand.explain(error, dir: dir))")
            }
            let view = LedgerJSON(directory: dir, state: state, journal: journal)
            if json {
                printJSON(view)
            } else {
                print(view.text(), terminator: "")
            }
        }
    }

    struct Fund: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The faucet: credit an address with tokens from nowhere (local ledger only; a chain has no faucet).",
            discussion: "Creates the ledger directory if it is missing. Journaled like every ledger operation.")

        @Option(name: .long, help: "Directory of the local ledger.")
        var dir: String = LedgerCommand.defaultDirectory

        @Option(name: .long, help: "The address to credit (0x and 40 hex digits; `warren wallet` prints a node's).")
        var address: String

        @Option(name: .long, help: "Tokens to credit, e.g. 5 or 0.25 (up to 18 decimals).")
        var amount: String

        func run() {
            let recipient: EthereumAddress
            do { recipient = try EthereumAddress(parsing: address) } catch {
                if error == .badChecksum {
                    fail("--address \(address): its capitals do not match the EIP-55 checksum: a typo? "
                        + "(copy it from `warren wallet`, or write it all lowercase to skip the check)")
                }
                fail("--address \(address): expected 0x and 40 hex digits, as `warren wallet` prints")
            }
            guard let tokens = TokenAmount(decimal: Substring(amount)), tokens.baseUnits > 0 else {
                fail("--amount \(amount): expected a token amount above zero such as 5 or 0.25 (at most 18 decimals)")
            }
            do {
                // Fund under the ledger's own domain: another domain would be refused as a mismatch.
                let files = DiskLedgerFiles(directory: dir)
                let domain = try LocalLedger.snapshot(files: files)?.domain ?? LocalLedger.defaultDomain
                let ledger = try LocalLedger(files: files, domain: domain)
                try ledger.fund(recipient, amount: tokens.baseUnits, now: wallClock())
                let balance = try ledger.balance(of: recipient)
                print("funded \(recipient) with \(tokens.shown) on the local ledger \(dir); balance \(TokenAmount(baseUnits: balance).shown)")
            } catch {
                fail("cannot fund \(recipient) on the local ledger at \(dir): \(LedgerCommand.explain(error, dir: dir))")
            }
        }
    }

    /// What went wrong with the ledger and what to do about it.
    static func explain(_ error: LedgerError, dir: String) -> String {
        switch error {
        case .storage(let failure) where failure.errno == ENOENT || failure.errno == ENOTDIR:
            return "\(error); create the parent directory first, or pass another --dir"
        case .storage(let failure) where failure.errno == EACCES || failure.errno == EPERM:
            return "\(error); or pass another --dir"
        case .storage:
            return "\(error)"
        case .corrupt(let why):
            return "\(dir)/ledger.state is damaged (\(why)); nothing can use it: move it away to start an empty ledger"
        case .balanceOverflow:
            return "the balance would pass 2^128 base units; fund less"
        case .domainMismatch:
            return "the ledger was made for another EIP-712 domain"
        default:
            return "\(error)"
        }
    }
}

// MARK: The view (JSON, and the text rendered from it)

struct LedgerJSON: Encodable {
    struct Domain: Encodable {
        var name: String
        var version: String
        var chainId: String
        var verifyingContract: String
    }

    struct Balance: Encodable {
        var address: String
        var balance: String
        var balanceTokens: String
    }

    struct Channel: Encodable {
        var id: String
        var consumer: String
        var provider: String
        var deposit: String
        var depositTokens: String
        var expiry: UInt64
        var expiryUTC: String
        var claimed: String
        var claimedTokens: String
        var reclaimed: Bool
    }

    struct Claim: Encodable {
        var id: String
        var channel: String
        /// The voucher's cumulative amount.
        var amount: String
        var amountTokens: String
        /// Whether the ledger settled this claim id (it did at its first accepted submission).
        var settled: Bool
        /// What the first settlement moved to the provider (absent when never settled).
        var paid: String?
        var paidTokens: String?
        /// Journal lines for this claim id: every submission, accepted or refused.
        var submissions: Int
        var refused: Int
    }

    struct Journal: Encodable {
        var entries: Int
        /// Whole lines that could not be parsed (a healthy journal has none).
        var skippedLines: Int
    }

    var directory: String
    var domain: Domain
    var balances: [Balance]
    var channels: [Channel]
    var claims: [Claim]
    var journal: Journal

    init(directory: String, state: LedgerState, journal contents: LedgerJournal.Contents) {
        self.directory = directory
        let d = state.domain
        domain = Domain(name: d.name, version: d.version, chainId: String(d.chainID), verifyingContract: d.verifyingContract.description)
        balances = state.balances.keys.sorted().map { address in
            let amount = state.balance(of: address)
            return Balance(address: address.description, balance: String(amount), balanceTokens: TokenAmount(baseUnits: amount).description)
        }
        channels = state.channels.keys.sorted().compactMap { id in
            guard let entry = state.channels[id] else { return nil }
            let c = entry.channel
            return Channel(id: id.description, consumer: c.consumer.description, provider: c.provider.description,
                           deposit: String(c.deposit), depositTokens: TokenAmount(baseUnits: c.deposit).description,
                           expiry: c.expiry, expiryUTC: utcText(c.expiry), claimed: String(entry.claimed),
                           claimedTokens: TokenAmount(baseUnits: entry.claimed).description, reclaimed: entry.reclaimed)
        }
        // Every claim id the state settled or the journal saw (a refused-only id is in the journal only).
        var submissions: [ClaimID: (count: Int, refused: Int, channel: ChannelID, amount: UInt128)] = [:]
        for entry in contents.entries where entry.kind == .claim {
            guard let id = entry.claimID, let channel = entry.channel, let amount = entry.amount else { continue }
            var tally = submissions[id] ?? (0, 0, channel, amount)
            tally.count += 1
            if entry.refused { tally.refused += 1 }
            submissions[id] = tally
        }
        let ids = Set(state.claims.keys).union(submissions.keys).sorted()
        claims = ids.compactMap { id in
            let receipt = state.claims[id]
            let tally = submissions[id]
            guard let channel = receipt?.channelID ?? tally?.channel,
                  let amount = receipt?.cumulativeAmount ?? tally?.amount else { return nil }
            return Claim(id: id.description, channel: channel.description, amount: String(amount),
                         amountTokens: TokenAmount(baseUnits: amount).description, settled: receipt != nil,
                         paid: receipt.map { String($0.amountPaid) },
                         paidTokens: receipt.map { TokenAmount(baseUnits: $0.amountPaid).description },
                         submissions: tally?.count ?? 0, refused: tally?.refused ?? 0)
        }
        journal = Journal(entries: contents.entries.count, skippedLines: contents.skippedLines)
    }

    func text() -> String {
        var out = "ledger: \(directory) (local)\n"
        out += "domain: name \(domain.name), version \(domain.version), chain id \(domain.chainId), contract \(domain.verifyingContract)\n"
        out += balances.isEmpty ? "balances: none\n" : "balances:\n"
        for balance in balances { out += "  \(balance.address): \(tokens(balance.balance))\n" }
        out += channels.isEmpty ? "channels: none\n" : "channels:\n"
        for channel in channels {
            out += "  \(channel.id)\n"
            out += "    consumer: \(channel.consumer)\n"
            out += "    provider: \(channel.provider)\n"
            out += "    deposit: \(tokens(channel.deposit))\n"
            out += "    expiry: \(channel.expiry) (\(channel.expiryUTC))\n"
            out += "    claimed: \(tokens(channel.claimed))\n"
            out += "    reclaimed: \(channel.reclaimed ? "yes" : "no")\n"
        }
        out += claims.isEmpty ? "claims: none\n" : "claims:\n"
        for claim in claims {
            out += "  \(claim.id): channel \(claim.channel), amount \(tokens(claim.amount)), "
            out += claim.paid.map { "paid \(tokens($0))" } ?? "not settled"
            out += ", submissions \(claim.submissions) (\(claim.refused) refused)\n"
        }
        out += "journal: \(journal.entries) entries"
        out += journal.skippedLines > 0 ? ", \(journal.skippedLines) unreadable line(s) skipped\n" : "\n"
        return out
    }
}
