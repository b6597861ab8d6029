import LinuxPlatform
import PacketPath
import Payment

/// What both payment roles open at start: the wallet key, the settlement backend and the
/// channel store, with sessions that died with the process marked ended.
struct PaymentState {
    var wallet: WalletKey
    var ledger: LocalLedger
    var store: ChannelStore
    /// Where the channel files are, as the log names them (a directory on disk).
    var channelsLocation: String

    /// Over the state directory's files on disk: what the agent runs with.
    static func open(stateDirectory: String, ledgerDirectory: String, section: String, persistInterval: UInt64,
                     nowWall: UInt64, log: EventLog) throws(AgentError) -> PaymentState {
        let wallet = try WalletStore.loadOrCreate(stateDirectory: stateDirectory)
        let directory = stateDirectory + "/channels"
        return try open(wallet: wallet, ledgerFiles: DiskLedgerFiles(directory: ledgerDirectory), ledgerLocation: ledgerDirectory,
                        channelFiles: DiskChannelFiles(directory: directory), channelsLocation: directory, section: section,
                        persistInterval: persistInterval, nowWall: nowWall, log: log)
    }

    /// Over any storage (in memory, in tests); `ledgerLocation` and `channelsLocation` are
    /// what errors and the log call them.
    static func open(wallet: WalletKey, ledgerFiles: some LedgerFiles, ledgerLocation: String, channelFiles: some ChannelFiles,
                     channelsLocation: String, section: String, persistInterval: UInt64, nowWall: UInt64,
                     log: EventLog) throws(AgentError) -> PaymentState {
        let ledger: LocalLedger
        do { ledger = try LocalLedger(files: ledgerFiles) } catch {
            throw .session("opening the local ledger in \(ledgerLocation) ([\(section)] Ledger): \(error); check the directory exists and is writable by the agent")
        }
        var store: ChannelStore
        do { store = try ChannelStore.load(files: channelFiles, persistInterval: persistInterval) } catch {
            throw .session("loading the channels in \(channelsLocation): \(error)")
        }
        for name in store.damaged { log.error("channel file \(channelsLocation)/\(name) is damaged (torn or edited): not loaded; keep it for inspection") }
        // A session the files still show as running died with the power or the process.
        let ended = store.endSessionsLeftOpen(now: nowWall)
        if !ended.isEmpty { log.info("\(ended.count) channel(s) had a session when the agent stopped: marked ended") }
        return PaymentState(wallet: wallet, ledger: ledger, store: store, channelsLocation: channelsLocation)
    }
}
