/// Settlement: the one small interface through which channels are opened, claimed and
/// reclaimed. The embedded `LocalLedger` implements it on one machine; an EVM chain backend
/// implements it with a contract that keeps exactly the same rules.
public protocol Settlement {
    func open(_ channel: Channel, now: UInt64) throws(LedgerError)
    func claim(_ voucher: SignedVoucher, now: UInt64) throws(LedgerError) -> ClaimReceipt
    func reclaim(_ channelID: ChannelID, now: UInt64) throws(LedgerError) -> UInt128
    func balance(of address: EthereumAddress) throws(LedgerError) -> UInt128
    func claimState(_ id: ClaimID) throws(LedgerError) -> ClaimState
    func channel(_ id: ChannelID) throws(LedgerError) -> LedgerChannel?
}

/// The single-machine stand-in for the on-chain channel contract: `LedgerState`'s rules,
/// kept in `LedgerFiles` that several agents on the same machine share (a directory: the
/// demo and the tests). Each call locks, loads, applies one operation, stores, and unlocks,
/// so the state is always one that some sequence of whole operations produced.
///
/// The files hold the state (`LedgerText`) and the journal (`LedgerJournal`). The lock is
/// held from reading the state to replacing it and appending the journal line. Readers that
/// only look (`snapshot(files:)`, the journal reader) take no lock: the state is replaced
/// atomically and a journal line is whole once its newline is written.
public struct LocalLedger: Settlement, Sendable {
    public let domain: EIP712Domain
    private let files: any LedgerFiles

    /// The domain of the local ledger by default: chain id 31337 (the one local development
    /// chains use) and a contract address no key controls, keccak256("warren local ledger")'s
    /// last 20 bytes.
    public static let defaultDomain = EIP712Domain(
        name: "warren", version: "1", chainID: 31337,
        verifyingContract: EthereumAddress(checked: Array(Keccak256.hash(Array("warren local ledger".utf8))[12..<32])))

    /// Opens (creating if needed) the ledger in `files`. An existing ledger made for another
    /// domain is refused rather than silently mixed.
    public init(files: some LedgerFiles, domain: EIP712Domain = LocalLedger.defaultDomain) throws(LedgerError) {
        self.files = files
        self.domain = domain
        _ = try read { _ in () }
    }

    /// The faucet (local ledger only). `now` (Unix seconds) only dates its journal line.
    public func fund(_ address: EthereumAddress, amount: UInt128, now: UInt64) throws(LedgerError) {
        try update({ LedgerJournal.fundLine(address, amount: amount, time: now, $0) }) {
            (state: inout LedgerState) throws(LedgerError) in try state.fund(address, amount: amount)
        }
    }

    public func open(_ channel: Channel, now: UInt64) throws(LedgerError) {
        try update({ LedgerJournal.openLine(channel, time: now, $0) }) {
            (state: inout LedgerState) throws(LedgerError) in try state.open(channel, now: now)
        }
    }

    public func claim(_ voucher: SignedVoucher, now: UInt64) throws(LedgerError) -> ClaimReceipt {
        try update({ LedgerJournal.claimLine(voucher, time: now, $0) }) {
            (state: inout LedgerState) throws(LedgerError) in try state.claim(voucher, now: now)
        }
    }

    public func reclaim(_ channelID: ChannelID, now: UInt64) throws(LedgerError) -> UInt128 {
        try update({ LedgerJournal.reclaimLine(channelID, time: now, $0) }) {
            (state: inout LedgerState) throws(LedgerError) in try state.reclaim(channelID, now: now)
        }
    }

    public func balance(of address: EthereumAddress) throws(LedgerError) -> UInt128 {
        try read { $0.balance(of: address) }
    }

    public func claimState(_ id: ClaimID) throws(LedgerError) -> ClaimState {
        try read { $0.claimState(id) }
    }

    public func channel(_ id: ChannelID) throws(LedgerError) -> LedgerChannel? {
        try read { $0.channels[id] }
    }

    /// The whole state, for status displays and tests.
    public func snapshot() throws(LedgerError) -> LedgerState {
        try read { $0 }
    }

    /// The state in `files` whatever its domain, for a display next to running agents: no
    /// lock (the state is replaced atomically), nothing created. Nil when there is no state
    /// (no directory, or a ledger nothing has written to yet).
    public static func snapshot(files: some LedgerFiles) throws(LedgerError) -> LedgerState? {
        try decodedState(files)
    }

    private static func decodedState(_ files: some LedgerFiles) throws(LedgerError) -> LedgerState? {
        let bytes: [UInt8]?
        do { bytes = try files.readState(limit: LedgerText.maximumLength) } catch { throw .storage(error) }
        guard let bytes else { return nil }
        return try LedgerText.decode(bytes)
    }

    /// The state in the files (empty when none yet), refused when made for another domain.
    private func load() throws(LedgerError) -> LedgerState {
        guard let state = try Self.decodedState(files) else { return LedgerState(domain: domain) }
        guard state.domain == domain else { throw .domainMismatch }
        return state
    }

    private func read<T>(_ body: (LedgerState) -> T) throws(LedgerError) -> T {
        try files.withExclusiveLock { () throws(LedgerError) -> T in body(try load()) }
    }

    /// Applies one operation under the lock, writes the state if it changed, then appends the
    /// operation's journal line, refusals included, before the lock goes.
    ///
    /// A journal that cannot be appended to fails the call with `.storage`, even when the
    /// operation took effect: an incomplete journal would let a double submission go unseen.
    /// Callers already handle "done, but the answer was lost" (as with a chain), e.g. the
    /// watchdog asks for the claim's state by its id before submitting again.
    private func update<T>(_ journal: (Result<T, LedgerError>) -> String,
                           _ body: (inout LedgerState) throws(LedgerError) -> T) throws(LedgerError) -> T {
        try files.withExclusiveLock { () throws(LedgerError) -> T in
            let outcome = Result { () throws(LedgerError) -> T in
                var state = try load()
                let before = state
                let result = try body(&state)
                if state != before { try store(state) }
                return result
            }
            try appendJournal(journal(outcome))
            return try outcome.get()
        }
    }

    private func store(_ state: LedgerState) throws(LedgerError) {
        do { try files.replaceState(with: LedgerText.encode(state)) } catch { throw .storage(error) }
    }

    private func appendJournal(_ line: String) throws(LedgerError) {
        do { try files.appendJournal(Array((line + "\n").utf8)) } catch { throw .storage(error) }
    }
}
