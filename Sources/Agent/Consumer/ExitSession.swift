import Glibc
import LinuxPlatform
import PacketPath
import Session
import Synchronization
import WarrenCrypto
import WireGuard

/// The consumer's side of a session: one request, one answer, a few retries.
enum ExitSession {
    struct Opened {
        var grant: SessionGrant
        var endpoint: Endpoint
        var provider: ProviderAddress
        var maxPrices: Tariff
    }

    static let attempts = 6

    /// How often a wait for the answer looks at the clock: a receive on the UDP socket
    /// returns empty after this long.
    static let receivePollMilliseconds = 100

    /// Over the agent's UDP socket: its receives are bounded while the session is asked for,
    /// and block again afterwards (the data plane's receive thread takes the socket over).
    static func open(socket: UDPSocket, identity: NodeIdentity, provider: ProviderAddress, maxPrices: Tariff,
                     clock: TimeSource, log: EventLog) throws(AgentError) -> Opened {
        _ = try? socket.setReceiveTimeout(milliseconds: receivePollMilliseconds)
        defer { _ = try? socket.setReceiveTimeout(milliseconds: 0) }
        return try open(over: socket, identity: identity, provider: provider, maxPrices: maxPrices, clock: clock, log: log)
    }

    /// Sends a request and waits `attempt` seconds of `clock` for its answer, up to `attempts`
    /// times. `socket`'s receive must return (empty) now and then, so the wait can end.
    static func open(over socket: any DatagramSocket, identity: NodeIdentity, provider: ProviderAddress, maxPrices: Tariff,
                     clock: TimeSource, log: EventLog) throws(AgentError) -> Opened {
        let addresses: [SocketAddress]
        do { addresses = try SocketAddress.resolve(host: provider.host, port: provider.port) } catch {
            throw .platform(step: "resolving the provider \(provider.host)", error)
        }
        guard let target = addresses.first else {
            throw .platform(step: "resolving the provider", PlatformError(call: "getaddrinfo", errno: 0, message: "\(provider.host) has no address"))
        }
        let endpoint = Endpoint(target)
        var batch = ReceiveBatch(count: 4, bufferSize: 2048, headroom: 0)
        for attempt in 1...attempts {
            let sealed: (bytes: [UInt8], secret: SessionRequestSecret)
            do {
                sealed = try SessionRequest.seal(identity: identity, provider: provider.identity, maxPrices: maxPrices,
                                                 channel: nil, now: clock.now(), entropy: SystemEntropy())
            } catch {
                throw .session("sealing a session request to \(provider.identity): \(error)")
            }
            do { try sealed.bytes.withUnsafeBytes { try socket.send($0, to: target) } } catch {
                log.limited("session-send", "sending the session request to \(endpoint): \(error)")
            }
            // Wait up to attempt seconds for the answer to this request.
            let deadline = clock.now().monotonic &+ UInt64(attempt) * 1_000_000_000
            repeat {
                // A failing receive ends this attempt's wait at once, as it always did.
                let count: Int
                do { count = try socket.receive(into: &batch) } catch { break }
                for i in 0..<count {
                    let bytes = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[0..<batch.length(i)])
                    guard bytes.first == SessionMessageType.response.rawValue else { continue }
                    guard let answer = try? SessionResponse.open(bytes, secret: sealed.secret) else { continue }
                    switch answer {
                    case .accepted(let grant):
                        return Opened(grant: grant, endpoint: endpoint, provider: provider, maxPrices: maxPrices)
                    case .refused(let refusal):
                        throw .session("provider \(provider) refused the session: \(refusal.reason)" + (refusal.text.isEmpty ? "" : " (\(refusal.text))"))
                    }
                }
            } while clock.now().monotonic < deadline
            log.warning("no answer from provider \(endpoint) (attempt \(attempt) of \(attempts))")
        }
        throw .session("provider \(provider) did not answer \(attempts) session requests: check its endpoint, that it runs in provider mode, and the identity")
    }
}

/// Keeps the consumer's session: notices when the provider lost it (it restarted, or ended
/// the session: it answers none of our handshakes), asks for a new one on the socket the data
/// plane owns (answers reach `offer` through `ConsumerRole`), and goes on
/// when the new grant keeps our addresses and payment terms. Otherwise it records why and
/// stops the agent (exit 4), so the service manager (Restart=always) starts afresh; a
/// gateway's kill switch keeps the LAN closed meanwhile.
final class ExitSessionKeeper: @unchecked Sendable {
    /// Handshake retransmissions (5 s apart) without an answer before the session counts as lost.
    static let lostSessionRetries = 3
    /// No second renewal this soon after one: the new session's first handshake needs a moment.
    static let quietAfterRenewal: UInt64 = 60_000_000_000

    let identity: NodeIdentity
    let opened: ExitSession.Opened
    let providerKey: [UInt8]
    let payment: ConsumerPayment?
    let log: EventLog
    /// Where a lost session goes: the agent stops with exit code 4.
    let shutdown: Shutdown
    let clock: TimeSource
    private let request = Mutex<(secret: SessionRequestSecret?, answer: SessionAnswer?)>((nil, nil))
    private let state: Mutex<(grant: SessionGrant, renewing: Bool, quietUntil: UInt64, lost: String?)>

    init(identity: NodeIdentity, opened: ExitSession.Opened, providerKey: [UInt8],
         payment: ConsumerPayment?, shutdown: Shutdown, clock: TimeSource, log: EventLog) {
        self.identity = identity
        self.clock = clock
        self.shutdown = shutdown
        self.opened = opened
        self.providerKey = providerKey
        self.payment = payment
        self.log = log
        state = Mutex((opened.grant, false, 0, nil))
    }

    /// The grant in force (the renewed one after a renewal).
    var grant: SessionGrant { state.withLock { $0.grant } }

    /// A session-protocol datagram from the data plane: keeps the answer to the request in flight.
    func offer(_ message: UnsafeRawBufferPointer, from source: Endpoint) -> [Datagram] {
        guard message.first == SessionMessageType.response.rawValue, source == opened.endpoint else { return [] }
        request.withLock { request in
            guard let secret = request.secret, request.answer == nil,
                  let answer = try? SessionResponse.open(message, secret: secret) else { return }
            request.answer = answer
        }
        return []
    }

    /// Once a second: starts a renewal (on its own thread, sending through `plane`) when the
    /// provider stopped answering.
    func housekeeping(now: Now, plane: DataPlane) {
        let retries = plane.tunnel.withLock { $0.peer(publicKey: providerKey)?.unansweredHandshakeRetries ?? 0 }
        guard retries >= Self.lostSessionRetries else { return }
        let start = state.withLock { state -> Bool in
            guard !state.renewing, state.lost == nil, now.monotonic >= state.quietUntil else { return false }
            state.renewing = true
            return true
        }
        guard start else { return }
        log.warning("the provider has not answered \(retries + 1) handshake initiations (it restarted or ended the session): asking for a new session")
        do { pthread_detach(try startThread(name: "warren-renew") { [self] in conclude(renew(through: plane)) }) } catch {
            conclude(nil)
        }
    }

    /// Sends requests (waiting 1, 2, … s for each answer) until one is answered; nil when
    /// none is. Every wait is bounded: at most `ExitSession.attempts` requests.
    private func renew(through plane: DataPlane) -> SessionAnswer? {
        for attempt in 1...ExitSession.attempts {
            guard let sealed = try? SessionRequest.seal(identity: identity, provider: opened.provider.identity, maxPrices: opened.maxPrices,
                                                        channel: nil, now: clock.now(), entropy: SystemEntropy()) else { return nil }
            request.withLock { $0 = (sealed.secret, nil) }
            plane.transmit([Datagram(bytes: sealed.bytes, endpoint: opened.endpoint)])
            for _ in 0..<(10 * attempt) {
                if let answer = request.withLock({ $0.answer }) { return answer }
                usleep(100_000)
            }
        }
        return nil
    }

    private func conclude(_ answer: SessionAnswer?) {
        let old = grant
        var problem: String?
        switch answer {
        case .accepted(let new) where new.consumerIPv4 != old.consumerIPv4 || new.consumerIPv6 != old.consumerIPv6:
            problem = "the provider granted other addresses (\([new.consumerIPv4, new.consumerIPv6].compactMap { $0?.description }.joined(separator: ", ")))"
        case .accepted(let new) where (new.providerWallet != nil) != (payment != nil) || new.providerWallet != old.providerWallet:
            problem = "the provider's payment terms changed"
        case .accepted(let new):
            payment?.renew(grant: new)
            log.info("session \(new.sessionID) with provider \(opened.provider) (renewed; addresses kept)")
        case .refused(let refusal):
            problem = "the provider refused a new session: \(refusal.reason)" + (refusal.text.isEmpty ? "" : " (\(refusal.text))")
        case nil:
            problem = "the provider answered none of \(ExitSession.attempts) session requests"
        }
        let now = clock.now().monotonic
        state.withLock { state in
            if case .accepted(let new) = answer, problem == nil { state.grant = new }
            state.renewing = false
            state.quietUntil = now &+ Self.quietAfterRenewal
            state.lost = problem
        }
        guard let problem else { return }
        log.error("\(problem): stopping so that a restart opens a new session")
        shutdown.request(.sessionLost(problem))
    }
}
