import Glibc
import LinuxPlatform
import Synchronization
import WireGuard

// The data plane: three dedicated threads around one sans-I/O Tunnel.
//
//   outbound:  TUN read (into a buffer with 16 bytes of headroom)
//              -> lock: prepareSend (route, reserve nonce) -> unlock
//              -> seal in place -> UDP send
//   inbound:   recvmmsg batch -> per datagram:
//              lock: receive (classify, handshake, find keypair) -> unlock
//              -> open in place -> lock: completeReceive (replay, roaming,
//              source check) -> unlock -> TUN write
//   timers:    every 100 ms, lock: tick -> send what it produced
//
// Crypto runs outside the lock, so the two directions seal and open on both
// cores at once. Buffers are allocated once per thread; the per-packet path
// allocates nothing. Order within one peer is kept because each direction is
// a single thread.

/// Counts handshake messages per second to decide when to demand cookies.
struct HandshakeLoad {
    static let threshold = 64            // handshake messages in one second
    static let holdTime: UInt64 = 1_000_000_000
    var windowStart: UInt64 = 0
    var count = 0
    var underLoadUntil: UInt64 = 0

    mutating func record(now: UInt64) -> Bool {
        if now &- windowStart >= 1_000_000_000 {
            windowStart = now
            count = 0
        }
        count += 1
        if count > HandshakeLoad.threshold { underLoadUntil = now + HandshakeLoad.holdTime }
        return now < underLoadUntil
    }
}

final class DataPlane: @unchecked Sendable {
    let tunnel: Mutex<Tunnel>
    let tun: TUNDevice
    let socket: UDPSocket
    let log: EventLog
    let forcedUnderLoad: Bool
    let datagramBufferSize: Int
    let tunWriteErrors = Atomic<UInt64>(0)
    /// warren's own message types (5–7) on the WireGuard port: the session protocol.
    var sessionHandler: (@Sendable (UnsafeRawBufferPointer, Endpoint, Now) -> [Datagram])?
    /// Decides each decrypted packet before it reaches the TUN device (the exit policy).
    var inboundFilter: (@Sendable (Peer, UnsafeRawBufferPointer, Now) -> Bool)?
    /// Runs once a second on the timer thread (session expiry, whitelist expiry).
    var housekeeping: (@Sendable (Now) -> Void)?
    let policyDrops = Atomic<UInt64>(0)
    let sendErrors = Atomic<UInt64>(0)

    init(tunnel: Tunnel, tun: TUNDevice, socket: UDPSocket, log: EventLog, forcedUnderLoad: Bool) {
        datagramBufferSize = max(2048, tunnel.mtu + 128)
        self.tunnel = Mutex(tunnel)
        self.tun = tun
        self.socket = socket
        self.log = log
        self.forcedUnderLoad = forcedUnderLoad
    }

    func start() throws(PlatformError) {
        // The threads live as long as the process; teardown ends it with exit().
        pthread_detach(try startThread(name: "warren-tun") { [self] in runOutbound() })
        pthread_detach(try startThread(name: "warren-udp") { [self] in runInbound() })
        pthread_detach(try startThread(name: "warren-timer") { [self] in runTimers() })
        let outgoing = tunnel.withLock { tunnel -> [Datagram] in
            tunnel.start(now: AgentClock.now())
            return tunnel.takeOutgoing()
        }
        transmit(outgoing)
    }

    // MARK: Outbound

    private func runOutbound() {
        let headroom = MessageLayout.transportHeaderLength
        let capacity = headroom + 65536 + 32
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        let packetArea = UnsafeMutableRawBufferPointer(start: buffer + headroom, count: 65535)
        var cache = AddressCache()
        while true {
            let length: Int
            do {
                length = try tun.read(into: packetArea)
            } catch {
                log.limited("tun-read", "\(error)")
                usleep(10_000)
                continue
            }
            if length == 0 { continue }
            let now = AgentClock.now()
            let (decision, outgoing) = tunnel.withLock { tunnel -> (SendDecision, [Datagram]) in
                let decision = tunnel.prepareSend(packet: UnsafeRawBufferPointer(start: buffer + headroom, count: length), now: now)
                return (decision, tunnel.hasOutgoing ? tunnel.takeOutgoing() : [])
            }
            if !outgoing.isEmpty { transmit(outgoing) }
            if case .seal(let ticket) = decision {
                ticket.seal(message: buffer, packetLength: length)
                guard let address = cache.address(for: ticket.endpoint) else { continue }
                send(UnsafeRawBufferPointer(start: buffer, count: ticket.messageLength), to: address)
            }
        }
    }

    // MARK: Inbound

    private func runInbound() {
        var batch = ReceiveBatch(count: 32, bufferSize: datagramBufferSize, headroom: 0)
        var load = HandshakeLoad()
        while true {
            let received: Int
            do {
                received = try socket.receive(into: &batch)
            } catch {
                log.limited("udp-receive", "\(error)")
                usleep(10_000)
                continue
            }
            let now = AgentClock.now()
            for i in 0..<received {
                let length = batch.length(i)
                let message = UnsafeMutableRawBufferPointer(rebasing: batch.buffer(i)[0..<length])
                let source = Endpoint(batch.source(i))
                if batch.isTruncated(i) {
                    _ = tunnel.withLock { $0.receive(message: UnsafeRawBufferPointer(start: nil, count: 0), from: source, now: now, underLoad: false) }
                    continue
                }
                if length > 0, message[0] >= 5, message[0] <= 7, let sessionHandler {
                    transmit(sessionHandler(UnsafeRawBufferPointer(message), source, now))
                    continue
                }
                var underLoad = forcedUnderLoad
                if length > 0, message[0] == 1 || message[0] == 2 {
                    underLoad = load.record(now: now.monotonic) || forcedUnderLoad
                }
                handleDatagram(message, from: source, now: now, underLoad: underLoad)
            }
        }
    }

    private func handleDatagram(_ message: UnsafeMutableRawBufferPointer, from source: Endpoint, now: Now, underLoad: Bool) {
        let (decision, outgoing) = tunnel.withLock { tunnel -> (ReceiveDecision, [Datagram]) in
            let decision = tunnel.receive(message: UnsafeRawBufferPointer(message), from: source, now: now, underLoad: underLoad)
            return (decision, tunnel.hasOutgoing ? tunnel.takeOutgoing() : [])
        }
        if !outgoing.isEmpty { transmit(outgoing) }
        switch decision {
        case .handled:
            return
        case .drop(let reason):
            log.limited(reason.rawValue, "dropped a datagram from \(source): \(reason.rawValue)")
            return
        case .open(let ticket):
            guard ticket.open(message: message) else {
                tunnel.withLock { $0.failedOpen(ticket) }
                log.limited("drop-decrypt", "dropped a transport message from \(source): it did not authenticate")
                return
            }
            let (delivery, flushed) = tunnel.withLock { tunnel -> (DeliveryDecision, [Datagram]) in
                let delivery = tunnel.completeReceive(ticket, message: UnsafeRawBufferPointer(message), from: source, now: now)
                return (delivery, tunnel.hasOutgoing ? tunnel.takeOutgoing() : [])
            }
            if !flushed.isEmpty { transmit(flushed) }
            switch delivery {
            case .deliver(let length):
                let packet = UnsafeRawBufferPointer(rebasing: message[MessageLayout.transportHeaderLength..<(MessageLayout.transportHeaderLength + length)])
                if let inboundFilter, !inboundFilter(ticket.peer, packet, now) {
                    policyDrops.add(1, ordering: .relaxed)
                    return
                }
                do {
                    try tun.write(packet)
                } catch {
                    tunWriteErrors.add(1, ordering: .relaxed)
                    log.limited("tun-write", "\(error)")
                }
            case .keepalive:
                return
            case .drop(let reason):
                log.limited(reason.rawValue, "dropped a packet from \(source): \(reason.rawValue)")
            }
        }
    }

    // MARK: Timers

    private func runTimers() {
        var ticks = 0
        while true {
            usleep(100_000)
            ticks += 1
            if ticks % 10 == 0, let housekeeping { housekeeping(AgentClock.now()) }
            let outgoing = tunnel.withLock { tunnel -> [Datagram] in
                tunnel.tick(now: AgentClock.now())
                return tunnel.hasOutgoing ? tunnel.takeOutgoing() : []
            }
            if !outgoing.isEmpty { transmit(outgoing) }
        }
    }

    // MARK: Sending

    func transmit(_ datagrams: [Datagram]) {
        for datagram in datagrams {
            guard let address = SocketAddress(datagram.endpoint) else { continue }
            datagram.bytes.withUnsafeBytes { send($0, to: address) }
        }
    }

    private func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) {
        do {
            try socket.send(bytes, to: address)
        } catch {
            sendErrors.add(1, ordering: .relaxed)
            log.limited("udp-send", "\(error)")
        }
    }
}

/// Remembers the last endpoint's socket address, so a busy flow converts once.
struct AddressCache {
    private var endpoint: Endpoint?
    private var cached: SocketAddress?

    mutating func address(for endpoint: Endpoint) -> SocketAddress? {
        if endpoint == self.endpoint, let cached { return cached }
        self.endpoint = endpoint
        cached = SocketAddress(endpoint)
        return cached
    }
}
