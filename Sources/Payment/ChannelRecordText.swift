import WarrenCrypto

/// A channel file's format: text, one field a line, in a fixed order, then the repeated
/// records, then a BLAKE2s-256 checksum line, so a torn, truncated or edited file is never
/// loaded as a channel (the `ChecksummedText` envelope, as `LedgerText`).
///
///     warren-channel 1
///     role provider|consumer
///     channel <id> <consumer> <provider> <salt> <deposit> <expiry>
///     voucher <hex of the 133-byte signed voucher>|none
///     claimed <amount>
///     ended <unix seconds>|none
///     cap <amount>|none
///     reclaimed yes|no
///     spend <day number> <amount>                                      (zero or more, by day)
///     claim <claim id> <amount> <submitted at> <attempts> <next retry> pending|confirmed
///                                                                      (zero or more, by amount)
///     blake2s <hex of BLAKE2s-256 over every byte before this line>
///
/// Amounts are decimal base units, times Unix seconds, binary 0x-hex. One record has one
/// encoding.
enum ChannelRecordText {
    static let header = "warren-channel 1"
    /// A channel file is a few hundred bytes; this bounds what a reader takes in.
    static let maximumLength = 64 << 10

    static func encode(_ record: ChannelRecord) -> [UInt8] {
        let c = record.channel
        var lines = [
            header,
            "role \(record.role.rawValue)",
            "channel \(c.id) \(Hex.prefixed(c.consumer.bytes)) \(Hex.prefixed(c.provider.bytes)) \(Hex.prefixed(c.salt)) "
                + "\(c.deposit) \(c.expiry)",
            "voucher \(record.bestVoucher.map { Hex.prefixed($0.serialized()) } ?? "none")",
            "claimed \(record.claimed)",
            "ended \(record.sessionEndedAt.map { String($0) } ?? "none")",
            "cap \(record.dailyCap.map { String($0) } ?? "none")",
            "reclaimed \(record.reclaimed ? "yes" : "no")",
        ]
        for day in record.spendPerDay.keys.sorted() {
            lines.append("spend \(day) \(record.spendPerDay[day] ?? 0)")
        }
        for claim in record.claims.sorted(by: { $0.amount < $1.amount }) {
            lines.append("claim \(claim.id) \(claim.amount) \(claim.submittedAt) \(claim.attempts) \(claim.nextRetry) "
                + (claim.confirmed ? "confirmed" : "pending"))
        }
        return ChecksummedText.seal(lines)
    }

    static func decode(_ bytes: [UInt8]) throws(ChannelStoreError) -> ChannelRecord {
        // The checksum first: nothing in a torn file is interpreted.
        let lines: [Substring]
        do { lines = try ChecksummedText.open(bytes, maximumLength: maximumLength) } catch { throw .corrupt(error.reason) }
        guard lines.count >= 8, lines[0] == header else { throw .corrupt("not a version 1 channel file") }
        func fields(_ index: Int, _ name: String, count: Int) throws(ChannelStoreError) -> [Substring] {
            let fields = lines[index].split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == count, fields[0] == name else { throw .corrupt("line \(index + 1): expected \(name)") }
            return fields
        }

        let roleFields = try fields(1, "role", count: 2)
        guard let role = ChannelRole(rawValue: String(roleFields[1])) else { throw .corrupt("line 2: role") }

        let c = try fields(2, "channel", count: 7)
        guard let id = LedgerText.channelID(c[1]), let consumer = LedgerText.address(c[2]),
              let provider = LedgerText.address(c[3]), let salt = Hex.decode(String(c[4])),
              let deposit = LedgerText.decimal(c[5]), let expiry = seconds(c[6]),
              let channel = try? Channel(consumer: consumer, provider: provider, salt: salt, deposit: deposit, expiry: expiry),
              channel.id == id else { throw .corrupt("line 3: channel") }

        let v = try fields(3, "voucher", count: 2)
        var best: SignedVoucher?
        if v[1] != "none" {
            guard let raw = Hex.decode(String(v[1])), let voucher = try? SignedVoucher(parsing: raw),
                  voucher.channelID == id, voucher.cumulativeAmount <= deposit else { throw .corrupt("line 4: voucher") }
            best = voucher
        }

        let claimedFields = try fields(4, "claimed", count: 2)
        guard let claimed = LedgerText.decimal(claimedFields[1]), claimed <= deposit else { throw .corrupt("line 5: claimed") }

        let endedFields = try fields(5, "ended", count: 2)
        var ended: UInt64?
        if endedFields[1] != "none" {
            guard let value = seconds(endedFields[1]) else { throw .corrupt("line 6: ended") }
            ended = value
        }

        let capFields = try fields(6, "cap", count: 2)
        var cap: UInt128?
        if capFields[1] != "none" {
            guard let value = LedgerText.decimal(capFields[1]) else { throw .corrupt("line 7: cap") }
            cap = value
        }

        let reclaimedFields = try fields(7, "reclaimed", count: 2)
        guard reclaimedFields[1] == "yes" || reclaimedFields[1] == "no" else { throw .corrupt("line 8: reclaimed") }

        var spend: [UInt64: UInt128] = [:]
        var claims: [SubmittedClaim] = []
        for index in 8..<lines.count {
            let f = lines[index].split(separator: " ", omittingEmptySubsequences: false)
            let problem = ChannelStoreError.corrupt("line \(index + 1): \(f.first ?? "")")
            switch (f.first, f.count) {
            case ("spend", 3):
                // Days in increasing order, and before any claim line.
                guard claims.isEmpty, let day = seconds(f[1]), let amount = LedgerText.decimal(f[2]),
                      spend.keys.allSatisfy({ $0 < day }) else { throw problem }
                spend[day] = amount
            case ("claim", 7):
                guard let claimID = LedgerText.claimID(f[1]), let amount = LedgerText.decimal(f[2]),
                      claimID == ClaimID(channelID: id, cumulativeAmount: amount),
                      let submitted = seconds(f[3]), let attempts = seconds(f[4]).flatMap({ UInt32(exactly: $0) }), let retry = seconds(f[5]),
                      f[6] == "pending" || f[6] == "confirmed",
                      claims.last.map({ $0.amount < amount }) ?? true else { throw problem }
                claims.append(SubmittedClaim(amount: amount, id: claimID, submittedAt: submitted, attempts: attempts,
                                             nextRetry: retry, confirmed: f[6] == "confirmed"))
            default:
                throw problem
            }
        }
        return ChannelRecord(role: role, channel: channel, bestVoucher: best, claimed: claimed, claims: claims,
                             sessionEndedAt: ended, dailyCap: cap, spendPerDay: spend, reclaimed: reclaimedFields[1] == "yes")
    }

    /// Decimal Unix seconds or a day number: 1 to 20 digits that fit in 64 bits.
    static func seconds(_ text: Substring) -> UInt64? {
        guard let value = LedgerText.decimal(text), value <= UInt128(UInt64.max) else { return nil }
        return UInt64(value)
    }
}

extension ChannelRecord {
    /// The channel file's bytes for this record (see `ChannelRecordText` for the format).
    public func encoded() -> [UInt8] { ChannelRecordText.encode(self) }

    /// Reads a channel file's bytes: the checksum first, then every field.
    public init(encoded bytes: [UInt8]) throws(ChannelStoreError) {
        self = try ChannelRecordText.decode(bytes)
    }
}
