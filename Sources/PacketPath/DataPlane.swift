import Glibc
import LinuxPlatform
import Synchronization
import WireGuard

// The data plane: three dedicated threads around one sans-I/O Tunnel, asking one role.
//
//   outbound:  device read (a batch, into buffers with 16 bytes of headroom) -> per packet:
//              lock: route -> role.admitOutbound -> prepareSend (reserve nonce) -> unlock
//              -> seal in place; then one socket send for the batch
//   inbound:   socket receive (a batch) -> per datagram:
//              session message -> role.sessionMessage; otherwise
//              lock: receive (classify, handshake, find keypair) -> unlock
//              -> open in place -> lock: completeReceive (replay, roaming,
//              source check) -> unlock -> role.admitInbound; then one device write
//   timers:    every 100 ms, lock: tick -> send what it produced; once a second
//              role.housekeeping
//
// Each loop body is a method (`handleOutbound`, `handleInbound`, `tick`) that a test calls
// step by step with a virtual clock. Crypto runs outside the lock, so the two directions
// seal and open on both cores at once. Buffers are allocated once per direction; the
// per-packet path allocates nothing, and the device and socket are called once per batch.
// Order within one peer is kept because each direction is a single thread.

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

public final class DataPlane: @unchecked Sendable {
    static let housekeepingInterval: UInt64 = 1_000_000_000
    static let tickMicroseconds: UInt32 = 100_000
    /// The largest IP packet a device read takes.
    static let maximumPacket = 65535

    public let tunnel: Mutex<Tunnel>
    let device: any PacketDevice
    let socket: any DatagramSocket
    let role: any DataPlaneRole
    let clock: TimeSource
    let log: EventLog
    let forcedUnderLoad: Bool
    let datagramBufferSize: Int
    public let tunWriteErrors = Atomic<UInt64>(0)
    /// Packets the role refused on their way in (its exit policy).
    public let policyDrops = Atomic<UInt64>(0)
    public let sendErrors = Atomic<UInt64>(0)
    private let lastHousekeeping: Atomic<UInt64>

    // Scratch of each direction, allocated once; each is touched by its own thread only.
    private let outboundSends: UnsafeMutableBufferPointer<OutgoingDatagram>
    private var outboundAddresses = AddressCache()
    private let inboundPackets: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    private var inboundLoad = HandshakeLoad()

    public init(tunnel: Tunnel, device: any PacketDevice, socket: any DatagramSocket, role: any DataPlaneRole,
         clock: TimeSource = .system, log: EventLog, forcedUnderLoad: Bool) {
        datagramBufferSize = max(2048, tunnel.mtu + 128)
        self.tunnel = Mutex(tunnel)
        self.device = device
        self.socket = socket
        self.role = role
        self.clock = clock
        self.log = log
        self.forcedUnderLoad = forcedUnderLoad
        lastHousekeeping = Atomic(clock.now().monotonic)
        let unspecified = SocketAddress(ipBytes: [0, 0, 0, 0], port: 0)!   // 4 bytes: never nil
        outboundSends = .allocate(capacity: max(1, device.batchSize))
        outboundSends.initialize(repeating: OutgoingDatagram(bytes: UnsafeRawBufferPointer(start: nil, count: 0), destination: unspecified))
        inboundPackets = .allocate(capacity: max(1, socket.batchSize))
        inboundPackets.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    deinit {
        outboundSends.deallocate()
        inboundPackets.deallocate()
    }

    public func start() throws(PlatformError) {
        // The threads live as long as the process; teardown ends it with exit().
        pthread_detach(try startThread(name: "warren-tun") { [self] in runOutbound() })
        let inbound = DatagramLoop(threadName: "warren-udp", batchCount: socket.batchSize, bufferSize: datagramBufferSize,
                                   errorKey: "udp-receive", errorPrefix: "", pauseAfterErrorMicroseconds: 10_000, log: log)
        try inbound.start(socket: socket) { [self] batch, count in
            if count > 0 { handleInbound(batch, count: count, now: clock.now()) }
        }
        pthread_detach(try startThread(name: "warren-timer") { [self] in
            while true {
                usleep(Self.tickMicroseconds)
                tick(now: clock.now())
            }
        })
        let outgoing = tunnel.withLock { tunnel -> [Datagram] in
            tunnel.start(now: clock.now())
            return tunnel.takeOutgoing()
        }
        transmit(outgoing)
    }

    // MARK: Outbound

    /// Buffers for `handleOutbound`: one slot per packet the device reads at once, with room
    /// for the transport header in front and padding and tag behind.
    func makeOutboundBatch() -> PacketBatch {
        PacketBatch(count: max(1, device.batchSize), bufferSize: Self.maximumPacket,
                    headroom: MessageLayout.transportHeaderLength, tailroom: 32)
    }

    private func runOutbound() {
        var batch = makeOutboundBatch()
        while true {
            let count: Int
            do {
                count = try device.read(into: &batch)
            } catch {
                log.limited("tun-read", "\(error)")
                usleep(10_000)
                continue
            }
            if count > 0 { handleOutbound(batch, count: count, now: clock.now()) }
        }
    }

    /// Routes, admits, seals and sends the first `count` packets of `batch` (a batch from
    /// `makeOutboundBatch`). Called by one thread at a time.
    func handleOutbound(_ batch: borrowing PacketBatch, count: Int, now: Now) {
        precondition(batch.headroom >= MessageLayout.transportHeaderLength, "outbound batches need room for the transport header")
        let headroom = batch.headroom
        var pending = 0
        for i in 0..<min(count, batch.count) {
            let length = batch.length(i)
            guard length > 0, let slot = batch.slot(i).baseAddress else { continue }
            let message = slot + (headroom - MessageLayout.transportHeaderLength)
            let packet = UnsafeRawBufferPointer(start: slot + headroom, count: length)
            let (decision, outgoing) = tunnel.withLock { tunnel -> (SendDecision, [Datagram]) in
                let decision: SendDecision
                if let peer = tunnel.route(packet: packet) {
                    if role.admitOutbound(peer: peer, packet: packet, now: now) {
                        decision = tunnel.prepareSend(packet: packet, to: peer, now: now)
                    } else {
                        tunnel.withhold()
                        decision = .drop(.withheld)
                    }
                } else {
                    decision = .drop(.noRoute)
                }
                return (decision, tunnel.hasOutgoing ? tunnel.takeOutgoing() : [])
            }
            if !outgoing.isEmpty {
                // What is sealed already used earlier nonces: it goes first.
                sendOutbound(pending)
                pending = 0
                transmit(outgoing)
            }
            if case .seal(let ticket) = decision {
                ticket.seal(message: message, packetLength: length)
                guard let address = outboundAddresses.address(for: ticket.endpoint) else { continue }
                if pending == outboundSends.count {
                    sendOutbound(pending)
                    pending = 0
                }
                outboundSends[pending] = OutgoingDatagram(bytes: UnsafeRawBufferPointer(start: message, count: ticket.messageLength),
                                                          destination: address)
                pending += 1
            }
        }
        sendOutbound(pending)
    }

    private func sendOutbound(_ count: Int) {
        guard count > 0 else { return }
        let outcome = socket.send(UnsafeBufferPointer(rebasing: outboundSends[0..<count]))
        if outcome.failures > 0 { countSendFailures(outcome) }
    }

    // MARK: Inbound

    /// Buffers for `handleInbound`, as the inbound thread receives into.
    func makeInboundBatch() -> ReceiveBatch {
        ReceiveBatch(count: max(1, socket.batchSize), bufferSize: datagramBufferSize, headroom: 0)
    }

    /// Handles the first `count` datagrams of `batch`: session messages to the role, the
    /// rest through the tunnel; writes what they carry to the device at once. Called by one
    /// thread at a time.
    func handleInbound(_ batch: borrowing ReceiveBatch, count: Int, now: Now) {
        var delivered = 0
        for i in 0..<min(count, batch.count) {
            let length = batch.length(i)
            let message = UnsafeMutableRawBufferPointer(rebasing: batch.buffer(i)[0..<length])
            let source = Endpoint(batch.source(i))
            if batch.isTruncated(i) {
                _ = tunnel.withLock { $0.receive(message: UnsafeRawBufferPointer(start: nil, count: 0), from: source, now: now, underLoad: false) }
                continue
            }
            if length > 0, DataPlaneRoles.sessionMessageTypes.contains(message[0]),
               let answers = role.sessionMessage(UnsafeRawBufferPointer(message), from: source, now: now) {
                transmit(answers)
                continue
            }
            var underLoad = forcedUnderLoad
            if length > 0, message[0] == 1 || message[0] == 2 {
                underLoad = inboundLoad.record(now: now.monotonic) || forcedUnderLoad
            }
            if let packet = open(message, from: source, now: now, underLoad: underLoad) {
                if delivered == inboundPackets.count {
                    writeInbound(delivered)
                    delivered = 0
                }
                inboundPackets[delivered] = packet
                delivered += 1
            }
        }
        writeInbound(delivered)
    }

    private func writeInbound(_ count: Int) {
        guard count > 0 else { return }
        let outcome = device.write(UnsafeBufferPointer(rebasing: inboundPackets[0..<count]))
        if outcome.failures > 0 {
            tunWriteErrors.add(UInt64(outcome.failures), ordering: .relaxed)
            if let error = outcome.lastError { log.limited("tun-write", "\(error)") }
        }
    }

    /// Takes one datagram through the tunnel; the packet it carries if the role admits it.
    private func open(_ message: UnsafeMutableRawBufferPointer, from source: Endpoint, now: Now, underLoad: Bool) -> UnsafeRawBufferPointer? {
        let (decision, outgoing) = tunnel.withLock { tunnel -> (ReceiveDecision, [Datagram]) in
            let decision = tunnel.receive(message: UnsafeRawBufferPointer(message), from: source, now: now, underLoad: underLoad)
            return (decision, tunnel.hasOutgoing ? tunnel.takeOutgoing() : [])
        }
        if !outgoing.isEmpty { transmit(outgoing) }
        switch decision {
        case .handled:
            return nil
        case .drop(let reason):
            log.limited(reason.rawValue, "dropped a datagram from \(source): \(reason.rawValue)")
            return nil
        case .open(let ticket):
            guard ticket.open(message: message) else {
                tunnel.withLock { $0.failedOpen(ticket) }
                log.limited("drop-decrypt", "dropped a transport message from \(source): it did not authenticate")
                return nil
            }
            let (delivery, flushed) = tunnel.withLock { tunnel -> (DeliveryDecision, [Datagram]) in
                let delivery = tunnel.completeReceive(ticket, message: UnsafeRawBufferPointer(message), from: source, now: now)
                return (delivery, tunnel.hasOutgoing ? tunnel.takeOutgoing() : [])
            }
            if !flushed.isEmpty { transmit(flushed) }
            switch delivery {
            case .deliver(let length):
                let packet = UnsafeRawBufferPointer(rebasing: message[MessageLayout.transportHeaderLength..<(MessageLayout.transportHeaderLength + length)])
                guard role.admitInbound(peer: ticket.peer, packet: packet, now: now) else {
                    policyDrops.add(1, ordering: .relaxed)
                    return nil
                }
                return packet
            case .keepalive:
                return nil
            case .drop(let reason):
                log.limited(reason.rawValue, "dropped a packet from \(source): \(reason.rawValue)")
                return nil
            }
        }
    }

    // MARK: Timers

    /// One timer step (every 100 ms): the tunnel's timers, and the role's housekeeping when a
    /// second has passed since the last.
    func tick(now: Now) {
        if now.monotonic &- lastHousekeeping.load(ordering: .relaxed) >= Self.housekeepingInterval {
            lastHousekeeping.store(now.monotonic, ordering: .relaxed)
            role.housekeeping(now: now, plane: self)
        }
        let outgoing = tunnel.withLock { tunnel -> [Datagram] in
            tunnel.tick(now: now)
            return tunnel.hasOutgoing ? tunnel.takeOutgoing() : []
        }
        if !outgoing.isEmpty { transmit(outgoing) }
    }

    // MARK: Sending

    /// Sends datagrams the tunnel or the role made (handshakes, keepalives, session answers).
    public func transmit(_ datagrams: [Datagram]) {
        var outcome = BatchOutcome()
        for datagram in datagrams {
            guard let address = SocketAddress(datagram.endpoint) else { continue }
            let failure = datagram.bytes.withUnsafeBytes { bytes -> PlatformError? in
                do throws(PlatformError) { try socket.send(bytes, to: address) } catch { return error }
                return nil
            }
            if let failure { outcome.record(failure) }
        }
        if outcome.failures > 0 { countSendFailures(outcome) }
    }

    private func countSendFailures(_ outcome: BatchOutcome) {
        sendErrors.add(UInt64(outcome.failures), ordering: .relaxed)
        if let error = outcome.lastError { log.limited("udp-send", "\(error)") }
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
