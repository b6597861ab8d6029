import Agent
import Dispatch
import Glibc
import Testing
import WarrenTestSupport
@testable import Payment

/// The local ledger: the contract's rules on `LedgerState`, then the durable, shared file.
@Suite struct LedgerTests {
    let domain = PaymentFixture.domain
    let consumer = PaymentFixture.consumer
    let provider = PaymentFixture.provider

    func voucher(_ amount: UInt128, signer: WalletKey? = nil, channel: Channel? = nil) -> SignedVoucher {
        Voucher(channelID: (channel ?? PaymentFixture.channel()).id, cumulativeAmount: amount)
            .sign(with: signer ?? consumer, domain: domain)
    }

    func openState() throws -> LedgerState {
        var state = LedgerState(domain: domain)
        try state.fund(consumer.address, amount: 5_000)
        try state.open(PaymentFixture.channel(deposit: 1_000, expiry: 2_000), now: 1_000)
        return state
    }

    @Test func openDebitsTheConsumer() throws {
        let state = try openState()
        #expect(state.balance(of: consumer.address) == 4_000)
        #expect(state.channels[PaymentFixture.channel().id]?.claimed == 0)
        var again = state
        #expect(throws: LedgerError.channelExists(PaymentFixture.channel().id)) {
            try again.open(PaymentFixture.channel(), now: 1_000)
        }
        var poor = LedgerState(domain: domain)
        try poor.fund(consumer.address, amount: 999)
        #expect(throws: LedgerError.insufficientBalance(available: 999, needed: 1_000)) {
            try poor.open(PaymentFixture.channel(deposit: 1_000), now: 1_000)
        }
        #expect(throws: LedgerError.zeroDeposit) { try poor.open(PaymentFixture.channel(deposit: 0), now: 1_000) }
        #expect(throws: LedgerError.expiryPassed(expiry: 2_000, now: 2_000)) { try poor.open(PaymentFixture.channel(deposit: 1), now: 2_000) }
    }

    @Test func claimPaysTheDifferenceAndLowerOrEqualPaysNothing() throws {
        var state = try openState()
        let first = try state.claim(voucher(300), now: 1_500)
        #expect(first.amountPaid == 300)
        #expect(state.balance(of: provider.address) == 300)
        let second = try state.claim(voucher(700), now: 1_500)
        #expect(second.amountPaid == 400)
        #expect(state.balance(of: provider.address) == 700)
        // The same voucher again, and an older one: nothing moves.
        #expect(try state.claim(voucher(700), now: 1_600).amountPaid == 0)
        #expect(try state.claim(voucher(300), now: 1_600).amountPaid == 0)
        #expect(state.balance(of: provider.address) == 700)
        #expect(state.channels[PaymentFixture.channel().id]?.claimed == 700)
        // The first settlement of an id stays its record.
        #expect(state.claimState(second.id) == .confirmed(second))
        #expect(state.claimState(ClaimID(channelID: PaymentFixture.channel().id, cumulativeAmount: 1)) == .unknown)
    }

    @Test func noClaimAboveTheDeposit() throws {
        var state = try openState()
        #expect(throws: LedgerError.amountAboveDeposit(amount: 1_001, deposit: 1_000)) { try state.claim(voucher(1_001), now: 1_500) }
        #expect(try state.claim(voucher(1_000), now: 1_500).amountPaid == 1_000)
        #expect(state.balance(of: provider.address) == 1_000)
    }

    @Test func wrongSignerIsRefused() throws {
        var state = try openState()
        #expect(throws: LedgerError.wrongSigner) { try state.claim(voucher(100, signer: provider), now: 1_500) }
        #expect(throws: LedgerError.wrongSigner) { try state.claim(voucher(100, signer: PaymentFixture.stranger), now: 1_500) }
        // Signed by the consumer, but for another domain (another contract or chain).
        let foreign = Voucher(channelID: PaymentFixture.channel().id, cumulativeAmount: 100)
            .sign(with: consumer, domain: LocalLedger.defaultDomain)
        #expect(throws: LedgerError.wrongSigner) { try state.claim(foreign, now: 1_500) }
        let unknown = try Channel(consumer: consumer.address, provider: provider.address,
                                  salt: [UInt8](repeating: 1, count: 32), deposit: 1, expiry: 2_000)
        #expect(throws: LedgerError.unknownChannel(unknown.id)) { try state.claim(voucher(1, channel: unknown), now: 1_500) }
        #expect(state.balance(of: provider.address) == 0)
    }

    @Test func reclaimOnlyAfterExpiryAndOnce() throws {
        var state = try openState()
        _ = try state.claim(voucher(250), now: 1_999)
        let id = PaymentFixture.channel().id
        #expect(throws: LedgerError.notYetExpired(expiry: 2_000)) { try state.reclaim(id, now: 1_999) }
        #expect(throws: LedgerError.channelExpired(expiry: 2_000)) { try state.claim(voucher(300), now: 2_000) }
        #expect(try state.reclaim(id, now: 2_000) == 750)
        #expect(state.balance(of: consumer.address) == 4_750)
        #expect(throws: LedgerError.alreadyReclaimed) { try state.reclaim(id, now: 3_000) }
        #expect(throws: LedgerError.alreadyReclaimed) { try state.claim(voucher(300), now: 1_500) }
        // Money is conserved: funded 5000 = consumer 4750 + provider 250.
        #expect(state.balance(of: consumer.address) + state.balance(of: provider.address) == 5_000)
    }

    @Test func encodingRoundTripsAndIsCanonical() throws {
        var state = try openState()
        _ = try state.claim(voucher(300), now: 1_500)
        _ = try state.claim(voucher(200), now: 1_500)
        let bytes = LedgerText.encode(state)
        let decoded = try LedgerText.decode(bytes)
        #expect(decoded == state)
        #expect(LedgerText.encode(decoded) == bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("warren-ledger 1\ndomain "))
        #expect(text.contains("balance \(Hex.prefixed(provider.address.bytes)) 300\n"))
    }

    @Test func tornOrEditedFileIsDetected() throws {
        var state = try openState()
        _ = try state.claim(voucher(300), now: 1_500)
        let bytes = LedgerText.encode(state)
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: LedgerError.self) { try LedgerText.decode(Array(bytes[..<length])) }
        }
        for index in bytes.indices {
            var edited = bytes
            edited[index] ^= 0x01
            #expect(throws: LedgerError.self) { try LedgerText.decode(edited) }
        }
    }

    // MARK: The file

    @Test func stateSurvivesReloadFromDisk() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { PaymentFixture.removeTree(directory) }
        let ledger = try LocalLedger(files: DiskLedgerFiles(directory: directory), domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        try ledger.open(PaymentFixture.channel(), now: 1_000)
        let receipt = try ledger.claim(voucher(400), now: 1_500)

        // A new instance, as after a restart, reads the same state.
        let reopened = try LocalLedger(files: DiskLedgerFiles(directory: directory), domain: domain)
        #expect(try reopened.balance(of: provider.address) == 400)
        #expect(try reopened.balance(of: consumer.address) == 4_000)
        #expect(try reopened.claimState(receipt.id) == .confirmed(receipt))
        #expect(try reopened.channel(PaymentFixture.channel().id)?.claimed == 400)
        #expect(try reopened.claim(voucher(400), now: 1_600).amountPaid == 0)
        #expect(try reopened.reclaim(PaymentFixture.channel().id, now: 2_000) == 600)
        #expect(throws: LedgerError.domainMismatch) { try LocalLedger(files: DiskLedgerFiles(directory: directory), domain: LocalLedger.defaultDomain) }
    }

    @Test func tornFileOnDiskIsRefused() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { PaymentFixture.removeTree(directory) }
        let ledger = try LocalLedger(files: DiskLedgerFiles(directory: directory), domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        let path = directory + "/ledger.state"
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        #expect(ftruncate(fd, 40) == 0)
        _ = close(fd)
        #expect(throws: LedgerError.self) { try ledger.balance(of: consumer.address) }
        #expect(throws: LedgerError.self) { try ledger.fund(consumer.address, amount: 1, now: 1) }
    }

    @Test func concurrentWritersAreSerialised() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { PaymentFixture.removeTree(directory) }
        let ledger = try LocalLedger(files: DiskLedgerFiles(directory: directory), domain: domain)
        let address = consumer.address
        // flock excludes across open file descriptions, so threads here behave like agents.
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10 { try? ledger.fund(address, amount: 1, now: 1) }
        }
        #expect(try ledger.balance(of: address) == 80)
    }

    // MARK: Over the in-memory files: torn writes

    /// A state write torn by a power cut: the ledger after the restart refuses the state
    /// (checksum) rather than read a part of it, and changes nothing.
    @Test func tornStateWriteIsRefusedAfterRestart() throws {
        let files = MemoryLedgerFiles()
        let ledger = try LocalLedger(files: files, domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        let whole = try #require(files.state)
        files.tearNextStateWrite(keeping: whole.count / 2)
        #expect(throws: LedgerError.self) { try ledger.fund(consumer.address, amount: 1, now: 2) }
        #expect(files.state?.count == whole.count / 2)
        #expect(throws: LedgerError.self) { try LocalLedger(files: files, domain: domain) }
        #expect(throws: LedgerError.self) { try ledger.balance(of: consumer.address) }
        #expect(throws: LedgerError.self) { try LocalLedger.snapshot(files: files) }
    }

    /// A journal line torn by a power cut is not read, and the next operation's line is not
    /// glued to it: the append cuts the torn tail first.
    @Test func tornJournalAppendIsCutByTheNextOne() throws {
        let files = MemoryLedgerFiles()
        let ledger = try LocalLedger(files: files, domain: domain)
        try ledger.fund(consumer.address, amount: 5_000, now: 1)
        files.tearNextJournalAppend(keeping: 20)
        #expect(throws: LedgerError.self) { try ledger.fund(consumer.address, amount: 7, now: 2) }
        // The state took effect; the journal shows one whole line and a torn one.
        #expect(try ledger.balance(of: consumer.address) == 5_007)
        #expect(try LedgerJournal.readAll(files: files).entries.count == 1)
        try ledger.fund(consumer.address, amount: 3, now: 3)
        let after = try LedgerJournal.readAll(files: files)
        #expect(after.skippedLines == 0)
        #expect(after.entries.map(\.amount) == [5_000, 3])
    }
}
