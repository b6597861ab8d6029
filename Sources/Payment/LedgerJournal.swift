/// The local ledger's journal (`<ledger directory>/journal` on disk), one line per operation,
/// appended durably (`LedgerFiles.appendJournal`) under the ledger's lock after the state is
/// written, refusals included.
/// The state file only keeps the first settlement of each claim id; the journal keeps every
/// submission, so a test can prove that no claim was submitted twice.
///
///     <time> fund <address> amount=<n>
///     <time> fund-refused <address> amount=<n> reason=<word>
///     <time> open <channel id> consumer=<address> provider=<address> deposit=<n> expiry=<unix s>
///     <time> open-refused <channel id> consumer=<address> provider=<address> deposit=<n> expiry=<unix s> reason=<word>
///     <time> claim <claim id> channel=<channel id> amount=<cumulative n> paid=<n moved now>
///     <time> claim-refused <claim id> channel=<channel id> amount=<cumulative n> reason=<word>
///     <time> reclaim <channel id> refund=<n>
///     <time> reclaim-refused <channel id> reason=<word>
///
/// `<time>` is the operation's `now` (Unix seconds). Amounts are decimal base units, ids 0x-hex, addresses EIP-55, reasons the
/// `LedgerError` case name (`wrongSigner`, `channelExpired`, …). A line counts only once its
/// newline is written: the reader drops an unterminated last line (a write torn by a crash)
/// and skips any line it cannot parse, so a damaged journal never stops a reader.
public enum LedgerJournal {
    /// A journal past this is not one a machine's demo or tests wrote.
    static let maximumLength = 256 << 20

    /// The journal's entries in order, without the torn last line and unparseable lines
    /// (empty when there is no journal). Takes no lock and creates nothing.
    public static func read(files: some LedgerFiles) throws(LedgerError) -> [LedgerJournalEntry] {
        try readAll(files: files).entries
    }

    /// The journal's entries and how many lines were skipped.
    public static func readAll(files: some LedgerFiles) throws(LedgerError) -> Contents {
        let bytes: [UInt8]?
        do { bytes = try files.readJournal(limit: maximumLength) } catch { throw .storage(error) }
        guard let bytes else { return Contents(entries: [], skippedLines: 0) }
        guard bytes.count <= maximumLength else { throw .corrupt("the journal is longer than \(maximumLength) bytes") }
        return parse(bytes)
    }

    /// What a journal holds.
    public struct Contents: Sendable {
        public let entries: [LedgerJournalEntry]
        /// Whole lines that are not journal lines (garbage, a line glued to a torn one).
        public let skippedLines: Int
    }

    /// Parses a journal's bytes: whole lines only; lines that do not parse are counted, not read.
    public static func parse(_ bytes: [UInt8]) -> Contents {
        var entries: [LedgerJournalEntry] = []
        var skipped = 0
        var start = 0
        // Only newline-terminated lines: whatever follows the last newline is a torn write.
        while let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if let entry = LedgerJournalEntry(line: bytes[start..<end]) {
                entries.append(entry)
            } else {
                skipped += 1
            }
            start = end + 1
        }
        return Contents(entries: entries, skippedLines: skipped)
    }

    // MARK: Writing (LocalLedger, under the lock)

    static func fundLine(_ address: EthereumAddress, amount: UInt128, time: UInt64, _ outcome: Result<Void, LedgerError>) -> String {
        line(time, .fund, outcome, "\(address)", ["amount=\(amount)"])
    }

    static func openLine(_ channel: Channel, time: UInt64, _ outcome: Result<Void, LedgerError>) -> String {
        line(time, .open, outcome, "\(channel.id)", ["consumer=\(channel.consumer)", "provider=\(channel.provider)",
                                                     "deposit=\(channel.deposit)", "expiry=\(channel.expiry)"])
    }

    static func claimLine(_ voucher: SignedVoucher, time: UInt64, _ outcome: Result<ClaimReceipt, LedgerError>) -> String {
        let id = ClaimID(channelID: voucher.channelID, cumulativeAmount: voucher.cumulativeAmount)
        var fields = ["channel=\(voucher.channelID)", "amount=\(voucher.cumulativeAmount)"]
        if case .success(let receipt) = outcome { fields.append("paid=\(receipt.amountPaid)") }
        return line(time, .claim, outcome.map { _ in () }, "\(id)", fields)
    }

    static func reclaimLine(_ channelID: ChannelID, time: UInt64, _ outcome: Result<UInt128, LedgerError>) -> String {
        var fields: [String] = []
        if case .success(let refund) = outcome { fields.append("refund=\(refund)") }
        return line(time, .reclaim, outcome.map { _ in () }, "\(channelID)", fields)
    }

    private static func line(_ time: UInt64, _ kind: LedgerJournalEntry.Kind, _ outcome: Result<Void, LedgerError>,
                             _ subject: String, _ fields: [String]) -> String {
        switch outcome {
        case .success:
            return ([String(time), kind.rawValue, subject] + fields).joined(separator: " ")
        case .failure(let error):
            return ([String(time), kind.rawValue + refusedSuffix, subject] + fields + ["reason=\(error.journalReason)"])
                .joined(separator: " ")
        }
    }

    static let refusedSuffix = "-refused"
}

/// One journal line, typed. Which fields are set depends on `kind` (see `LedgerJournal`).
public struct LedgerJournalEntry: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case fund, open, claim, reclaim
    }

    /// The operation's `now` (Unix seconds).
    public let time: UInt64
    public let kind: Kind
    /// The refusal's reason (a `LedgerError` case name); nil when the operation took effect.
    public let refusal: String?
    /// fund: the address credited.
    public let address: EthereumAddress?
    /// claim: the claim's id (the same for every submission of the same voucher amount).
    public let claimID: ClaimID?
    /// open, claim, reclaim.
    public let channel: ChannelID?
    /// open: the channel's parties.
    public let consumer: EthereumAddress?
    public let provider: EthereumAddress?
    /// fund: the amount credited; open: the deposit; claim: the voucher's cumulative amount.
    public let amount: UInt128?
    /// claim (taken): what it moved to the provider; reclaim (taken): the refund.
    public let paid: UInt128?
    /// open: the channel's expiry (Unix seconds).
    public let expiry: UInt64?

    public var refused: Bool { refusal != nil }

    /// Parses one line without its newline; nil for anything that is not exactly a journal line.
    init?(line: ArraySlice<UInt8>) {
        // Journal lines are ASCII; anything else is not one.
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        let words = String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        guard words.count >= 3, let time = LedgerJournalEntry.seconds(words[0]) else { return nil }
        var kindWord = words[1]
        let refused = kindWord.hasSuffix(LedgerJournal.refusedSuffix)
        if refused { kindWord = kindWord.dropLast(LedgerJournal.refusedSuffix.count) }
        guard let kind = Kind(rawValue: String(kindWord)) else { return nil }

        // key=value fields: exactly the expected keys, each once.
        var fields: [Substring: Substring] = [:]
        for word in words.dropFirst(3) {
            guard let equals = word.firstIndex(of: "="), fields[word[..<equals]] == nil else { return nil }
            fields[word[..<equals]] = word[word.index(after: equals)...]
        }
        var expected: Set<Substring>
        switch kind {
        case .fund: expected = ["amount"]
        case .open: expected = ["consumer", "provider", "deposit", "expiry"]
        case .claim: expected = refused ? ["channel", "amount"] : ["channel", "amount", "paid"]
        case .reclaim: expected = refused ? [] : ["refund"]
        }
        if refused { expected.insert("reason") }
        guard Set(fields.keys) == expected else { return nil }

        var reason: String?
        if refused {
            guard let word = fields["reason"], !word.isEmpty,
                  word.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
            reason = String(word)
        }
        func decimal(_ key: Substring) -> UInt128? { fields[key].flatMap { LedgerText.decimal($0) } }

        var address: EthereumAddress?, claimID: ClaimID?, channel: ChannelID?, consumer: EthereumAddress?,
            provider: EthereumAddress?, amount: UInt128?, paid: UInt128?, expiry: UInt64?
        switch kind {
        case .fund:
            guard let who = LedgerText.address(words[2]), let value = decimal("amount") else { return nil }
            address = who
            amount = value
        case .open:
            guard let id = LedgerText.channelID(words[2]), let from = fields["consumer"].flatMap({ LedgerText.address($0) }),
                  let to = fields["provider"].flatMap({ LedgerText.address($0) }), let deposit = decimal("deposit"),
                  let until = fields["expiry"].flatMap({ LedgerJournalEntry.seconds($0) }) else { return nil }
            channel = id
            consumer = from
            provider = to
            amount = deposit
            expiry = until
        case .claim:
            guard let id = LedgerText.claimID(words[2]), let on = fields["channel"].flatMap({ LedgerText.channelID($0) }),
                  let value = decimal("amount"), id == ClaimID(channelID: on, cumulativeAmount: value) else { return nil }
            claimID = id
            channel = on
            amount = value
            if !refused {
                guard let moved = decimal("paid"), moved <= value else { return nil }
                paid = moved
            }
        case .reclaim:
            guard let id = LedgerText.channelID(words[2]) else { return nil }
            channel = id
            if !refused {
                guard let refund = decimal("refund") else { return nil }
                paid = refund
            }
        }
        self.time = time
        self.kind = kind
        self.refusal = reason
        self.address = address
        self.claimID = claimID
        self.channel = channel
        self.consumer = consumer
        self.provider = provider
        self.amount = amount
        self.paid = paid
        self.expiry = expiry
    }

    static func seconds(_ text: Substring) -> UInt64? {
        guard let value = LedgerText.decimal(text), value <= UInt128(UInt64.max) else { return nil }
        return UInt64(value)
    }
}

extension LedgerError {
    /// The case name: one word, as the journal records a refusal.
    var journalReason: String {
        switch self {
        case .unknownChannel: "unknownChannel"
        case .channelExists: "channelExists"
        case .insufficientBalance: "insufficientBalance"
        case .zeroDeposit: "zeroDeposit"
        case .expiryPassed: "expiryPassed"
        case .sameParty: "sameParty"
        case .wrongSigner: "wrongSigner"
        case .amountAboveDeposit: "amountAboveDeposit"
        case .channelExpired: "channelExpired"
        case .notYetExpired: "notYetExpired"
        case .alreadyReclaimed: "alreadyReclaimed"
        case .balanceOverflow: "balanceOverflow"
        case .domainMismatch: "domainMismatch"
        case .corrupt: "corrupt"
        case .storage: "storage"
        }
    }
}
