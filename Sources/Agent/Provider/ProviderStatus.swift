import Configuration
import Glibc
import LinuxPlatform
import PacketPath
import Payment
import Policy
import Session
import Synchronization
import WarrenCrypto
import WireGuard

extension ProviderService {
    func status() -> ProviderStatus {
        // Bytes toward each consumer are counted by the core as it seals them.
        let sentByKey: [[UInt8]: UInt64] = plane?.tunnel.withLock { tunnel in
            Dictionary(tunnel.peers.map { ($0.publicKey, $0.innerSentBytes) }, uniquingKeysWith: { a, _ in a })
        } ?? [:]
        let now = clock.now().monotonic
        return state.withLock { state in
            ProviderStatus(
                identity: PublicIdentity(signingPublicKey: identity.signingPublicKey)?.description ?? "",
                wan: config.wan, exit: config.exit.rawValue, pool: config.pool.map(\.description),
                maxSessions: config.maxSessions, refused: state.refused, requestsDropped: state.requestsDropped,
                wallet: billing?.wallet.address.description,
                vouchersRefused: billing?.vouchersRefused.load(ordering: .relaxed),
                invoicesSent: billing?.invoicesSent.load(ordering: .relaxed),
                channelWrites: billing?.store.withLock { $0.durableWrites },
                learnedAddresses: { if case .whitelist(let list) = state.policy.mode { return list.learnedCount } else { return 0 } }(),
                hostNetworks: state.policy.protection.hostNetworks.prefixes.map(\.description),
                dnsForwarder: dnsListeners.map { $0.address.isV4 ? "\($0.address):\($0.port)" : "[\($0.address)]:\($0.port)" },
                sessions: state.sessions.values.sorted { $0.id < $1.id }.map { session in
                    ProviderSessionStatus(
                        id: session.id, consumer: session.consumer.description, publicKey: Base64Key.encode(session.wireGuardKey),
                        addresses: session.addresses.map(\.description), since: session.createdWall / 1_000_000_000,
                        bytesFromConsumer: session.meter.bytesFromConsumer, bytesToConsumer: sentByKey[session.wireGuardKey] ?? 0,
                        bytesForwarded: session.meter.bytesForwarded, whitelistHits: session.meter.whitelistHits,
                        dropped: session.meter.droppedPackets, droppedNotWhitelisted: session.meter.notWhitelisted,
                        droppedLocal: session.meter.blockedLocal, droppedSMTP: session.meter.blockedSMTP,
                        namesRefused: session.meter.namesRefused,
                        channel: session.account?.channel?.description,
                        earned: session.account.map { String($0.earned) },
                        due: session.account.map { String($0.due(now: now)) },
                        paused: session.account?.isPaused,
                        creditWindow: session.account?.windowBytes)
                })
        }
    }
}

public struct ProviderStatus: Codable, Sendable, Equatable {
    public var identity: String
    public var wan: String
    public var exit: String
    public var pool: [String]
    public var maxSessions: Int
    public var refused: UInt64
    public var requestsDropped: UInt64
    /// The provider's payment address; nil on a free provider.
    public var wallet: String?
    public var vouchersRefused: UInt64?
    public var invoicesSent: UInt64?
    /// Durable writes of channel files since the agent started (flash wear).
    public var channelWrites: Int?
    public var learnedAddresses: Int
    /// The host's networks no consumer reaches (addresses' prefixes and routes), as now read.
    public var hostNetworks: [String]?
    /// Where the DNS forwarder listens (a tunnel address and a kernel-chosen port; consumers
    /// ask port 53, which the provider's nftables table redirects there).
    public var dnsForwarder: [String]?
    public var sessions: [ProviderSessionStatus]
}

public struct ProviderSessionStatus: Codable, Sendable, Equatable {
    public var id: UInt32
    public var consumer: String
    public var publicKey: String
    public var addresses: [String]
    public var since: UInt64
    public var bytesFromConsumer: UInt64
    public var bytesToConsumer: UInt64
    public var bytesForwarded: UInt64
    public var whitelistHits: UInt64
    public var dropped: UInt64
    public var droppedNotWhitelisted: UInt64
    public var droppedLocal: UInt64
    public var droppedSMTP: UInt64
    public var namesRefused: UInt64
    /// Payment (nil on a free provider). Amounts are base units as decimal strings.
    public var channel: String?
    public var earned: String?
    public var due: String?
    public var paused: Bool?
    public var creditWindow: UInt64?
}
