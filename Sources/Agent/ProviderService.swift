import Glibc
import LinuxPlatform
import Policy
import Session
import Synchronization
import WireGuard

// Provider mode: sessions for consumers this node has never met.
//
//   UDP type 5 (request) -> admission (rate limit, before any crypto or state)
//     -> open (AEAD + signature) -> replay window -> capacity, price
//     -> allocate addresses -> add the consumer as a WireGuard peer -> type 6 answer
//   data plane, per decrypted consumer packet -> ExitPolicy verdict + meter
//   DNS forwarder -> whitelisted names go upstream, answers teach the whitelist
//   every second -> sessions idle past the timeout are removed
//   UDP type 7 (close, signed) -> the session ends at once

/// One consumer's session as the provider keeps it.
struct ProviderSession {
    var id: UInt32
    var consumer: PublicIdentity
    var wireGuardKey: [UInt8]
    var slot: Int
    var addresses: [IPPrefix]
    var createdWall: UInt64
    var lastActive: UInt64          // monotonic ns
    var meter = SessionMeter()
    var rateTokens: Double = 0
}

/// Shared between the UDP thread, the DNS forwarder, the timer and the control socket.
struct ProviderState {
    var sessions: [[UInt8]: ProviderSession] = [:]      // by consumer WireGuard key
    var pool: AddressPool
    var admission = SessionAdmission()
    var policy: ExitPolicy
    var nextSessionID: UInt32 = 1
    var refused: UInt64 = 0
    var requestsDropped: UInt64 = 0
}

final class ProviderService: @unchecked Sendable {
    let identity: NodeIdentity
    let config: ProviderConfig
    let state: Mutex<ProviderState>
    let providerAddresses: [IPPrefix]
    let mtu: Int
    let log: EventLog
    let entropy = SystemEntropy()
    /// Set once the data plane exists: consumer peers are added and removed under its lock.
    weak var plane: DataPlane?

    init(identity: NodeIdentity, config: ProviderConfig, whitelist: ExitWhitelist?, hostAddresses: [IPAddress], mtu: Int, log: EventLog) {
        self.identity = identity
        self.config = config
        self.mtu = mtu
        self.log = log
        let pool = AddressPool(prefixes: config.pool)
        providerAddresses = pool.providerAddresses
        let dnsAddresses = providerAddresses.map(\.address)
        let protection = HostProtection(hostAddresses: hostAddresses + dnsAddresses, localPrefixes: [], allowedLocalDNS: dnsAddresses)
        let mode: ExitPolicy.Mode = whitelist.map { .whitelist($0) } ?? .open
        state = Mutex(ProviderState(pool: pool, policy: ExitPolicy(mode: mode, protection: protection, consumerPools: config.pool)))
    }

    var dnsV4: IPAddress? { providerAddresses.first { $0.address.isV4 }?.address }
    var dnsV6: IPAddress? { providerAddresses.first { !$0.address.isV4 }?.address }

    // MARK: Session messages

    func handle(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram] {
        guard let type = message.first else { return [] }
        switch type {
        case SessionMessageType.request.rawValue: return handleRequest(message, from: source, now: now)
        case SessionMessageType.close.rawValue: handleClose(message, now: now); return []
        default: return []
        }
    }

    private func handleRequest(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram] {
        // Rate limit per source before any crypto or state.
        let allowed = state.withLock { $0.admission.admitDatagram(from: source.address, now: now) }
        guard allowed == .admit else {
            state.withLock { $0.requestsDropped &+= 1 }
            log.limited("session-rate", "session requests from \(source.address) rate limited")
            return []
        }
        let request: OpenedSessionRequest
        do { request = try OpenedSessionRequest.open(message, providerIdentity: identity) } catch {
            state.withLock { $0.requestsDropped &+= 1 }
            log.limited("session-bad", "dropped a session request from \(source): \(error)")
            return []
        }
        let verdict = state.withLock { $0.admission.admitRequest(request, now: now) }
        guard verdict == .admit else {
            state.withLock { $0.requestsDropped &+= 1 }
            log.limited("session-replay", "dropped a session request from \(source): \(verdict)")
            return []
        }
        let answer = decide(request, now: now)
        return [Datagram(bytes: SessionResponse.seal(answer, to: request, entropy: entropy), endpoint: source)]
    }

    private func prices() -> SessionPrices {
        SessionPrices(perGiB: config.price.perGiB.baseUnits, perMinute: config.price.perMinute.baseUnits)
    }

    private func decide(_ request: OpenedSessionRequest, now: Now) -> SessionAnswer {
        let prices = prices()
        guard prices.fit(within: request.maxPrices) else {
            state.withLock { $0.refused &+= 1 }
            return .refused(SessionRefusal(reason: .priceTooLow, prices: prices, text: "the price is higher than the consumer accepts"))
        }
        // A consumer reconnecting replaces its old session (same key, fresh addresses kept).
        let result: (SessionGrant, [IPPrefix], Bool)? = state.withLock { state -> (SessionGrant, [IPPrefix], Bool)? in
            var session: ProviderSession
            var isNew = false
            if var existing = state.sessions[request.consumerWireGuardKey] {
                existing.lastActive = now.monotonic
                session = existing
            } else {
                guard state.sessions.count < config.maxSessions, let (slot, addresses) = state.pool.allocate() else { return nil }
                session = ProviderSession(id: state.nextSessionID, consumer: request.consumer, wireGuardKey: request.consumerWireGuardKey,
                                          slot: slot, addresses: addresses, createdWall: now.wall, lastActive: now.monotonic)
                state.nextSessionID &+= 1
                isNew = true
            }
            state.sessions[request.consumerWireGuardKey] = session
            guard let grant = try? SessionGrant(
                sessionID: session.id,
                consumerIPv4: session.addresses.first { $0.address.isV4 },
                consumerIPv6: session.addresses.first { !$0.address.isV4 },
                mtu: UInt16(clamping: mtu), dnsIPv4: dnsV4, dnsIPv6: dnsV6,
                providerTunnelIPv4: dnsV4, providerTunnelIPv6: dnsV6, prices: prices,
                creditWindowBytes: 0, voucherIntervalBytes: 0, idleTimeoutSeconds: UInt32(config.idleTimeoutSeconds)) else { return nil }
            return (grant, session.addresses, isNew)
        }
        guard let (grant, addresses, isNew) = result else {
            state.withLock { $0.refused &+= 1 }
            return .refused(SessionRefusal(reason: .full, prices: prices, text: "no free session (MaxSessions \(config.maxSessions))"))
        }
        if isNew {
            _ = plane?.tunnel.withLock { $0.addPeer(publicKey: request.consumerWireGuardKey, allowedIPs: addresses) }
            log.info("session \(grant.sessionID) opened for \(request.consumer) at \(addresses.map(\.description).joined(separator: ", "))")
        }
        return .accepted(grant)
    }

    private func handleClose(_ message: UnsafeRawBufferPointer, now: Now) {
        guard let sessionID = try? SessionClose.unverifiedSessionID(message) else { return }
        let match = state.withLock { state in state.sessions.values.first { $0.id == sessionID } }
        guard let session = match, (try? SessionClose.open(message, from: session.consumer)) != nil else {
            log.limited("session-close-bad", "dropped a session close that did not verify")
            return
        }
        end(session.wireGuardKey, reason: "closed by the consumer")
    }

    private func end(_ key: [UInt8], reason: String) {
        guard let session = state.withLock({ state -> ProviderSession? in
            guard let session = state.sessions.removeValue(forKey: key) else { return nil }
            state.pool.release(slot: session.slot)
            return session
        }) else { return }
        let sent = plane?.tunnel.withLock { tunnel -> UInt64 in
            let bytes = tunnel.peer(publicKey: key)?.innerSentBytes ?? 0
            tunnel.removePeer(publicKey: key)
            return bytes
        } ?? 0
        log.info("session \(session.id) of \(session.consumer) ended (\(reason)): \(session.meter.bytesFromConsumer) B from, \(sent) B to the consumer")
    }

    // MARK: Data plane

    /// Decides one decrypted packet from `peer`; false drops it.
    func admitFromConsumer(_ peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        state.withLock { state in
            guard var session = state.sessions[peer.publicKey] else { return true }   // a configured [Peer], not a consumer
            let verdict = state.policy.verdict(packet: packet, now: now.monotonic)
            var forwarded = verdict.isForwarded
            if forwarded, let limit = config.rateLimit {
                let elapsed = Double(now.monotonic &- session.lastActive) / 1e9
                session.rateTokens = min(Double(limit), session.rateTokens + elapsed * Double(limit))
                if session.rateTokens >= Double(packet.count) { session.rateTokens -= Double(packet.count) } else { forwarded = false }
            }
            session.meter.recordFromConsumer(bytes: packet.count, verdict: forwarded ? verdict : (verdict.isForwarded ? .notWhitelisted : verdict))
            session.lastActive = now.monotonic
            state.sessions[peer.publicKey] = session
            return forwarded
        }
    }

    // MARK: Housekeeping

    func housekeeping(now: Now) {
        let timeout = UInt64(config.idleTimeoutSeconds) * 1_000_000_000
        state.withLock { $0.policy.expire(now: now.monotonic) }
        let idle = state.withLock { state in
            state.sessions.values.filter { now.monotonic &- $0.lastActive > timeout }.map(\.wireGuardKey)
        }
        // A session is active while its peer handshakes or sends.
        for key in idle {
            let recent = plane?.tunnel.withLock { tunnel -> Bool in
                guard let peer = tunnel.peer(publicKey: key), peer.latestHandshakeWall > 0 else { return false }
                return now.wall &- peer.latestHandshakeWall < timeout
            } ?? false
            if recent {
                state.withLock { state in state.sessions[key]?.lastActive = now.monotonic }
            } else {
                end(key, reason: "idle for \(config.idleTimeoutSeconds) s")
            }
        }
    }

    func status() -> ProviderStatus {
        // Bytes toward each consumer are counted by the core as it seals them.
        let sentByKey: [[UInt8]: UInt64] = plane?.tunnel.withLock { tunnel in
            Dictionary(tunnel.peers.map { ($0.publicKey, $0.innerSentBytes) }, uniquingKeysWith: { a, _ in a })
        } ?? [:]
        return state.withLock { state in
            ProviderStatus(
                identity: PublicIdentity(signingPublicKey: identity.signingPublicKey)?.description ?? "",
                wan: config.wan, exit: config.exit.rawValue, pool: config.pool.map(\.description),
                maxSessions: config.maxSessions, refused: state.refused, requestsDropped: state.requestsDropped,
                learnedAddresses: { if case .whitelist(let list) = state.policy.mode { return list.learnedCount } else { return 0 } }(),
                sessions: state.sessions.values.sorted { $0.id < $1.id }.map { session in
                    ProviderSessionStatus(
                        id: session.id, consumer: session.consumer.description, publicKey: Base64Key.encode(session.wireGuardKey),
                        addresses: session.addresses.map(\.description), since: session.createdWall / 1_000_000_000,
                        bytesFromConsumer: session.meter.bytesFromConsumer, bytesToConsumer: sentByKey[session.wireGuardKey] ?? 0,
                        bytesForwarded: session.meter.bytesForwarded, whitelistHits: session.meter.whitelistHits,
                        dropped: session.meter.droppedPackets, droppedNotWhitelisted: session.meter.notWhitelisted,
                        droppedLocal: session.meter.blockedLocal, droppedSMTP: session.meter.blockedSMTP,
                        namesRefused: session.meter.namesRefused)
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
    public var learnedAddresses: Int
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
}
