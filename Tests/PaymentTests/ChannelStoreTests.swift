import Agent
import Glibc
import Testing
import WarrenTestSupport
@testable import Payment

/// Channels on flash: the record's rules, its checksummed file, batched durable writes.
@Suite struct ChannelStoreTests {
    let domain = PaymentFixture.domain
    let consumer = PaymentFixture.consumer

    static func channel(_ saltByte: UInt8, deposit: UInt128 = 1_000, expiry: UInt64 = 2_000) -> Channel {
        do {
            return try Channel(consumer: PaymentFixture.consumer.address, provider: PaymentFixture.provider.address,
                               salt: [UInt8](repeating: saltByte, count: 32), deposit: deposit, expiry: expiry)
        } catch { fatalError("test channel: \(error)") }
    }

    func voucher(_ amount: UInt128, _ channel: Channel) -> SignedVoucher {
        Voucher(channelID: channel.id, cumulativeAmount: amount).sign(with: consumer, domain: domain)
    }

    /// Removes a store directory and everything in it.
    static func removeStore(_ directory: String) {
        if let stream = opendir(directory) {
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { _ = unlink(directory + "/" + name) }
            }
            closedir(stream)
        }
        _ = rmdir(directory)
    }

    static func fileBytes(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { _ = close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return out }
            out += chunk[0..<n]
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "open \(path)")
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        _ = close(fd)
    }

    func fullRecord() throws -> ChannelRecord {
        let channel = Self.channel(1)
        var record = ChannelRecord(role: .consumer, channel: channel, dailyCap: 900)
        try record.offer(voucher(300, channel), now: 86_400 * 3 + 5)
        try record.offer(voucher(450, channel), now: 86_400 * 4 + 5)
        record.claimed = 300
        record.sessionEndedAt = 1_234
        record.claims = [
            SubmittedClaim(amount: 300, id: ClaimID(channelID: channel.id, cumulativeAmount: 300), submittedAt: 1_240,
                           attempts: 1, nextRetry: 1_245, confirmed: true),
            SubmittedClaim(amount: 450, id: ClaimID(channelID: channel.id, cumulativeAmount: 450), submittedAt: 1_300,
                           attempts: 3, nextRetry: 1_320, confirmed: false),
        ]
        return record
    }

    // MARK: The record and its file format

    @Test func encodingRoundTripsAndIsCanonical() throws {
        let record = try fullRecord()
        #expect(record.spendPerDay == [3: 300, 4: 150])
        let bytes = record.encoded()
        let decoded = try ChannelRecord(encoded: bytes)
        #expect(decoded == record)
        #expect(decoded.encoded() == bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("warren-channel 1\nrole consumer\nchannel \(record.id) "))
        #expect(text.contains("\nspend 3 300\nspend 4 150\nclaim "))

        let empty = ChannelRecord(role: .provider, channel: Self.channel(2))
        #expect(try ChannelRecord(encoded: empty.encoded()) == empty)
    }

    @Test func tornOrEditedRecordIsDetected() throws {
        let bytes = try fullRecord().encoded()
        for length in 0..<bytes.count {
            #expect(throws: ChannelStoreError.self) { try ChannelRecord(encoded: Array(bytes[..<length])) }
        }
        for index in bytes.indices {
            var edited = bytes
            edited[index] ^= 0x01
            #expect(throws: ChannelStoreError.self) { try ChannelRecord(encoded: edited) }
        }
    }

    @Test func providerKeepsOnlyTheHigherVoucher() throws {
        let channel = Self.channel(3)
        var record = ChannelRecord(role: .provider, channel: channel)
        #expect(try record.offer(voucher(500, channel), now: 10))
        #expect(try !record.offer(voucher(300, channel), now: 11))
        #expect(try !record.offer(voucher(500, channel), now: 12))
        #expect(record.bestAmount == 500)
        #expect(throws: ChannelStoreError.aboveDeposit(amount: 1_001, deposit: 1_000)) {
            try record.offer(voucher(1_001, channel), now: 13)
        }
        #expect(throws: ChannelStoreError.wrongChannel(expected: channel.id, actual: Self.channel(4).id)) {
            try record.offer(voucher(600, Self.channel(4)), now: 13)
        }
        #expect(record.bestAmount == 500)
    }

    @Test func consumerCapCountsSpendPerDay() throws {
        let channel = Self.channel(5)
        var record = ChannelRecord(role: .consumer, channel: channel, dailyCap: 400)
        let day = UInt64(86_400 * 10)
        try record.offer(voucher(300, channel), now: day + 1)
        #expect(record.remainingToday(now: day + 2) == 100)
        #expect(throws: ChannelStoreError.overDailyCap(cap: 400, spentToday: 300, adding: 101)) {
            try record.offer(voucher(401, channel), now: day + 3)
        }
        try record.offer(voucher(400, channel), now: day + 4)
        // The next day the cap is fresh; only the increase over the high-water mark counts.
        try record.offer(voucher(800, channel), now: day + 86_400)
        #expect(record.spendPerDay == [10: 400, 11: 400])
        #expect(record.bestAmount == 800)
    }

    // MARK: The store

    @Test func updatesWithinTheIntervalAreBatched() throws {
        let files = MemoryChannelFiles()
        let channel = Self.channel(6)
        var store = try ChannelStore.load(files: files)
        #expect(store.persistInterval == 10)
        try store.add(ChannelRecord(role: .provider, channel: channel), now: 1_000)
        #expect(store.durableWrites == 1)

        // 50 vouchers inside one interval: memory follows at once, the disk not at all.
        for step in 1...50 {
            try store.record(voucher: voucher(UInt128(step * 10), channel), now: 1_000 + UInt64(step) / 6)
            try store.persistIfDue(now: 1_000 + UInt64(step) / 6)
        }
        #expect(store[channel.id]?.bestAmount == 500)
        #expect(store.durableWrites == 1)
        #expect(store.dirty == [channel.id])
        #expect(try ChannelStore.load(files: files)[channel.id]?.bestAmount == 0)

        // The interval has passed: one write for all of them.
        #expect(try store.persistIfDue(now: 1_010) == 1)
        #expect(store.durableWrites == 2)
        #expect(try store.persistIfDue(now: 1_012) == 0)
        #expect(try ChannelStore.load(files: files)[channel.id]?.bestAmount == 500)

        // A forced write happens at once, whatever the interval.
        try store.record(voucher: voucher(600, channel), now: 1_015)
        #expect(try store.persistIfDue(now: 1_015) == 0)
        try store.persistNow(channel: channel.id, now: 1_015)
        #expect(store.durableWrites == 3)
        #expect(try ChannelStore.load(files: files)[channel.id]?.bestAmount == 600)
        // Nothing new: no write.
        try store.persistNow(channel: channel.id, now: 1_032)
        #expect(store.durableWrites == 3)

        // A configurable interval.
        var slow = try ChannelStore.load(files: files, persistInterval: 60)
        try slow.record(voucher: voucher(700, channel), now: 2_000)
        #expect(try slow.persistIfDue(now: 2_000) == 1)
        try slow.record(voucher: voucher(800, channel), now: 2_001)
        #expect(try slow.persistIfDue(now: 2_059) == 0)
        #expect(try slow.persistIfDue(now: 2_060) == 1)
        // The clock stepped back (no real-time clock, then NTP): a dirty channel is written.
        try slow.record(voucher: voucher(900, channel), now: 100)
        #expect(try slow.persistIfDue(now: 100) == 1)
        #expect(slow.durableWrites == 3)
    }

    @Test func highWaterMarkAndCapSurviveReload() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { Self.removeStore(directory) }
        let channel = Self.channel(7)
        let day = UInt64(86_400 * 20)
        do {
            var store = try ChannelStore.load(files: DiskChannelFiles(directory: directory))
            try store.add(ChannelRecord(role: .consumer, channel: channel, dailyCap: 600), now: day)
            try store.record(voucher: voucher(500, channel), now: day + 1)
            // Before the voucher leaves.
            try store.persistNow(channel: channel.id, now: day + 1)
        }
        var store = try ChannelStore.load(files: DiskChannelFiles(directory: directory))
        #expect(store[channel.id]?.bestAmount == 500)
        #expect(throws: ChannelStoreError.belowHighWaterMark(highWater: 500, offered: 400)) {
            try store.record(voucher: voucher(400, channel), now: day + 2)
        }
        #expect(try !store.record(voucher: voucher(500, channel), now: day + 2))
        #expect(throws: ChannelStoreError.overDailyCap(cap: 600, spentToday: 500, adding: 200)) {
            try store.record(voucher: voucher(700, channel), now: day + 3)
        }
        #expect(try store.record(voucher: voucher(600, channel), now: day + 3))
        #expect(store[channel.id]?.bestAmount == 600)
    }

    @Test func damagedFilesAreReportedAndNotLoaded() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { Self.removeStore(directory) }
        let good = Self.channel(8), truncated = Self.channel(9), flipped = Self.channel(10)
        var store = try ChannelStore.load(files: DiskChannelFiles(directory: directory))
        for channel in [good, truncated, flipped] {
            try store.add(ChannelRecord(role: .provider, channel: channel), now: 100)
            try store.record(voucher: voucher(250, channel), now: 101)
            try store.persistNow(channel: channel.id, now: 101)
        }
        let truncatedPath = directory + "/" + ChannelStore.fileName(truncated.id)
        let flippedPath = directory + "/" + ChannelStore.fileName(flipped.id)
        #expect(truncate(truncatedPath, 200) == 0)
        var bytes = Self.fileBytes(flippedPath)
        bytes[bytes.count / 2] ^= 0x20
        Self.writeFile(flippedPath, bytes)
        // A valid record under another channel's name is not that channel either.
        let misnamed = Self.channel(11)
        Self.writeFile(directory + "/" + ChannelStore.fileName(misnamed.id), Self.fileBytes(directory + "/" + ChannelStore.fileName(good.id)))
        // A leftover from an interrupted write is removed, not loaded.
        Self.writeFile(directory + "/" + ChannelStore.fileName(misnamed.id) + ".tmp", [1, 2, 3])

        let reloaded = try ChannelStore.load(files: DiskChannelFiles(directory: directory))
        #expect(Array(reloaded.records.keys) == [good.id])
        #expect(reloaded[good.id]?.bestAmount == 250)
        #expect(reloaded.damaged.sorted() == [truncated, flipped, misnamed].map { ChannelStore.fileName($0.id) }.sorted())
        #expect(access(directory + "/" + ChannelStore.fileName(misnamed.id) + ".tmp", F_OK) != 0)
    }

    /// The provider credits from what is on disk: a better voucher in memory counts only once
    /// the batch has written it, at most one write per channel per interval.
    @Test func providerCreditCountsOnlyWrittenVouchers() throws {
        let channel = Self.channel(12)
        var store = try ChannelStore.load(files: MemoryChannelFiles(), persistInterval: 10)
        try store.add(ChannelRecord(role: .provider, channel: channel), now: 500)
        try store.record(voucher: voucher(100, channel), now: 500)
        #expect(store.persistedAmount(channel.id) == 0)
        #expect(try store.persistIfDue(now: 505) == 0)     // `add` wrote the channel at 500
        #expect(try store.persistIfDue(now: 510) == 1)
        #expect(store.persistedAmount(channel.id) == 100)
        try store.record(voucher: voucher(300, channel), now: 511)
        #expect(store.records[channel.id]?.bestAmount == 300)
        #expect(store.persistedAmount(channel.id) == 100)
        let writes = store.durableWrites
        #expect(try store.persistIfDue(now: 519) == 0)
        #expect(store.durableWrites == writes)
        #expect(try store.persistIfDue(now: 520) == 1)
        #expect(store.persistedAmount(channel.id) == 300)
    }

    /// A daily budget is the consumer's, summed over its channels, by UTC day; a provider's
    /// records spend nothing.
    @Test func consumerSpendSumsChannelsOfOneDay() throws {
        let day: UInt64 = 20_000 * ChannelRecord.secondsPerDay
        var a = ChannelRecord(role: .consumer, channel: Self.channel(21, expiry: day + 99_999))
        var b = ChannelRecord(role: .consumer, channel: Self.channel(22, expiry: day + 99_999))
        var p = ChannelRecord(role: .provider, channel: Self.channel(23, expiry: day + 99_999))
        try a.offer(voucher(100, a.channel), now: day - 1)        // yesterday
        try a.offer(voucher(250, a.channel), now: day + 10)       // +150 today
        try b.offer(voucher(40, b.channel), now: day + 20)
        try p.offer(voucher(500, p.channel), now: day + 30)
        #expect([a, b, p].consumerSpend(on: day + 40) == 190)
        #expect([a, b, p].consumerSpend(on: day - 1) == 100)
        #expect([p].consumerSpend(on: day + 40) == 0)
    }

    @Test func sessionsLeftOpenAreEndedOnStart() throws {
        let files = MemoryChannelFiles()
        var store = try ChannelStore.load(files: files)
        try store.add(ChannelRecord(role: .provider, channel: Self.channel(13)), now: 10)
        try store.add(ChannelRecord(role: .provider, channel: Self.channel(14)), now: 10)
        try store.setSessionEnded(channel: Self.channel(14).id, at: 9)
        try store.persistAll(now: 10)
        var reloaded = try ChannelStore.load(files: files)
        #expect(reloaded.endSessionsLeftOpen(now: 50) == [Self.channel(13).id])
        #expect(reloaded[Self.channel(13).id]?.sessionEndedAt == 50)
        #expect(reloaded[Self.channel(14).id]?.sessionEndedAt == 9)
    }

    // MARK: Over the in-memory files: restarts and torn writes

    /// A restart is a new store over the same files: it recovers the best voucher written,
    /// not the one only in memory.
    @Test func bestWrittenVoucherSurvivesARestart() throws {
        let files = MemoryChannelFiles()
        let channel = Self.channel(30)
        do {
            var store = try ChannelStore.load(files: files)
            try store.add(ChannelRecord(role: .provider, channel: channel), now: 100)
            try store.record(voucher: voucher(400, channel), now: 110)
            #expect(try store.persistIfDue(now: 110) == 1)
            // Newer than the write, and lost with the power.
            try store.record(voucher: voucher(450, channel), now: 111)
        }
        var restarted = try ChannelStore.load(files: files)
        #expect(restarted.damaged.isEmpty)
        #expect(restarted[channel.id]?.bestAmount == 400)
        #expect(restarted.persistedAmount(channel.id) == 400)
        #expect(restarted[channel.id]?.bestVoucher == voucher(400, channel))
        #expect(try restarted.record(voucher: voucher(450, channel), now: 120))
    }

    /// A write torn by a power cut leaves a file that fails its checksum: the store after the
    /// restart refuses it and names it in `damaged`, and loads the other channels.
    @Test func tornChannelFileIsRefusedAtLoad() throws {
        let files = MemoryChannelFiles()
        let good = Self.channel(31), torn = Self.channel(32)
        var store = try ChannelStore.load(files: files)
        try store.add(ChannelRecord(role: .consumer, channel: good), now: 100)
        try store.add(ChannelRecord(role: .consumer, channel: torn), now: 100)
        try store.record(voucher: voucher(300, torn), now: 101)
        let full = ChannelRecordText.encode(try #require(store[torn.id])).count
        files.tearNextWrite(keeping: full / 2)
        #expect(throws: ChannelStoreError.self) { try store.persistNow(channel: torn.id, now: 101) }
        #expect(files[ChannelStore.fileName(torn.id)]?.count == full / 2)
        // The memory is ahead of the torn file, and says so.
        #expect(store.dirty == [torn.id])
        #expect(store.persistedAmount(torn.id) == 0)

        let restarted = try ChannelStore.load(files: files)
        #expect(restarted.damaged == [ChannelStore.fileName(torn.id)])
        #expect(Array(restarted.records.keys) == [good.id])
        #expect(restarted[torn.id] == nil)
        let snapshot = try ChannelStore.snapshot(files: files)
        #expect(snapshot.records.map(\.id) == [good.id])
        #expect(snapshot.damaged == [ChannelStore.fileName(torn.id)])
    }

    /// Every length a torn write can leave is refused, never loaded as a channel.
    @Test func everyTornLengthIsRefused() throws {
        let channel = Self.channel(33)
        let record = ChannelRecord(role: .provider, channel: channel)
        let full = ChannelRecordText.encode(record).count
        for keep in 0..<full {
            let files = MemoryChannelFiles()
            var store = try ChannelStore.load(files: files)
            files.tearNextWrite(keeping: keep)
            #expect(throws: ChannelStoreError.self) { try store.add(record, now: 10) }
            let restarted = try ChannelStore.load(files: files)
            #expect(restarted.records.isEmpty)
            #expect(restarted.damaged == [ChannelStore.fileName(channel.id)])
        }
    }
}
