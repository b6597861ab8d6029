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
/// kept in a directory that several agents on the same machine share (the demo and the
/// tests). Each call locks, loads, applies one operation, stores, and unlocks, so the file
/// always holds a state some sequence of whole operations produced.
public struct LocalLedger: Settlement, Sendable {
    public let directory: String
    public let domain: EIP712Domain

    /// The domain of the local ledger by default: chain id 31337 (the one local development
    /// chains use) and a contract address no key controls, keccak256("warren local ledger")'s
    /// last 20 bytes.
    public static let defaultDomain = EIP712Domain(
        name: "warren", version: "1", chainID: 31337,
        verifyingContract: EthereumAddress(checked: Array(Keccak256.hash(Array("warren local ledger".utf8))[12..<32])))

    /// Opens (creating if needed) the ledger in `directory`. An existing ledger made for
    /// another domain is refused rather than silently mixed.
    public init(directory: String, domain: EIP712Domain = LocalLedger.defaultDomain) throws(LedgerError) {
        self.directory = directory
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

    /// The state in `directory` whatever its domain, for a display next to running agents:
    /// no lock (the state file is replaced by an atomic rename), nothing created. Nil when
    /// there is no state file (no directory, or a ledger nothing has written to yet).
    public static func snapshot(directory: String) throws(LedgerError) -> LedgerState? {
        guard let bytes = try LedgerFile.contents(of: directory + "/" + LedgerFile.stateName,
                                                  limit: LedgerText.maximumLength) else { return nil }
        return try LedgerText.decode(bytes)
    }

    private func load(_ file: LedgerFile) throws(LedgerError) -> LedgerState {
        guard let bytes = try file.read() else { return LedgerState(domain: domain) }
        let state = try LedgerText.decode(bytes)
        guard state.domain == domain else { throw .domainMismatch }
        return state
    }

    private func read<T>(_ body: (LedgerState) -> T) throws(LedgerError) -> T {
        let file = try LedgerFile(directory: directory)
        return try file.withExclusiveLock { () throws(LedgerError) -> T in body(try load(file)) }
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
        let file = try LedgerFile(directory: directory)
        return try file.withExclusiveLock { () throws(LedgerError) -> T in
            let outcome = Result { () throws(LedgerError) -> T in
                var state = try load(file)
                let before = state
                let result = try body(&state)
                if state != before { try file.write(LedgerText.encode(state)) }
                return result
            }
            try file.appendJournal(journal(outcome))
            return try outcome.get()
        }
    }
}
