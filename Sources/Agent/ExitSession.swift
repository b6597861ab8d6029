import Glibc
import LinuxPlatform
import Session
import WireGuard

/// The consumer's side of a session: one request, one answer, a few retries.
enum ExitSession {
    struct Opened {
        var grant: SessionGrant
        var endpoint: Endpoint
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
                    return Opened(grant: grant, endpoint: endpoint)
                case .refused(let refusal):
                    throw .session("provider \(provider) refused the session: \(refusal.reason)" + (refusal.text.isEmpty ? "" : " (\(refusal.text))"))
                }
            }
            log.warning("no answer from provider \(endpoint) (attempt \(attempt) of \(attempts))")
        }
        throw .session("provider \(provider) did not answer \(attempts) session requests: check its endpoint, that it runs in provider mode, and the identity")
    }
}
