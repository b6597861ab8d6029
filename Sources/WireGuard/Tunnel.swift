import WarrenCrypto

// The sans-I/O WireGuard device: bytes and time in, bytes and timers out.
//
// Outbound:  TUN packet -> route (AllowedIPs) -> the embedder's own check, if
//            any -> prepareSend (reserve a nonce), both under the caller's
//            lock -> SealTicket.seal (in place, any thread) -> UDP to
//            ticket.endpoint.
// Inbound:   datagram -> receive (classify; handshakes handled whole; for data,
//            find the keypair and pre-check the counter) -> OpenTicket.open
//            (in place, any thread) -> completeReceive (replay window, roaming,
//            timers, source check by AllowedIPs) -> TUN.
// Timers:    tick(now) on a fixed cadence fires retransmissions, keepalives,
//            rekeys and key zeroing.
// Anything the core wants sent outside the data path (handshake messages,
// cookie replies, keepalives, packets staged during a handshake) waits in an
// outbox the caller drains with takeOutgoing().
//
// A Tunnel is not thread-safe: the caller serialises calls (one lock); only
// sealing and opening run outside it.

/// Why a packet was dropped; each has a counter in `DropCounters`.
public enum DropReason: String, Sendable, CaseIterable {
    case malformed, invalidMac, unknownReceiver, decryptFailed, replayed, disallowedSource, handshakeRejected
    case expiredKeypair, noRoute, noEndpoint
    /// The embedder held a routed packet back before `prepareSend` (a consumer behind on
    /// payment); counted with `withhold()`.
    case withheld
}

/// Counters of dropped input, one per reason.
public struct DropCounters: Sendable, Equatable {
    public private(set) var counts = [UInt64](repeating: 0, count: DropReason.allCases.count)
    public init() {}
    public subscript(reason: DropReason) -> UInt64 {
        counts[DropReason.allCases.firstIndex(of: reason) ?? 0]
    }
    mutating func count(_ reason: DropReason) {
        counts[DropReason.allCases.firstIndex(of: reason) ?? 0] &+= 1
    }
}

/// A datagram the core wants sent.
public struct Datagram: Sendable, Equatable {
    public var bytes: [UInt8]
    public var endpoint: Endpoint

    public init(bytes: [UInt8], endpoint: Endpoint) {
        self.bytes = bytes
        self.endpoint = endpoint
    }
}

public enum SendDecision: Sendable {
    /// Seal with the ticket and send `ticket.messageLength` bytes to `ticket.endpoint`.
    case seal(SealTicket)
    /// Kept until a handshake completes; check the outbox.
    case staged
    case drop(DropReason)
}

public enum ReceiveDecision: Sendable {
    /// A transport message: open it with the ticket, then call completeReceive.
    case open(OpenTicket)
    /// A handshake or cookie message, fully handled; check the outbox.
    case handled
    case drop(DropReason)
}

public enum DeliveryDecision: Sendable, Equatable {
    /// Write `length` bytes from offset 16 of the message to the TUN device.
    case deliver(length: Int)
    case keepalive
    case drop(DropReason)
}

enum IndexEntry {
    case handshake(Peer)
    case keypair(Peer, Keypair)

    var peer: Peer {
        switch self {
        case .handshake(let peer), .keypair(let peer, _): return peer
        }
    }
}

public final class Tunnel: @unchecked Sendable {
    public let publicKey: [UInt8]
    let privateKey: [UInt8]
    let entropy: EntropySource
    /// The TUN MTU: padding never grows a packet past it.
    public var mtu: Int
    /// Overridable only to test rekeying without waiting two minutes.
    public var rekeyAfterTime = Protocol.rekeyAfterTime

    public private(set) var peers: [Peer] = []
    var peersByKey: [[UInt8]: Peer] = [:]
    var allowedIPs = AllowedIPs<Peer>()
    var indexTable: [UInt32: IndexEntry] = [:]
    var cookieChecker: CookieChecker
    public private(set) var drops = DropCounters()
    public private(set) var cookieRepliesSent: UInt64 = 0
    private var outbox: [Datagram] = []

    public init(privateKey: [UInt8], mtu: Int = 1420, entropy: EntropySource) {
        self.privateKey = privateKey
        publicKey = Curve25519.publicKey(privateKey: privateKey)
        self.mtu = mtu
        self.entropy = entropy
        cookieChecker = CookieChecker(publicKey: publicKey)
    }

    @discardableResult
    public func addPeer(publicKey: [UInt8], presharedKey: [UInt8]? = nil, endpoint: Endpoint? = nil,
                        allowedIPs prefixes: [IPPrefix] = [], persistentKeepaliveSeconds: Int = 0) -> Peer {
        let peer = Peer(publicKey: publicKey, presharedKey: presharedKey, ourPrivateKey: privateKey,
                        endpoint: endpoint, persistentKeepaliveSeconds: persistentKeepaliveSeconds)
        peers.append(peer)
        peersByKey[publicKey] = peer
        for prefix in prefixes { allowedIPs.insert(prefix, value: peer) }
        return peer
    }

    /// Removes a peer with its sessions, indices and routes (a provider's consumer leaving).
    public func removePeer(publicKey: [UInt8]) {
        guard let peer = peersByKey.removeValue(forKey: publicKey) else { return }
        peers.removeAll { $0 === peer }
        allowedIPs.remove { $0 === peer }
        indexTable = indexTable.filter { $0.value.peer !== peer }
        peer.staged.removeAll()
    }

    public func allowedPrefixes(of peer: Peer) -> [IPPrefix] {
        allowedIPs.prefixes { $0 === peer }
    }

    public func peer(publicKey: [UInt8]) -> Peer? { peersByKey[publicKey] }

    /// Starts peers with a persistent keepalive right away, as wg does when a device comes up.
    public func start(now: Now) {
        for peer in peers where peer.persistentKeepalive > 0 {
            sendKeepalive(peer, now: now)
        }
    }

    public var hasOutgoing: Bool { !outbox.isEmpty }

    public func takeOutgoing() -> [Datagram] {
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    // MARK: Outbound

    /// The peer whose AllowedIPs hold the packet's destination; nil (counted as `.noRoute`)
    /// when none does. The embedder may decide the packet between this and `prepareSend`.
    public func route(packet: UnsafeRawBufferPointer) -> Peer? {
        guard let peer = routePeer(packet) else {
            drops.count(.noRoute)
            return nil
        }
        return peer
    }

    /// Counts a routed packet the embedder held back instead of sending it.
    public func withhold() {
        drops.count(.withheld)
    }

    /// Reserves a nonce for a packet `route` gave to `peer`, or stages it while a handshake runs.
    public func prepareSend(packet: UnsafeRawBufferPointer, to peer: Peer, now: Now) -> SendDecision {
        guard let endpoint = peer.endpoint else {
            drops.count(.noEndpoint)
            return .drop(.noEndpoint)
        }
        guard let keypair = peer.sendingKeypair(at: now) else {
            stage(Array(packet), for: peer)
            initiateHandshake(peer, now: now, isRetry: false)
            return .staged
        }
        let ticket = reserve(keypair, peer: peer, endpoint: endpoint, packetLength: packet.count, now: now)
        peer.innerSentBytes &+= UInt64(packet.count)
        dataSent(peer, now: now)
        // Time-based rekeying is the initiator's job; the message limit binds both sides.
        if (keypair.isInitiator && keypair.age(at: now) >= rekeyAfterTime) || ticket.counter >= Protocol.rekeyAfterMessages {
            initiateHandshake(peer, now: now, isRetry: false)
        }
        return .seal(ticket)
    }

    /// `route` then `prepareSend`, for an embedder with nothing to decide in between.
    public func prepareSend(packet: UnsafeRawBufferPointer, now: Now) -> SendDecision {
        guard let peer = route(packet: packet) else { return .drop(.noRoute) }
        return prepareSend(packet: packet, to: peer, now: now)
    }

    private func routePeer(_ packet: UnsafeRawBufferPointer) -> Peer? {
        guard packet.count >= 1 else { return nil }
        switch packet[0] >> 4 {
        case 4 where packet.count >= 20: return allowedIPs.lookup(packet: packet, offset: 16, isV4: true)
        case 6 where packet.count >= 40: return allowedIPs.lookup(packet: packet, offset: 24, isV4: false)
        default: return nil
        }
    }

    private func reserve(_ keypair: Keypair, peer: Peer, endpoint: Endpoint, packetLength: Int, now: Now) -> SealTicket {
        let counter = keypair.sendCounter
        keypair.sendCounter += 1
        let ticket = SealTicket(keypair: keypair, counter: counter, endpoint: endpoint, paddedLength: paddedLength(packetLength))
        peer.sentBytes &+= UInt64(ticket.messageLength)
        anyAuthenticatedPacketSent(peer, now: now)
        return ticket
    }

    func paddedLength(_ length: Int) -> Int {
        let padded = (length + 15) & ~15
        return min(padded, max(length, mtu))
    }

    private func stage(_ packet: [UInt8], for peer: Peer) {
        if peer.staged.count >= Tuning.stagedPacketLimit { peer.staged.removeFirst() }
        peer.staged.append(packet)
    }

    /// Seals and queues everything staged for `peer` if it has a usable session.
    private func flushStaged(_ peer: Peer, now: Now) {
        guard !peer.staged.isEmpty, let endpoint = peer.endpoint, let keypair = peer.sendingKeypair(at: now) else { return }
        let packets = peer.staged
        peer.staged.removeAll()
        for packet in packets {
            let ticket = reserve(keypair, peer: peer, endpoint: endpoint, packetLength: packet.count, now: now)
            if !packet.isEmpty { dataSent(peer, now: now) }
            peer.innerSentBytes &+= UInt64(packet.count)
            var message = [UInt8](repeating: 0, count: ticket.messageLength)
            message.withUnsafeMutableBytes { buffer in
                packet.withUnsafeBytes { source in
                    if !source.isEmpty {
                        (buffer.baseAddress! + MessageLayout.transportHeaderLength).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    }
                }
                ticket.seal(message: buffer.baseAddress!, packetLength: packet.count)
            }
            outbox.append(Datagram(bytes: message, endpoint: endpoint))
        }
    }

    private func sendKeepalive(_ peer: Peer, now: Now) {
        if peer.staged.isEmpty { stage([], for: peer) }
        if peer.sendingKeypair(at: now) != nil {
            flushStaged(peer, now: now)
        } else {
            initiateHandshake(peer, now: now, isRetry: false)
        }
    }

    // MARK: Handshake initiation

    private func newIndex() -> UInt32 {
        for _ in 0..<64 {
            let index = entropy.uint32()
            if indexTable[index] == nil { return index }
        }
        // 64 collisions in a table this small means the entropy source is broken.
        preconditionFailure("no free session index")
    }

    private func initiateHandshake(_ peer: Peer, now: Now, isRetry: Bool) {
        if !isRetry {
            if peer.retransmitHandshakeAt != nil { return }  // one is in flight; its timer retries
            if let sent = peer.lastInitiationSentAt, now.monotonic &- sent < Protocol.rekeyTimeout { return }
            peer.handshakeAttempts = 0
        }
        guard let endpoint = peer.endpoint, let staticShared = peer.staticShared else { return }
        if let old = peer.handshake { indexTable[old.localIndex] = nil }
        let localIndex = newIndex()
        let timestamp = TAI64N.timestamp(wallNanoseconds: now.wall)
        guard let (message, state) = Noise.createInitiation(
            ourStaticPrivate: privateKey, ourStaticPublic: publicKey, peerStatic: peer.publicKey, staticShared: staticShared,
            localIndex: localIndex, ephemeralPrivate: entropy.privateKey(), timestamp: timestamp) else { return }
        var bytes = message.serialized()
        peer.cookieJar.stamp(&bytes, now: now)
        peer.handshake = state
        indexTable[localIndex] = .handshake(peer)
        peer.lastInitiationSentAt = now.monotonic
        peer.sentBytes &+= UInt64(bytes.count)
        outbox.append(Datagram(bytes: bytes, endpoint: endpoint))
        let jitter = UInt64(entropy.uint32()) % Protocol.rekeyTimeoutJitterMax
        peer.retransmitHandshakeAt = now.monotonic + Protocol.rekeyTimeout + jitter
        anyAuthenticatedPacketSent(peer, now: now)
    }

    // MARK: Inbound

    /// Classifies a datagram and handles it, or prepares a transport message for opening.
    public func receive(message: UnsafeRawBufferPointer, from source: Endpoint, now: Now, underLoad: Bool) -> ReceiveDecision {
        switch MessageKind.classify(message) {
        case .invalid:
            return drop(.malformed)
        case .transportData:
            guard let header = TransportHeader(parsing: message) else { return drop(.malformed) }
            guard case .keypair(let peer, let keypair)? = indexTable[header.receiverIndex] else { return drop(.unknownReceiver) }
            guard keypair.age(at: now) < Protocol.rejectAfterTime else { return drop(.expiredKeypair) }
            guard keypair.replay.mayAccept(header.counter) else { return drop(.replayed) }
            return .open(OpenTicket(keypair: keypair, peer: peer, counter: header.counter))
        case .handshakeInitiation:
            if let refusal = checkMACs(message, source: source, now: now, underLoad: underLoad, senderIndex: readLE32(message, 4)) {
                return refusal
            }
            return consumeInitiation(message, from: source, now: now)
        case .handshakeResponse:
            if let refusal = checkMACs(message, source: source, now: now, underLoad: underLoad, senderIndex: readLE32(message, 4)) {
                return refusal
            }
            return consumeResponse(message, from: source, now: now)
        case .cookieReply:
            guard let reply = CookieReply(parsing: message) else { return drop(.malformed) }
            guard let peer = indexTable[reply.receiverIndex]?.peer else { return drop(.unknownReceiver) }
            guard peer.cookieJar.consume(reply, now: now) else { return drop(.invalidMac) }
            return .handled
        }
    }

    private func drop(_ reason: DropReason) -> ReceiveDecision {
        drops.count(reason)
        return .drop(reason)
    }

    /// MAC1 always; under load also MAC2, answering a missing one with a cookie reply.
    private func checkMACs(_ message: UnsafeRawBufferPointer, source: Endpoint, now: Now, underLoad: Bool,
                           senderIndex: UInt32) -> ReceiveDecision? {
        guard cookieChecker.mac1IsValid(message) else { return drop(.invalidMac) }
        if underLoad && !cookieChecker.mac2IsValid(message, source: source, now: now, entropy: entropy) {
            let reply = cookieChecker.reply(to: message, senderIndex: senderIndex, source: source, now: now, entropy: entropy)
            outbox.append(Datagram(bytes: reply.serialized(), endpoint: source))
            cookieRepliesSent &+= 1
            return .handled
        }
        return nil
    }

    private func consumeInitiation(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> ReceiveDecision {
        guard let message = HandshakeInitiation(parsing: bytes) else { return drop(.malformed) }
        guard let consumed = Noise.consumeInitiation(
            message, ourStaticPrivate: privateKey, ourStaticPublic: publicKey,
            staticSharedFor: { [peersByKey] key in peersByKey[key]?.staticShared }),
            let peer = peersByKey[consumed.peerStatic] else { return drop(.handshakeRejected) }
        // A replayed initiation carries an old timestamp; a flood comes faster than the minimum spacing.
        if let latest = peer.latestTimestamp, !TAI64N.isAfter(consumed.timestamp, latest) { return drop(.handshakeRejected) }
        if let last = peer.lastInitiationConsumedAt, now.monotonic &- last < Protocol.initiationMinimumInterval {
            return drop(.handshakeRejected)
        }
        let localIndex = newIndex()
        guard let (response, keys) = Noise.createResponse(
            to: consumed, presharedKey: peer.presharedKey, localIndex: localIndex, ephemeralPrivate: entropy.privateKey())
        else { return drop(.handshakeRejected) }
        peer.latestTimestamp = consumed.timestamp
        peer.lastInitiationConsumedAt = now.monotonic
        peer.endpoint = source
        peer.receivedBytes &+= UInt64(bytes.count)

        let keypair = Keypair(keys: keys, localIndex: localIndex, remoteIndex: consumed.remoteIndex, isInitiator: false, createdAt: now.monotonic)
        if let old = peer.next { indexTable[old.localIndex] = nil }
        peer.next = keypair
        indexTable[localIndex] = .keypair(peer, keypair)

        var out = response.serialized()
        peer.cookieJar.stamp(&out, now: now)
        peer.sentBytes &+= UInt64(out.count)
        outbox.append(Datagram(bytes: out, endpoint: source))
        anyAuthenticatedPacketReceived(peer, now: now)
        anyAuthenticatedPacketSent(peer, now: now)
        sessionDerived(peer, now: now)
        return .handled
    }

    private func consumeResponse(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> ReceiveDecision {
        guard let message = HandshakeResponse(parsing: bytes) else { return drop(.malformed) }
        guard case .handshake(let peer)? = indexTable[message.receiverIndex], let state = peer.handshake,
              state.localIndex == message.receiverIndex else { return drop(.unknownReceiver) }
        guard let keys = Noise.consumeResponse(message, state: state, ourStaticPrivate: privateKey, presharedKey: peer.presharedKey)
        else { return drop(.handshakeRejected) }
        peer.handshake = nil
        peer.endpoint = source
        peer.receivedBytes &+= UInt64(bytes.count)

        let keypair = Keypair(keys: keys, localIndex: state.localIndex, remoteIndex: message.senderIndex, isInitiator: true, createdAt: now.monotonic)
        // As the kernel does: a session the other side derived from its own
        // simultaneous handshake (our `next`) may already carry its data, so it
        // survives as `previous`; otherwise the old current one does.
        if let old = peer.previous { indexTable[old.localIndex] = nil }
        if let pending = peer.next {
            if let old = peer.current { indexTable[old.localIndex] = nil }
            peer.previous = pending
            peer.next = nil
        } else {
            peer.previous = peer.current
        }
        peer.current = keypair
        indexTable[state.localIndex] = .keypair(peer, keypair)

        handshakeComplete(peer, now: now)
        sessionDerived(peer, now: now)
        anyAuthenticatedPacketReceived(peer, now: now)
        // Confirm the session to the responder: it may not send until it hears from us.
        sendKeepalive(peer, now: now)
        return .handled
    }

    /// Counts an `OpenTicket` whose message failed to authenticate.
    public func failedOpen(_ ticket: OpenTicket) {
        drops.count(.decryptFailed)
    }

    /// Finishes an authenticated transport message: replay window, roaming, timers and the source check.
    public func completeReceive(_ ticket: OpenTicket, message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> DeliveryDecision {
        let keypair = ticket.keypair, peer = ticket.peer
        guard keypair.replay.accept(ticket.counter) else {
            drops.count(.replayed)
            return .drop(.replayed)
        }
        peer.endpoint = source
        peer.receivedBytes &+= UInt64(message.count)
        if keypair === peer.next {
            if let old = peer.previous { indexTable[old.localIndex] = nil }
            peer.previous = peer.current
            peer.current = keypair
            peer.next = nil
            handshakeComplete(peer, now: now)
            flushStaged(peer, now: now)
        }
        anyAuthenticatedPacketReceived(peer, now: now)
        if keypair === peer.current, keypair.isInitiator, !peer.sentLastMinuteHandshake,
           keypair.age(at: now) >= Protocol.rejectAfterTime - Protocol.keepaliveTimeout - Protocol.rekeyTimeout {
            peer.sentLastMinuteHandshake = true
            initiateHandshake(peer, now: now, isRetry: false)
        }

        let plaintextLength = message.count - MessageLayout.transportMinimumLength
        if plaintextLength == 0 { return .keepalive }
        let packet = UnsafeRawBufferPointer(rebasing: message[MessageLayout.transportHeaderLength..<(MessageLayout.transportHeaderLength + plaintextLength)])
        let length: Int, isV4: Bool, sourceOffset: Int
        switch packet[0] >> 4 {
        case 4 where plaintextLength >= 20:
            length = Int(packet[2]) << 8 | Int(packet[3])
            guard length >= 20 else { return deliveryDrop(.malformed) }
            isV4 = true; sourceOffset = 12
        case 6 where plaintextLength >= 40:
            length = 40 + (Int(packet[4]) << 8 | Int(packet[5]))
            isV4 = false; sourceOffset = 8
        default:
            return deliveryDrop(.malformed)
        }
        guard length <= plaintextLength else { return deliveryDrop(.malformed) }
        guard allowedIPs.lookup(packet: packet, offset: sourceOffset, isV4: isV4) === peer else { return deliveryDrop(.disallowedSource) }
        dataReceived(peer, now: now)
        peer.innerReceivedBytes &+= UInt64(length)
        return .deliver(length: length)
    }

    private func deliveryDrop(_ reason: DropReason) -> DeliveryDecision {
        drops.count(reason)
        return .drop(reason)
    }

    // MARK: Timers

    /// Fires every timer that is due. Call it often (every 100 ms or so).
    public func tick(now: Now) {
        let t = now.monotonic
        for peer in peers {
            if let at = peer.retransmitHandshakeAt, at <= t {
                if peer.handshakeAttempts > Protocol.maxHandshakeAttempts {
                    // Give up this cycle: a later packet starts a fresh one.
                    peer.retransmitHandshakeAt = nil
                    if let state = peer.handshake { indexTable[state.localIndex] = nil }
                    peer.handshake = nil
                    peer.staged.removeAll()
                    if peer.zeroKeysAt == nil { peer.zeroKeysAt = t + 3 * Protocol.rejectAfterTime }
                } else {
                    peer.handshakeAttempts += 1
                    initiateHandshake(peer, now: now, isRetry: true)
                }
            }
            if let at = peer.sendKeepaliveAt, at <= t {
                peer.sendKeepaliveAt = nil
                sendKeepalive(peer, now: now)
                if peer.needAnotherKeepalive {
                    peer.needAnotherKeepalive = false
                    peer.sendKeepaliveAt = t + Protocol.keepaliveTimeout
                }
            }
            if let at = peer.newHandshakeAt, at <= t {
                peer.newHandshakeAt = nil
                initiateHandshake(peer, now: now, isRetry: false)
            }
            if let at = peer.zeroKeysAt, at <= t {
                peer.zeroKeysAt = nil
                for keypair in [peer.previous, peer.current, peer.next].compactMap({ $0 }) { indexTable[keypair.localIndex] = nil }
                peer.previous = nil; peer.current = nil; peer.next = nil
                if let state = peer.handshake { indexTable[state.localIndex] = nil }
                peer.handshake = nil
            }
            if let at = peer.persistentKeepaliveAt, at <= t {
                peer.persistentKeepaliveAt = nil
                sendKeepalive(peer, now: now)
            }
        }
    }

    // Timer events, named after the protocol events that drive them.

    private func dataSent(_ peer: Peer, now: Now) {
        if peer.newHandshakeAt == nil {
            // Jitter keeps two peers that lost each other from retrying in lockstep.
            let jitter = UInt64(entropy.uint32()) % Protocol.rekeyTimeoutJitterMax
            peer.newHandshakeAt = now.monotonic + Protocol.keepaliveTimeout + Protocol.rekeyTimeout + jitter
        }
    }

    private func dataReceived(_ peer: Peer, now: Now) {
        if peer.sendKeepaliveAt == nil {
            peer.sendKeepaliveAt = now.monotonic + Protocol.keepaliveTimeout
        } else {
            peer.needAnotherKeepalive = true
        }
    }

    private func anyAuthenticatedPacketSent(_ peer: Peer, now: Now) {
        peer.sendKeepaliveAt = nil
        anyAuthenticatedPacketTraversal(peer, now: now)
    }

    private func anyAuthenticatedPacketReceived(_ peer: Peer, now: Now) {
        peer.newHandshakeAt = nil
        anyAuthenticatedPacketTraversal(peer, now: now)
    }

    private func anyAuthenticatedPacketTraversal(_ peer: Peer, now: Now) {
        if peer.persistentKeepalive > 0 {
            peer.persistentKeepaliveAt = now.monotonic + peer.persistentKeepalive
        }
    }

    private func handshakeComplete(_ peer: Peer, now: Now) {
        peer.retransmitHandshakeAt = nil
        peer.handshakeAttempts = 0
        peer.sentLastMinuteHandshake = false
        peer.latestHandshakeWall = now.wall
    }

    private func sessionDerived(_ peer: Peer, now: Now) {
        peer.zeroKeysAt = now.monotonic + 3 * Protocol.rejectAfterTime
    }
}
