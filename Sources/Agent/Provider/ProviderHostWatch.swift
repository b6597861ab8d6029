import Glibc
import LinuxPlatform
import Policy
import Synchronization
import WireGuard

/// Keeps a provider's picture of the owner's networks current: every address prefix of every
/// interface and the destination of every route in every table (`RouteNetlink.hostPrefixes`),
/// minus defaults and the consumer pool (`HostNetworks`), read again as soon as the kernel
/// announces an address or route change (`RouteChangeMonitor`), and every 2 seconds. A change
/// goes into the data-plane policy at once (an assignment under the provider's lock) and into
/// the nftables sets `host4`/`host6` in one transaction, and is logged once.
///
/// A reading that fails keeps the last good set; an nftables update that fails is retried at
/// the next reading.
final class ProviderHostWatch: @unchecked Sendable {
    static let intervalMilliseconds = 2000

    /// The provider owns the watch (`hostWatch`) and outlives it.
    unowned let provider: ProviderService
    let log: EventLog
    private let netlink: RouteNetlink
    /// What the data plane and the nftables sets hold now.
    private let applied = Mutex<(policy: HostNetworks, nftables: HostNetworks)>((.empty, .empty))
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<pthread_t?>(nil)

    /// The provider's nftables table, whose sets this watch keeps current.
    let table: String

    init(provider: ProviderService, table: String, log: EventLog) throws(PlatformError) {
        self.provider = provider
        self.table = table
        self.log = log
        netlink = try RouteNetlink()
    }

    /// The host's networks now.
    func read() throws(PlatformError) -> HostNetworks {
        let prefixes = try netlink.hostPrefixes().compactMap { entry -> IPPrefix? in
            IPAddress(bytes: entry.bytes).flatMap { IPPrefix(address: $0, length: entry.length) }
        }
        return HostNetworks(prefixes, excluding: provider.config.pool)
    }

    /// Puts the first reading into the data plane; the caller installs the nftables table
    /// with the same networks.
    func install(_ networks: HostNetworks) {
        provider.setHostNetworks(networks)
        applied.withLock { $0 = (networks, networks) }
        log.info("consumers never reach the host's networks: \(Self.list(networks.prefixes))")
    }

    /// Reads again on every address or route change the kernel announces, and at least every
    /// 2 seconds, on a thread of its own until `stop`.
    func start() throws(PlatformError) {
        let monitor = try RouteChangeMonitor()
        let started = try startThread(name: "warren-hostnet") { [self] in
            var waited = 0
            while !stopping.load(ordering: .acquiring) {
                // Short waits, so that stop() returns quickly.
                let changed = monitor.waitForChange(milliseconds: 100)
                waited += 100
                if stopping.load(ordering: .acquiring) { break }
                guard changed || waited >= Self.intervalMilliseconds else { continue }
                waited = 0
                refresh()
            }
        }
        thread.withLock { $0 = started }
    }

    /// Stops the thread and waits for it, so no update races the table's removal.
    func stop() {
        stopping.store(true, ordering: .releasing)
        if let running = thread.withLock({ current -> pthread_t? in defer { current = nil }; return current }) {
            pthread_join(running, nil)
        }
    }

    /// One reading: applies and logs a change.
    func refresh() {
        let networks: HostNetworks
        do { networks = try read() } catch {
            log.limited("hostnet-read", "reading the host's networks failed, keeping the last set: \(error)")
            return
        }
        let (policy, nftables) = applied.withLock { $0 }
        if networks != policy {
            provider.setHostNetworks(networks)
            applied.withLock { $0.policy = networks }
            let before = Set(policy.prefixes), after = Set(networks.prefixes)
            let added = networks.prefixes.filter { !before.contains($0) }
            let removed = policy.prefixes.filter { !after.contains($0) }
            log.info("the host's networks changed (added \(Self.list(added)), removed \(Self.list(removed))): consumers never reach \(Self.list(networks.prefixes))")
        }
        if networks != nftables {
            do {
                try Nftables.apply(ProviderRuleset.hostSetsUpdate(networks.prefixes, table: table))
                applied.withLock { $0.nftables = networks }
            } catch {
                log.limited("hostnet-nft", "updating the sets host4/host6 of nftables table \(table) failed, retrying in \(Self.intervalMilliseconds / 1000) s (the data plane has the new networks already): \(error)")
            }
        }
    }

    static func list(_ prefixes: [IPPrefix]) -> String {
        prefixes.isEmpty ? "none" : prefixes.map(\.description).joined(separator: ", ")
    }
}
