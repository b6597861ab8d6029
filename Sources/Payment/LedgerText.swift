import WarrenCrypto

/// The local ledger's file format: text, one record a line, so a person (or a test script)
/// can read it, and a BLAKE2s-256 checksum line at the end, so a torn or truncated file is
/// never loaded as a ledger (the `ChecksummedText` envelope, as `ChannelRecordText`).
///
///     warren-ledger 1
///     domain <name, hex of UTF-8> <version, hex of UTF-8> <chain id> <contract>
///     balance <address> <amount>
///     channel <id> <consumer> <provider> <salt> <deposit> <expiry> <claimed> open|reclaimed
///     claim <claim id> <channel id> <cumulative amount> <amount paid>
///     blake2s <hex of BLAKE2s-256 over every byte before this line>
///
/// Amounts are decimal base units, expiry Unix seconds, everything binary 0x-hex. Records
/// are sorted, so one state has one encoding.
enum LedgerText {
    static let header = "warren-ledger 1"
    /// A ledger for one machine's demo and tests stays far below this.
    static let maximumLength = 16 << 20

    static func encode(_ state: LedgerState) -> [UInt8] {
        var lines = [header]
        let domain = state.domain
        lines.append("domain \(Hex.prefixed(Array(domain.name.utf8))) \(Hex.prefixed(Array(domain.version.utf8))) "
            + "\(domain.chainID) \(Hex.prefixed(domain.verifyingContract.bytes))")
        for address in state.balances.keys.sorted() {
            lines.append("balance \(Hex.prefixed(address.bytes)) \(state.balances[address] ?? 0)")
        }
        for id in state.channels.keys.sorted() {
            guard let entry = state.channels[id] else { continue }
            let c = entry.channel
            lines.append("channel \(id) \(Hex.prefixed(c.consumer.bytes)) \(Hex.prefixed(c.provider.bytes)) "
                + "\(Hex.prefixed(c.salt)) \(c.deposit) \(c.expiry) \(entry.claimed) \(entry.reclaimed ? "reclaimed" : "open")")
        }
        for id in state.claims.keys.sorted() {
            guard let receipt = state.claims[id] else { continue }
            lines.append("claim \(id) \(receipt.channelID) \(receipt.cumulativeAmount) \(receipt.amountPaid)")
        }
        return ChecksummedText.seal(lines)
    }

    static func decode(_ bytes: [UInt8]) throws(LedgerError) -> LedgerState {
        // The checksum first: nothing in a torn file is interpreted.
        let lines: [Substring]
        do { lines = try ChecksummedText.open(bytes, maximumLength: maximumLength) } catch { throw .corrupt(error.reason) }
        guard lines.count >= 2, lines[0] == header else { throw .corrupt("not a version 1 ledger") }
        let domainFields = lines[1].split(separator: " ", omittingEmptySubsequences: false)
        guard domainFields.count == 5, domainFields[0] == "domain",
              let name = Hex.decode(String(domainFields[1])), let version = Hex.decode(String(domainFields[2])),
              let chainID = decimal(domainFields[3]), let contract = address(domainFields[4]) else {
            throw .corrupt("bad domain line")
        }
        let domain = EIP712Domain(name: String(decoding: name, as: UTF8.self),
                                  version: String(decoding: version, as: UTF8.self),
                                  chainID: chainID, verifyingContract: contract)
        var balances: [EthereumAddress: UInt128] = [:]
        var channels: [ChannelID: LedgerChannel] = [:]
        var claims: [ClaimID: ClaimReceipt] = [:]
        for (number, line) in lines.dropFirst(2).enumerated() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            let problem = LedgerError.corrupt("line \(number + 3): \(fields.first ?? "")")
            switch (fields.first, fields.count) {
            case ("balance", 3):
                guard let owner = address(fields[1]), let amount = decimal(fields[2]), balances[owner] == nil else { throw problem }
                balances[owner] = amount
            case ("channel", 9):
                guard let id = channelID(fields[1]), let consumer = address(fields[2]), let provider = address(fields[3]),
                      let salt = Hex.decode(String(fields[4])), let deposit = decimal(fields[5]),
                      let expiry = decimal(fields[6]), expiry <= UInt128(UInt64.max), let claimed = decimal(fields[7]),
                      fields[8] == "open" || fields[8] == "reclaimed",
                      let channel = try? Channel(consumer: consumer, provider: provider, salt: salt,
                                                 deposit: deposit, expiry: UInt64(expiry)),
                      channel.id == id, claimed <= deposit, channels[id] == nil else { throw problem }
                channels[id] = LedgerChannel(channel: channel, claimed: claimed, reclaimed: fields[8] == "reclaimed")
            case ("claim", 5):
                guard let id = claimID(fields[1]), let channel = channelID(fields[2]), channels[channel] != nil,
                      let cumulative = decimal(fields[3]), let paid = decimal(fields[4]), paid <= cumulative,
                      id == ClaimID(channelID: channel, cumulativeAmount: cumulative), claims[id] == nil else { throw problem }
                claims[id] = ClaimReceipt(id: id, channelID: channel, cumulativeAmount: cumulative, amountPaid: paid)
            default:
                throw problem
            }
        }
        return LedgerState(domain: domain, balances: balances, channels: channels, claims: claims)
    }

    /// 1 to 39 decimal digits (UInt128's range), nothing else.
    static func decimal(_ text: Substring) -> UInt128? {
        guard !text.isEmpty, text.utf8.count <= 39, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt128(text)
    }

    static func address(_ text: Substring) -> EthereumAddress? {
        Hex.decode(String(text)).flatMap { EthereumAddress(bytes: $0) }
    }

    static func channelID(_ text: Substring) -> ChannelID? {
        Hex.decode(String(text)).flatMap { ChannelID(bytes: $0) }
    }

    static func claimID(_ text: Substring) -> ClaimID? {
        Hex.decode(String(text)).flatMap { ClaimID(bytes: $0) }
    }
}

extension LedgerState {
    /// The ledger file's bytes for this state (see `LedgerText` for the format).
    public func encoded() -> [UInt8] { LedgerText.encode(self) }

    /// Reads a ledger file's bytes: the checksum first, then every record and its invariants.
    public init(encoded bytes: [UInt8]) throws(LedgerError) {
        self = try LedgerText.decode(bytes)
    }
}
