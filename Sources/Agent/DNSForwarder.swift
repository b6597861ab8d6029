import Glibc
import LinuxPlatform
import Policy
import WireGuard

/// The provider's in-tunnel resolver: whitelisted names go to the system's
/// upstream resolver and their answers teach the exit whitelist (with their
/// TTL) before the consumer sees them; every other name gets REFUSED.
///
/// It binds only to the provider's tunnel addresses, so it is never an open
/// resolver on the WAN.
final class DNSForwarder: @unchecked Sendable {
    let provider: ProviderService
    let upstream: SocketAddress
    let log: EventLog
    private var sockets: [UDPSocket] = []

    init(provider: ProviderService, upstream: SocketAddress, log: EventLog) {
        self.provider = provider
        self.upstream = upstream
        self.log = log
    }

    /// The first `nameserver` of /etc/resolv.conf (a namespace's own copy under /etc/netns applies).
    static func systemUpstream() -> SocketAddress? {
        guard let bytes = StateFile.read("/etc/resolv.conf", limit: 65536) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[0] == "nameserver", let address = IPAddress(parsing: words[1]) {
                return SocketAddress(Endpoint(address: address, port: 53))
            }
        }
        return nil
    }

    func start(on addresses: [IPAddress]) throws(PlatformError) {
        for address in addresses {
            guard let bind = SocketAddress(Endpoint(address: address, port: 53)) else { continue }
            let socket = try UDPSocket(binding: bind)
            sockets.append(socket)
            pthread_detach(try startThread(name: "warren-dns") { [self] in serve(socket) })
        }
        log.info("DNS forwarder on \(addresses.map { "\($0):53" }.joined(separator: ", ")) → upstream \(upstream)")
    }

    private func serve(_ socket: UDPSocket) {
        var batch = ReceiveBatch(count: 8, bufferSize: DNSMessage.maximumSize, headroom: 0)
        while true {
            let count: Int
            do { count = try socket.receive(into: &batch) } catch {
                log.limited("dns-receive", "\(error)")
                usleep(100_000)
                continue
            }
            for i in 0..<count where !batch.isTruncated(i) {
                let query = Array(batch.buffer(i)[0..<batch.length(i)])
                let source = batch.source(i)
                if let reply = answer(query, from: Endpoint(source)) {
                    reply.withUnsafeBytes { try? socket.send($0, to: source) }
                }
            }
        }
    }

    func answer(_ bytes: [UInt8], from source: Endpoint) -> [UInt8]? {
        guard let query = try? DNSQuery(parsing: bytes) else { return nil }   // not a query: drop silently
        let name = query.question.name.text
        let allowed = provider.state.withLock { $0.policy.allowsName(name) }
        guard allowed else {
            provider.state.withLock { state in
                for key in state.sessions.keys where state.sessions[key]?.addresses.contains(where: { $0.contains(source.address) }) == true {
                    state.sessions[key]?.meter.recordRefusedName()
                }
            }
            return query.refusedResponse()
        }
        guard let response = forward(bytes, query: query) else { return query.response(rcode: .serverFailure) }
        return response
    }

    /// One round trip to the upstream resolver, bounded by a 2-second timeout.
    private func forward(_ bytes: [UInt8], query: DNSQuery) -> [UInt8]? {
        guard let socket = try? UDPSocket(port: 0) else { return nil }
        defer { socket.close() }
        _ = try? socket.setReceiveTimeout(milliseconds: 2000)
        do { try bytes.withUnsafeBytes { try socket.send($0, to: upstream) } } catch { return nil }
        var batch = ReceiveBatch(count: 1, bufferSize: DNSMessage.maximumSize, headroom: 0)
        for _ in 0..<4 {
            guard let count = try? socket.receive(into: &batch), count > 0 else { return nil }
            guard batch.source(0) == upstream, !batch.isTruncated(0) else { continue }
            let reply = Array(batch.buffer(0)[0..<batch.length(0)])
            guard let response = try? DNSResponse(parsing: reply, answering: query) else { continue }
            let now = AgentClock.now().monotonic
            provider.state.withLock { $0.policy.learn(response, now: now) }
            return reply
        }
        return nil
    }
}
