import LinuxPlatform
import Glibc
import PacketPath
import Payment

/// What both payment roles open at start: the wallet key, the settlement backend and the
/// channel store, with sessions that died with the process marked ended.
struct PaymentState {
    var wallet: WalletKey
    var ledger: LocalLedger
    var store: ChannelStore

    static func open(stateDirectory: String, ledgerDirectory: String, section: String, persistInterval: UInt64,
                     log: EventLog) throws(AgentError) -> PaymentState {
        let wallet = try WalletStore.loadOrCreate(stateDirectory: stateDirectory)
        let ledger: LocalLedger
        do { ledger = try LocalLedger(files: DiskLedgerFiles(directory: ledgerDirectory)) } catch {
            throw .session("opening the local ledger in \(ledgerDirectory) ([\(section)] Ledger): \(error); check the directory exists and is writable by the agent")
        }
        let directory = stateDirectory + "/channels"
        var store: ChannelStore
        do { store = try ChannelStore.load(files: DiskChannelFiles(directory: directory), persistInterval: persistInterval) } catch {
            throw .session("loading the channels in \(directory): \(error)")
        }
        for name in store.damaged { log.error("channel file \(directory)/\(name) is damaged (torn or edited): not loaded; keep it for inspection") }
        // A session the files still show as running died with the power or the process.
        let ended = store.endSessionsLeftOpen(now: UInt64(time(nil)))
        if !ended.isEmpty { log.info("\(ended.count) channel(s) had a session when the agent stopped: marked ended") }
        return PaymentState(wallet: wallet, ledger: ledger, store: store)
    }
}
