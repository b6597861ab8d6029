import Glibc
import LinuxPlatform
import Session
import Synchronization
import WireGuard

/// The consumer's side of a session: one request, one answer, a few retries.
enum ExitSession {
    struct Opened {
        var grant: SessionGrant
        var endpoint: Endpoint
        var provider: ProviderAddress
        var maxPrices: SessionPrices
    }

    static let attempts = 6

    static func open(socket: UDPSocket, identity: NodeIdentity, provider: ProviderAddress, maxPrices: SessionPrices,
                     log: EventLog) throws(AgentError) -> Opened {
        let addresses: [SocketAddress]
        do { addresses = try SocketAddress.resolve(host: provider.host, port: provider.port) } catch {
            throw .platform(step: "resolving the provider \(provider.host)", error)
        }
        guard let target = addresses.first else {
            throw .platform(step: "resolving the provider", PlatformError(call: "getaddrinfo", errno: 0, message: "\(provider.host) has no address"))
        }
        let endpoint = Endpoint(target)
        var batch = ReceiveBatch(count: 4, bufferSize: 2048, headroom: 0)
        defer { _ = try? socket.setReceiveTimeout(milliseconds: 0) }
        for attempt in 1...attempts {
            let sealed: (bytes: [UInt8], secret: SessionRequestSecret)
            do {
                sealed = try SessionRequest.seal(identity: identity, provider: provider.identity, maxPrices: maxPrices,
                                                 channel: nil, now: AgentClock.now(), entropy: SystemEntropy())
            } catch {
                throw .session("sealing a session request to \(provider.identity): \(error)")
            }
            do { try sealed.bytes.withUnsafeBytes { try socket.send($0, to: target) } } catch {
                log.limited("session-send", "sending the session request to \(endpoint): \(error)")
            }
            // Wait up to attempt seconds for the answer to this request.
            _ = try? socket.setReceiveTimeout(milliseconds: 1000 * attempt)
            let count = (try? socket.receive(into: &batch)) ?? 0
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
            log.warning("no answer from provider \(endpoint) (attempt \(attempt) of \(attempts))")
        }
        throw .session("provider \(provider) did not answer \(attempts) session requests: check its endpoint, that it runs in provider mode, and the identity")
    }
}

/// Asks the provider for a new session after it lost ours (it restarted, or ended the
/// session), on the socket the data plane owns: answers reach `offer` through the data
/// plane's session handler.
final class ExitSessionRenewal: @unchecked Sendable {
    let identity: NodeIdentity
    let provider: ProviderAddress
    let maxPrices: SessionPrices
    let endpoint: Endpoint
    private let pending = Mutex<(secret: SessionRequestSecret?, answer: SessionAnswer?)>((nil, nil))

    init(identity: NodeIdentity, provider: ProviderAddress, maxPrices: SessionPrices, endpoint: Endpoint) {
        self.identity = identity
        self.provider = provider
        self.maxPrices = maxPrices
        self.endpoint = endpoint
    }

    /// A type 5–7 datagram from the data plane: keeps the answer to the request in flight.
    func offer(_ message: UnsafeRawBufferPointer, from source: Endpoint) -> [Datagram] {
        guard message.first == SessionMessageType.response.rawValue, source == endpoint else { return [] }
        pending.withLock { pending in
            guard let secret = pending.secret, pending.answer == nil,
                  let answer = try? SessionResponse.open(message, secret: secret) else { return }
            pending.answer = answer
        }
        return []
    }

    /// Sends requests (waiting 1, 2, … s for each answer) until one is answered; nil when
    /// none is. Every wait is bounded: at most `ExitSession.attempts` requests.
    func renew(send: ([UInt8]) -> Void) -> SessionAnswer? {
        for attempt in 1...ExitSession.attempts {
            guard let sealed = try? SessionRequest.seal(identity: identity, provider: provider.identity, maxPrices: maxPrices,
                                                        channel: nil, now: AgentClock.now(), entropy: SystemEntropy()) else { return nil }
            pending.withLock { $0 = (sealed.secret, nil) }
            send(sealed.bytes)
            for _ in 0..<(10 * attempt) {
                if let answer = pending.withLock({ $0.answer }) { return answer }
                usleep(100_000)
            }
        }
        return nil
    }
}
