import Glibc
import LinuxPlatform
import PacketPath
import Policy
import WireGuard

/// The provider's in-tunnel resolver: whitelisted names go to the system's
/// upstream resolver and their answers teach the exit whitelist (with their
/// TTL) before the consumer sees them; every other name gets REFUSED.
///
/// It binds only to the provider's tunnel addresses, so it is never an open
/// resolver on the WAN, and on a port the kernel picks (port 0), so it never
/// clashes with a resolver of the host on port 53 and needs no privilege; the
/// provider's nftables table sends the consumers' port 53 there
/// (`ProviderRuleset`, chain `dns_redirect`).
final class DNSForwarder: @unchecked Sendable {
    let provider: ProviderService
    let upstream: SocketAddress
    let log: EventLog
    private var sockets: [UDPSocket] = []
    /// Each tunnel address and the port the forwarder has on it, once `bind` has run.
    private(set) var listeners: [ProviderRuleset.DNSListener] = []

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

    /// Binds a socket on each of `addresses` at a port the kernel picks; returns where.
    func bind(on addresses: [IPAddress]) throws(PlatformError) -> [ProviderRuleset.DNSListener] {
        for address in addresses {
            guard let bind = SocketAddress(Endpoint(address: address, port: 0)) else { continue }
            let socket = try UDPSocket(binding: bind)
            sockets.append(socket)
            listeners.append(ProviderRuleset.DNSListener(address: address, port: socket.localPort))
        }
        return listeners
    }

    /// Serves the bound sockets, one thread each.
    func start() throws(PlatformError) {
        for socket in sockets {
            let loop = DatagramLoop(threadName: "warren-dns", batchCount: 8, bufferSize: DNSMessage.maximumSize, errorKey: "dns-receive",
                                    errorPrefix: "", pauseAfterErrorMicroseconds: 100_000, log: log)
            try loop.start(socket: socket) { [self] batch, count in
                for i in 0..<count where !batch.isTruncated(i) {
                    let query = Array(batch.buffer(i)[0..<batch.length(i)])
                    let source = batch.source(i)
                    if let reply = answer(query, from: Endpoint(source)) {
                        reply.withUnsafeBytes { try? socket.send($0, to: source) }
                    }
                }
            }
        }
        let shown = listeners.map { $0.address.isV4 ? "\($0.address):\($0.port)" : "[\($0.address)]:\($0.port)" }
        log.info("DNS forwarder on \(shown.joined(separator: ", ")) (port 53 of the tunnel addresses is redirected there) → upstream \(upstream)")
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
            let now = provider.clock.now().monotonic
            let refused = provider.state.withLock { $0.policy.learn(response, now: now) }
            if !refused.isEmpty {
                log.limited("dns-protected", "not learned from the answer for \(query.question.name.text): \(refused.map(\.description).joined(separator: ", ")) (the owner's host, its networks or a local-only range; a consumer never reaches them)")
            }
            return reply
        }
        return nil
    }
}
