import Agent
import Glibc
import Testing
import WarrenTestSupport
@testable import Payment

/// The local ledger's journal: every operation one line, refusals included; a reader that
/// drops a torn last line and skips what it cannot parse.
@Suite struct LedgerJournalTests {
    let domain = PaymentFixture.domain
    let consumer = PaymentFixture.consumer
    let provider = PaymentFixture.provider

    func voucher(_ amount: UInt128, signer: WalletKey? = nil) -> SignedVoucher {
        Voucher(channelID: PaymentFixture.channel().id, cumulativeAmount: amount).sign(with: signer ?? consumer, domain: domain)
    }

    /// A ledger over `files` with the consumer funded and the fixture channel open.
    func openLedger(_ files: some LedgerFiles) throws -> LocalLedger {
        let ledger = try LocalLedger(files: files, domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        try ledger.open(PaymentFixture.channel(deposit: 1_000, expiry: 2_000), now: 1_000)
        return ledger
    }

    static func journalPath(_ directory: String) -> String { directory + "/journal" }

    static func append(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        precondition(fd >= 0, "open \(path)")
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        _ = close(fd)
    }

    @Test func sameVoucherTwiceGivesTwoClaimLinesWithOneID() throws {
        let files = MemoryLedgerFiles()
        let ledger = try openLedger(files)
        let first = try ledger.claim(voucher(400), now: 1_500)
        let second = try ledger.claim(voucher(400), now: 1_501)
        #expect(first.amountPaid == 400 && second.amountPaid == 0)

        let entries = try LedgerJournal.read(files: files)
        #expect(entries.map(\.kind) == [.fund, .open, .claim, .claim])
        let claims = entries.filter { $0.kind == .claim }
        let id = ClaimID(channelID: PaymentFixture.channel().id, cumulativeAmount: 400)
        #expect(claims.map(\.claimID) == [id, id])
        #expect(claims.map(\.paid) == [400, 0])
        #expect(claims.map(\.time) == [1_500, 1_501])
        #expect(claims.allSatisfy { $0.channel == PaymentFixture.channel().id && $0.amount == 400 && !$0.refused })
        // The state keeps the first settlement only; the journal is what counts submissions.
        #expect(try ledger.snapshot().claims.count == 1)

        let open = entries[1]
        #expect(open.channel == PaymentFixture.channel().id && open.consumer == consumer.address
            && open.provider == provider.address && open.amount == 1_000 && open.expiry == 2_000)
        #expect(entries[0].address == consumer.address && entries[0].amount == 5_000)

        let text = String(decoding: files.journal ?? [], as: UTF8.self)
        #expect(text.contains("1500 claim \(id) channel=\(PaymentFixture.channel().id) amount=400 paid=400\n"))
        #expect(text.contains("1501 claim \(id) channel=\(PaymentFixture.channel().id) amount=400 paid=0\n"))
    }

    @Test func refusalsAreJournaledWithTheirReason() throws {
        let files = MemoryLedgerFiles()
        let ledger = try openLedger(files)
        let id = PaymentFixture.channel().id
        #expect(throws: LedgerError.wrongSigner) { try ledger.claim(voucher(100, signer: provider), now: 1_500) }
        #expect(throws: LedgerError.channelExists(id)) { try ledger.open(PaymentFixture.channel(), now: 1_500) }
        #expect(throws: LedgerError.notYetExpired(expiry: 2_000)) { try ledger.reclaim(id, now: 1_999) }
        #expect(throws: LedgerError.channelExpired(expiry: 2_000)) { try ledger.claim(voucher(100), now: 2_000) }
        #expect(try ledger.reclaim(id, now: 2_000) == 1_000)
        #expect(throws: LedgerError.balanceOverflow) { try ledger.fund(consumer.address, amount: .max, now: 1) }

        let entries = try LedgerJournal.read(files: files)
        #expect(entries.map(\.kind) == [.fund, .open, .claim, .open, .reclaim, .claim, .reclaim, .fund])
        #expect(entries.map(\.refusal) == [nil, nil, "wrongSigner", "channelExists", "notYetExpired", "channelExpired", nil,
                                          "balanceOverflow"])
        // A refused claim still names its claim id, so submissions count per id either way.
        #expect(entries[2].claimID == ClaimID(channelID: id, cumulativeAmount: 100) && entries[2].paid == nil)
        #expect(entries[6].channel == id && entries[6].paid == 1_000)
    }

    @Test func tornLastLineIsIgnoredAndCutBeforeTheNextLine() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { ChannelStoreTests.removeStore(directory) }
        let files = DiskLedgerFiles(directory: directory)
        let ledger = try openLedger(files)
        _ = try ledger.claim(voucher(300), now: 1_500)
        let path = Self.journalPath(directory)
        let whole = try LedgerJournal.read(files: files)
        #expect(whole.count == 3)

        // A crash tore the next line after a value that would parse ("paid=12" of "paid=123").
        let id = ClaimID(channelID: PaymentFixture.channel().id, cumulativeAmount: 500)
        Self.append(path, "1600 claim \(id) channel=\(PaymentFixture.channel().id) amount=500 paid=12")
        #expect(try LedgerJournal.read(files: files) == whole)
        #expect(try LedgerJournal.readAll(files: files).skippedLines == 0)

        // The next append cuts the torn tail instead of gluing its line to it.
        _ = try ledger.claim(voucher(600), now: 1_700)
        let after = try LedgerJournal.readAll(files: files)
        #expect(after.skippedLines == 0)
        #expect(Array(after.entries.prefix(3)) == whole)
        #expect(after.entries.count == 4)
        #expect(after.entries.last?.amount == 600 && after.entries.last?.paid == 300)
        let text = String(decoding: ChannelStoreTests.fileBytes(path), as: UTF8.self)
        #expect(!text.contains("paid=12"))
    }

    @Test func everyTruncationReadsAsAPrefix() throws {
        let files = MemoryLedgerFiles()
        let ledger = try openLedger(files)
        _ = try ledger.claim(voucher(300), now: 1_500)
        #expect(throws: LedgerError.self) { try ledger.claim(voucher(2_000), now: 1_500) }
        _ = try ledger.reclaim(PaymentFixture.channel().id, now: 2_000)
        let bytes = files.journal ?? []
        let entries = LedgerJournal.parse(bytes).entries
        #expect(entries.count == 5)
        for length in 0...bytes.count {
            let contents = LedgerJournal.parse(Array(bytes[..<length]))
            #expect(contents.skippedLines == 0)
            #expect(contents.entries == Array(entries.prefix(contents.entries.count)))
            let lines = bytes[..<length].filter { $0 == UInt8(ascii: "\n") }.count
            #expect(contents.entries.count == lines)
        }
    }

    @Test func garbageLinesAreSkippedNeverFatal() throws {
        let channel = PaymentFixture.channel().id
        let id = ClaimID(channelID: channel, cumulativeAmount: 400)
        let good = "1500 claim \(id) channel=\(channel) amount=400 paid=400"
        let bad = [
            "",
            "hello",
            "1500 claim",
            "1500 steal \(id) channel=\(channel) amount=400 paid=400",
            "-1 claim \(id) channel=\(channel) amount=400 paid=400",
            "1500 claim \(id) channel=\(channel) amount=401 paid=400",             // id not of this amount
            "1500 claim \(id) channel=\(channel) amount=400 paid=401",             // paid above the amount
            "1500 claim \(id) channel=\(channel) amount=400 paid=400 paid=400",
            "1500 claim \(id) channel=\(channel) amount=400 paid=400 extra=1",
            "1500 claim \(id) channel=\(channel) amount=400",                      // taken without paid
            "1500 claim-refused \(id) channel=\(channel) amount=400 reason=",
            "1500 claim-refused \(id) channel=\(channel) amount=400 reason=a-b",
            "1500 claim \(id)  channel=\(channel) amount=400 paid=400",
            "1500 claim \(id) channel=\(channel) amount=400 paid=400 ",
            "1500 reclaim 0x1234 refund=5",
            "1500 fund 0xnothex amount=5",
            "99999999999999999999999 fund \(consumer.address) amount=5",
            "1500 claim \(id) channel=\(channel) amount=400 paid=4é0",
        ]
        var text = ""
        for line in bad { text += line + "\n" + good + "\n" }
        let contents = LedgerJournal.parse(Array(text.utf8) + [0xFF, 0x00, 0x0A])
        #expect(contents.entries.count == bad.count)
        #expect(contents.skippedLines == bad.count + 1)
        #expect(contents.entries.allSatisfy { $0.claimID == id && $0.paid == 400 })

        // Random bytes and random mixes of journal words: no crash, and nothing unparseable kept.
        var generator = SeededGenerator(seed: 7)
        let words = ["1500", "claim", "claim-refused", "fund", "open", "reclaim", "\(id)", "channel=\(channel)",
                     "amount=400", "paid=400", "reason=x", "refund=1", "\(consumer.address)", "=", " ", "\n"]
        for _ in 0..<2_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(generator.next() % 12) {
                if generator.next() % 3 == 0 {
                    bytes.append(UInt8(truncatingIfNeeded: generator.next()))
                } else {
                    bytes += Array(words[Int(generator.next() % UInt64(words.count))].utf8) + [UInt8(ascii: " ")]
                }
            }
            let parsed = LedgerJournal.parse(bytes + [UInt8(ascii: "\n")])
            #expect(parsed.entries.count + parsed.skippedLines >= 1)
        }
    }

    @Test func noJournalReadsAsEmptyAndCreatesNothing() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { ChannelStoreTests.removeStore(directory) }
        #expect(try LedgerJournal.read(files: DiskLedgerFiles(directory: directory)).isEmpty)
        #expect(try LedgerJournal.read(files: DiskLedgerFiles(directory: directory + "/missing")).isEmpty)
        #expect(try LocalLedger.snapshot(files: DiskLedgerFiles(directory: directory + "/missing")) == nil)
        #expect(access(directory + "/missing", F_OK) != 0)
        #expect(access(Self.journalPath(directory), F_OK) != 0)
    }

    @Test func readOnlySnapshotSeesAnyDomain() throws {
        let files = MemoryLedgerFiles()
        let ledger = try openLedger(files)
        let state = try LocalLedger.snapshot(files: files)
        #expect(state == (try ledger.snapshot()))
        #expect(state?.domain == domain)
    }
}
