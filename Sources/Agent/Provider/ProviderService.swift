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

// Provider mode: sessions for consumers this node has never met.
//
//   UDP type 5 (request) -> admission (rate limit, before any crypto or state)
//     -> open (AEAD + signature) -> replay window -> capacity, price
//     -> allocate addresses -> add the consumer as a WireGuard peer -> type 6 answer
//   data plane, per decrypted consumer packet -> ExitPolicy verdict + meter
//   DNS forwarder -> whitelisted names go upstream, answers teach the whitelist
//     (never an address of the host, its networks or a local-only range)
//   every second -> sessions idle past the timeout are removed
//   every 2 seconds (ProviderHostWatch) -> the host's networks read again, protected in both layers
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
    /// Payment state; nil when this provider is free.
    var account: ProviderAccount?
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
    /// The same, without lengths: what the per-packet payment check compares with.
    let providerAddressList: [IPAddress]
    let mtu: Int
    let log: EventLog
    /// The agent's clock, for what is not handed `now` by the data plane (closes, vouchers, status).
    let clock: TimeSource
    let entropy = SystemEntropy()
    /// Set once the data plane exists: consumer peers are added and removed under its lock.
    weak var plane: DataPlane?
    /// Payment machinery; nil when the provider's price is zero.
    var billing: ProviderBilling?
    /// Keeps the host's networks current; set once the provider is started.
    var hostWatch: ProviderHostWatch?
    /// Where the DNS forwarder listens (for status); set once it is bound.
    var dnsListeners: [ProviderRuleset.DNSListener] = []
    let housekeepingTicks = Atomic<UInt64>(0)

    init(identity: NodeIdentity, config: ProviderConfig, whitelist: ExitWhitelist?, hostAddresses: [IPAddress], mtu: Int,
         clock: TimeSource, log: EventLog) {
        self.identity = identity
        self.clock = clock
        self.config = config
        self.mtu = mtu
        self.log = log
        let pool = AddressPool(prefixes: config.pool)
        providerAddresses = pool.providerAddresses
        providerAddressList = providerAddresses.map(\.address)
        let dnsAddresses = providerAddresses.map(\.address)
        // The host's networks come from ProviderHostWatch before the first packet.
        let protection = HostProtection(hostAddresses: hostAddresses + dnsAddresses, allowedLocalDNS: dnsAddresses)
        let mode: ExitPolicy.Mode = whitelist.map { .whitelist($0) } ?? .open
        state = Mutex(ProviderState(pool: pool, policy: ExitPolicy(mode: mode, protection: protection, consumerPools: config.pool)))
    }

    /// Replaces the host's networks in the exit policy (built by the caller, outside the lock).
    func setHostNetworks(_ networks: HostNetworks) {
        state.withLock { $0.policy.setHostNetworks(networks) }
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

    private func prices() -> Tariff {
        config.price
    }

    /// What `decide` did under the provider's lock.
    private enum Decision {
        case granted(SessionGrant, addresses: [IPPrefix], isNew: Bool, gate: BillingGate?)
        case full
        /// Refused by the credit book; a live session of the consumer it replaced is ended.
        case refused(SessionRefusal, ended: ProviderSession?, settle: [ChannelID])
    }

    private func decide(_ request: OpenedSessionRequest, now: Now) -> SessionAnswer {
        let prices = prices()
        guard prices.fit(within: request.maxPrices) else {
            state.withLock { $0.refused &+= 1 }
            return .refused(SessionRefusal(reason: .priceTooLow, prices: prices, text: "the price is higher than the consumer accepts"))
        }
        let consumer = request.consumer.signingPublicKey
        if let billing, billing.isRefusedNonPayer(consumer, now: now.monotonic) {
            state.withLock { $0.refused &+= 1 }
            return .refused(SessionRefusal(reason: .policyRefused, prices: prices, text: "an earlier session was not paid: refused for 10 minutes"))
        }
        // A paying provider keeps one session per consumer identity, so that its credit is
        // counted once: a request with another tunnel key ends the identity's other session.
        if billing != nil, let other = state.withLock({ state in
            state.sessions.first { $0.key != request.consumerWireGuardKey && $0.value.consumer.signingPublicKey == consumer }?.key
        }) {
            end(other, reason: "the consumer asked again with another tunnel key")
        }
        // A consumer reconnecting replaces its old session (same key, fresh addresses kept).
        var carried: UInt128 = 0
        let decision = state.withLock { state -> Decision in
            var session: ProviderSession
            var isNew = false
            var replacedChannel: ChannelID?
            if var existing = state.sessions[request.consumerWireGuardKey] {
                existing.lastActive = now.monotonic
                // A consumer that asks again has restarted: its counters begin anew, so does the
                // bill; what the old account left unpaid stays with the identity (its debt).
                if let billing, var old = existing.account {
                    // Its gate stays on the peer until the new one replaces it below: closed, it
                    // passes nothing more that is billed.
                    replacedChannel = billing.close(&old, now: now).handedOn
                }
                existing.account = nil
                session = existing
            } else {
                guard state.sessions.count < config.maxSessions, let (slot, addresses) = state.pool.allocate() else { return .full }
                session = ProviderSession(id: state.nextSessionID, consumer: request.consumer, wireGuardKey: request.consumerWireGuardKey,
                                          slot: slot, addresses: addresses, createdWall: now.wall, lastActive: now.monotonic)
                state.nextSessionID &+= 1
                isNew = true
            }
            var window: UInt64 = 0
            if let billing {
                var refusal: SessionRefusal?
                switch billing.open(consumer: consumer, now: now) {
                case .granted(let grant):
                    window = grant.windowBytes
                    carried = grant.carried
                    session.account = ProviderAccount(sessionID: session.id, consumer: consumer, terms: billing.terms, grant: grant,
                                                       replacing: replacedChannel, now: now.monotonic)
                case .owes:
                    refusal = SessionRefusal(reason: .policyRefused, prices: prices, text: "unpaid from earlier sessions: refused for up to 10 min")
                case .strangersFull(let retry):
                    refusal = SessionRefusal(reason: .rateLimited, prices: prices, text: "credit for new consumers used up: retry in \(retry) s")
                }
                // Refused: the slot goes back, and a session the request replaced ends.
                if let refusal {
                    state.refused &+= 1
                    state.pool.release(slot: session.slot)
                    guard !isNew else { return .refused(refusal, ended: nil, settle: []) }
                    state.sessions.removeValue(forKey: request.consumerWireGuardKey)
                    return .refused(refusal, ended: session, settle: replacedChannel.map { [$0] } ?? [])
                }
            }
            state.sessions[request.consumerWireGuardKey] = session
            guard let grant = try? SessionGrant(
                sessionID: session.id,
                consumerIPv4: session.addresses.first { $0.address.isV4 },
                consumerIPv6: session.addresses.first { !$0.address.isV4 },
                mtu: UInt16(clamping: mtu), dnsIPv4: dnsV4, dnsIPv6: dnsV6,
                providerTunnelIPv4: dnsV4, providerTunnelIPv6: dnsV6, prices: prices,
                creditWindowBytes: window, voucherIntervalBytes: window / 4, idleTimeoutSeconds: UInt32(config.idleTimeoutSeconds),
                providerWallet: billing?.wallet.address.bytes) else { return .full }
            return .granted(grant, addresses: session.addresses, isNew: isNew, gate: session.account?.gate)
        }
        switch decision {
        case .full:
            state.withLock { $0.refused &+= 1 }
            return .refused(SessionRefusal(reason: .full, prices: prices, text: "no free session (MaxSessions \(config.maxSessions))"))
        case .refused(let refusal, let ended, let settle):
            log.limited("session-credit", "session request of \(request.consumer) refused: \(refusal.text)")
            if let ended { finish(ended, reason: "asked again and refused: \(refusal.text)", settle: settle) }
            return .refused(refusal)
        case .granted(let grant, let addresses, let isNew, let gate):
            plane?.tunnel.withLock { tunnel in
                let peer = isNew ? tunnel.addPeer(publicKey: request.consumerWireGuardKey, allowedIPs: addresses)
                                 : tunnel.peer(publicKey: request.consumerWireGuardKey)
                peer?.attachment = gate
            }
            let debt = carried > 0 ? ", carrying \(TokenAmount(baseUnits: carried).shown) unpaid from earlier sessions" : ""
            if isNew {
                log.info("session \(grant.sessionID) opened for \(request.consumer) at \(addresses.map(\.description).joined(separator: ", "))\(debt)")
            } else {
                log.limited("session-again", "session \(grant.sessionID) of \(request.consumer) asked again: counters restart\(debt)")
            }
            return .accepted(grant)
        }
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

    func end(_ key: [UInt8], reason: String) {
        guard let session = state.withLock({ state -> ProviderSession? in
            guard let session = state.sessions.removeValue(forKey: key) else { return nil }
            state.pool.release(slot: session.slot)
            return session
        }) else { return }
        finish(session, reason: reason)
    }

    /// The rest of a session's end, once it is out of the table: its peer goes, its account
    /// is closed (what it left unpaid stays with the identity) and its channels (`settle`
    /// too) are marked ended for the watchdog to claim.
    func finish(_ session: ProviderSession, reason: String, settle: [ChannelID] = []) {
        let key = session.wireGuardKey
        let sent = plane?.tunnel.withLock { tunnel -> UInt64 in
            let bytes = tunnel.peer(publicKey: key)?.innerSentBytes ?? 0
            tunnel.removePeer(publicKey: key)
            return bytes
        } ?? 0
        log.info("session \(session.id) of \(session.consumer) ended (\(reason)): \(session.meter.bytesFromConsumer) B from, \(sent) B to the consumer")
        guard let billing else { return }
        let now = clock.now()
        var channels = settle
        if var account = session.account {
            let closing = billing.close(&account, now: now)
            log.info("session \(session.id)\(closing.channel.map { " on channel \($0)" } ?? ""): due \(TokenAmount(baseUnits: closing.due).exact), paid \(TokenAmount(baseUnits: closing.paid).exact), left unpaid \(TokenAmount(baseUnits: closing.leftUnpaid).shown)")
            channels += closing.settle
        }
        for channel in channels {
            billing.sessionEnded(channel: channel, nowWall: now.wall / 1_000_000_000)
        }
    }

    /// Ends every session (the agent is stopping): each channel is marked ended and written,
    /// and the watchdog claims what is worth claiming.
    func endAll(reason: String) {
        hostWatch?.stop()
        let keys = state.withLock { Array($0.sessions.keys) }
        for key in keys { end(key, reason: reason) }
        billing?.shutdown(nowWall: clock.now().wall / 1_000_000_000)
    }

    // MARK: Data plane

    /// Decides one decrypted packet from `peer`; false drops it.
    func admitFromConsumer(_ peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        state.withLock { state in
            guard var session = state.sessions[peer.publicKey] else { return true }   // a configured [Peer], not a consumer
            if session.account != nil {
                let isPayment = PaymentPort.matches(packet, destination: true, addresses: providerAddressList)
                if isPayment { return true }
                guard admitBilled(&session, bytes: packet.count, fromConsumer: true, now: now) else {
                    state.sessions[peer.publicKey] = session
                    return false
                }
            }
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

    /// Decides one packet toward a consumer (the role's `admitOutbound`): only billing can
    /// hold it back. Runs under the tunnel's lock: the common case touches only the peer's
    /// gate; crossing the allowance takes the provider's lock (order: tunnel, then provider).
    func admitToConsumer(_ peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        guard let gate = peer.attachment as? BillingGate else { return true }
        let isPayment = PaymentPort.matches(packet, destination: false, addresses: providerAddressList)
        switch gate.admit(bytes: packet.count, fromConsumer: false, isPayment: isPayment) {
        case .pass: return true
        case .drop: return false
        case .recheck:
            return state.withLock { state in
                guard var session = state.sessions[peer.publicKey], session.account?.gate === gate else { return false }
                let admitted = admitBilled(&session, bytes: packet.count, fromConsumer: false, now: now)
                state.sessions[peer.publicKey] = session
                return admitted
            }
        }
    }

    // MARK: Housekeeping

    func housekeeping(now: Now) {
        if let billing { billingTick(billing, now: now) }
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

}
