/// The channels of one agent, in memory and on flash: one durable file per channel,
/// `<channel id hex>.channel`, in its `ChannelFiles` (a directory in the agent, see
/// `ChannelRecordText` for the format), written in batches so a long session does not wear
/// out an SD card.
///
/// Updates change memory at once and mark the channel dirty; `persistIfDue(now:)`, called
/// from the agent's timer, writes each dirty channel at most once per `persistInterval`.
/// Where money depends on a write having happened, the caller forces one:
///
/// - **Consumer, before a voucher leaves:** `record(voucher:now:)` (which refuses anything
///   below the high-water mark or over the daily cap), then `persistNow(channel:now:)`, then
///   send. A reboot can then never replay a lower voucher or forget spend. The consumer keeps
///   the write rate within the interval by answering at most one invoice per interval (the
///   latest; vouchers are cumulative, so skipping one costs nothing).
/// - **Provider, before crediting traffic:** `record(voucher:now:)` on every verified voucher,
///   then `persistIfDue(now:)` (batched). Credit is computed from `persistedAmount`, what is
///   on disk, never from memory: traffic is credited only up to the best written voucher plus
///   the window, so after a power cut the provider has lost at most one window.
///
/// A file that is torn, truncated or edited fails its checksum and is listed in `damaged`
/// instead of being loaded; the other channels load normally.
public struct ChannelStore: Sendable {
    public static let defaultPersistInterval: UInt64 = 10

    /// Seconds between two batched writes of one channel. Every `now` is Unix seconds, the
    /// same clock the watchdog and the channel expiry use.
    public var persistInterval: UInt64
    /// Every channel, as the agent sees it now (possibly ahead of the disk).
    public private(set) var records: [ChannelID: ChannelRecord] = [:]
    /// Channel files that could not be loaded (file names), with nothing read from them.
    public private(set) var damaged: [String] = []
    /// Durable writes made by this instance (the benchmark's writes per hour).
    public private(set) var durableWrites = 0
    /// Channels whose memory is ahead of their file.
    public private(set) var dirty: Set<ChannelID> = []

    /// What each channel's file holds.
    private var persisted: [ChannelID: ChannelRecord] = [:]
    /// Unix seconds of each channel's last write by this instance.
    private var lastWrite: [ChannelID: UInt64] = [:]
    private let files: any ChannelFiles

    static let fileSuffix = ".channel"

    /// The name of a channel's file.
    static func fileName(_ id: ChannelID) -> String { Hex.encode(id.bytes) + fileSuffix }

    private init(files: any ChannelFiles, persistInterval: UInt64) {
        self.files = files
        self.persistInterval = persistInterval
    }

    /// Loads every `*.channel` file in `files`, after `prepare` (which creates the directory
    /// 0700 if missing and removes a write a crash interrupted). Damaged files are listed in
    /// `damaged`.
    public static func load(files: some ChannelFiles, persistInterval: UInt64 = defaultPersistInterval) throws(ChannelStoreError) -> ChannelStore {
        do { try files.prepare() } catch { throw .storage(error) }
        var store = ChannelStore(files: files, persistInterval: persistInterval)
        let found = try readAll(files)
        for record in found.records {
            store.records[record.id] = record
            store.persisted[record.id] = record
        }
        store.damaged = found.damaged
        return store
    }

    /// The records in `files`, for a display next to a running agent: read only. Unlike
    /// `load` it creates nothing (no directory) and removes nothing (a leftover temporary file
    /// may be the agent's write in progress). Records by id; damaged file names as in
    /// `damaged`; both empty when the storage does not exist.
    public static func snapshot(files: some ChannelFiles) throws(ChannelStoreError) -> (records: [ChannelRecord], damaged: [String]) {
        try readAll(files)
    }

    /// Every channel file decoded, by id; the names of those that fail their checksum or
    /// their format, or hold another channel than their name says. A file that vanished
    /// between the listing and the read is skipped (there is nothing left to load).
    private static func readAll(_ files: some ChannelFiles) throws(ChannelStoreError) -> (records: [ChannelRecord], damaged: [String]) {
        let names: [String]?
        do { names = try files.names() } catch { throw .storage(error) }
        var records: [ChannelRecord] = []
        var damaged: [String] = []
        for name in names ?? [] where name.hasSuffix(fileSuffix) {
            let bytes: [UInt8]?
            do { bytes = try files.read(name, limit: ChannelRecordText.maximumLength) } catch { throw .storage(error) }
            guard let bytes else { continue }
            guard let record = try? ChannelRecordText.decode(bytes), fileName(record.id) == name else {
                damaged.append(name)
                continue
            }
            records.append(record)
        }
        return (records.sorted { $0.id < $1.id }, damaged)
    }

    public subscript(id: ChannelID) -> ChannelRecord? { records[id] }

    /// The best voucher amount that is on disk for a channel (zero when none).
    public func persistedAmount(_ id: ChannelID) -> UInt128 { persisted[id]?.bestAmount ?? 0 }

    /// Adds a new channel and writes it at once: a consumer adds it before opening it on the
    /// ledger, so a crash right after the deposit still leaves a record to reclaim from.
    public mutating func add(_ record: ChannelRecord, now: UInt64) throws(ChannelStoreError) {
        guard records[record.id] == nil else { throw .channelExists(record.id) }
        records[record.id] = record
        dirty.insert(record.id)
        try persistNow(channel: record.id, now: now)
    }

    /// Offers a voucher to its channel (`ChannelRecord.offer`: the provider keeps only a
    /// higher one, the consumer refuses a lower one or one over its cap). Memory only; the
    /// channel becomes dirty when the voucher was kept. Returns whether it was.
    @discardableResult
    public mutating func record(voucher: SignedVoucher, now: UInt64) throws(ChannelStoreError) -> Bool {
        guard var record = records[voucher.channelID] else { throw .unknownChannel(voucher.channelID) }
        let kept = try record.offer(voucher, now: now)
        if kept {
            records[voucher.channelID] = record
            dirty.insert(voucher.channelID)
        }
        return kept
    }

    /// Notes that the channel's session ended at `time` (nil: a new session started).
    public mutating func setSessionEnded(channel id: ChannelID, at time: UInt64?) throws(ChannelStoreError) {
        try modify(id) { $0.sessionEndedAt = time }
    }

    /// After a start, no session survives: every channel still marked as in a session is
    /// marked ended at `now`, so the watchdog settles channels whose session died with the
    /// power. Returns the channels it marked.
    @discardableResult
    public mutating func endSessionsLeftOpen(now: UInt64) -> [ChannelID] {
        let open = records.values.filter { $0.sessionEndedAt == nil }.map(\.id).sorted()
        for id in open {
            records[id]?.sessionEndedAt = now
            dirty.insert(id)
        }
        return open
    }

    /// Writes each dirty channel whose last write is at least `persistInterval` old (or that
    /// this instance never wrote). Returns how many it wrote.
    @discardableResult
    public mutating func persistIfDue(now: UInt64) throws(ChannelStoreError) -> Int {
        var written = 0
        for id in dirty.sorted() {
            // A clock that went backwards (a router without a real-time clock) makes a write due.
            if let last = lastWrite[id], now >= last, now - last < persistInterval { continue }
            try persistNow(channel: id, now: now)
            written += 1
        }
        return written
    }

    /// Writes the channel now, whatever the interval (a no-op when its file is current).
    public mutating func persistNow(channel id: ChannelID, now: UInt64) throws(ChannelStoreError) {
        guard let record = records[id] else { throw .unknownChannel(id) }
        guard dirty.contains(id) || persisted[id] != record else { return }
        do { try files.replace(Self.fileName(id), with: ChannelRecordText.encode(record)) } catch { throw .storage(error) }
        durableWrites += 1
        persisted[id] = record
        lastWrite[id] = now
        dirty.remove(id)
    }

    /// Writes every dirty channel now (for an orderly shutdown).
    public mutating func persistAll(now: UInt64) throws(ChannelStoreError) {
        for id in dirty.sorted() { try persistNow(channel: id, now: now) }
    }

    /// Consumer: sets the channel's daily cap (the config's MaxSpend may have changed since
    /// the channel was opened). Memory only, like every update.
    public mutating func setDailyCap(channel id: ChannelID, _ cap: UInt128?) throws(ChannelStoreError) {
        try modify(id) { $0.dailyCap = cap }
    }

    /// Changes a record in memory and marks it dirty (the watchdog's bookkeeping).
    mutating func modify(_ id: ChannelID, _ body: (inout ChannelRecord) -> Void) throws(ChannelStoreError) {
        guard var record = records[id] else { throw .unknownChannel(id) }
        body(&record)
        if record != records[id] {
            records[id] = record
            dirty.insert(id)
        }
    }
}
