import WarrenCrypto
@testable import WireGuard

/// Two tunnels wired back to back in memory, with virtual time: the core's test bench.
///
/// Every datagram that crosses the "wire" is recorded in `captured` (even while
/// the link is down), with the virtual time it was sent at, so tests can count
/// handshakes, measure timer intervals and replay or tamper with bytes.
final class TunnelPair {
    let a: Tunnel
    let b: Tunnel
    let peerOfA: Peer   // B as seen by A
    let peerOfB: Peer   // A as seen by B
    let endpointA = Endpoint(address: .v4(0x0A00_0001), port: 51820)
    let endpointB = Endpoint(address: .v4(0x0A00_0002), port: 51821)
    var now = Now(monotonic: 1_000 * Protocol.second, wall: 1_700_000_000 * Protocol.second)
    var delivered: [(to: String, packet: [UInt8])] = []
    var dropped: [DropReason] = []
    /// When false, datagrams are discarded (a dead link).
    var linkUp = true
    /// Every datagram put on the wire, with the monotonic time it was sent.
    var captured: [(to: String, bytes: [UInt8], at: UInt64)] = []
    /// Tunnels ("a", "b") that receive with `underLoad: true`, so they demand MAC2.
    var underLoad: Set<String> = []

    /// What became of one delivered datagram.
    enum Outcome: Equatable {
        case handled, keepalive, lost
        case delivered([UInt8])
        case dropped(DropReason)
    }

    /// `psk` is A's preshared key for B; `responderPSK` (if given) is B's for A, to test a mismatch.
    init(psk: [UInt8]? = nil, responderPSK: [UInt8]? = nil, keepaliveA: Int = 0, seed: UInt8 = 1) {
        let keyA = SeededEntropy(seed: [seed, 0xA]).privateKey()
        let keyB = SeededEntropy(seed: [seed, 0xB]).privateKey()
        a = Tunnel(privateKey: keyA, mtu: 1420, entropy: SeededEntropy(seed: [seed, 1]))
        b = Tunnel(privateKey: keyB, mtu: 1420, entropy: SeededEntropy(seed: [seed, 2]))
        peerOfA = a.addPeer(publicKey: b.publicKey, presharedKey: psk, endpoint: endpointB,
                            allowedIPs: [IPPrefix(parsing: "192.168.4.2/32")!, IPPrefix(parsing: "fd00::2/128")!],
                            persistentKeepaliveSeconds: keepaliveA)
        peerOfB = b.addPeer(publicKey: a.publicKey, presharedKey: responderPSK ?? psk, endpoint: nil,
                            allowedIPs: [IPPrefix(parsing: "192.168.4.1/32")!, IPPrefix(parsing: "fd00::1/128")!])
    }

    func tunnel(_ name: String) -> Tunnel { name == "a" ? a : b }
    func other(_ name: String) -> String { name == "a" ? "b" : "a" }

    /// Sends an IP packet from `name`'s TUN side; pumps everything that follows.
    @discardableResult
    func send(from name: String, packet: [UInt8]) -> SendDecision {
        let (decision, sealed) = prepareAndSeal(from: name, packet: packet)
        if let sealed { deliver(sealed, to: other(name), from: name) }
        pump()
        return decision
    }

    /// Routes and seals a packet from `name` but keeps it off the wire (and pumps nothing):
    /// a packet "in flight" that the test delivers later with `deliver`.
    func seal(from name: String, packet: [UInt8]) -> [UInt8]? {
        prepareAndSeal(from: name, packet: packet).sealed
    }

    private func prepareAndSeal(from name: String, packet: [UInt8]) -> (decision: SendDecision, sealed: [UInt8]?) {
        let tunnel = tunnel(name)
        var buffer = [UInt8](repeating: 0, count: 16) + packet + [UInt8](repeating: 0, count: 64)
        let decision = buffer.withUnsafeBytes { tunnel.prepareSend(packet: UnsafeRawBufferPointer(rebasing: $0[16..<(16 + packet.count)]), now: now) }
        guard case .seal(let ticket) = decision else { return (decision, nil) }
        buffer.withUnsafeMutableBytes { ticket.seal(message: $0.baseAddress!, packetLength: packet.count) }
        return (decision, Array(buffer[0..<ticket.messageLength]))
    }

    /// Moves every queued datagram across until both outboxes are empty.
    func pump(limit: Int = 100) {
        for _ in 0..<limit {
            let fromA = a.takeOutgoing(), fromB = b.takeOutgoing()
            if fromA.isEmpty && fromB.isEmpty { return }
            for d in fromA { deliver(d.bytes, to: "b", from: "a") }
            for d in fromB { deliver(d.bytes, to: "a", from: "b") }
        }
    }

    @discardableResult
    func deliver(_ bytes: [UInt8], to name: String, from sender: String, underLoad load: Bool? = nil) -> Outcome {
        captured.append((name, bytes, now.monotonic))
        guard linkUp else { return .lost }
        let tunnel = tunnel(name)
        let source = sender == "a" ? endpointA : endpointB
        var message = bytes
        let decision = message.withUnsafeBytes {
            tunnel.receive(message: $0, from: source, now: now, underLoad: load ?? underLoad.contains(name))
        }
        switch decision {
        case .handled: return .handled
        case .drop(let reason):
            dropped.append(reason)
            return .dropped(reason)
        case .open(let ticket):
            let ok = message.withUnsafeMutableBytes { ticket.open(message: $0) }
            guard ok else {
                tunnel.failedOpen(ticket)
                dropped.append(.decryptFailed)
                return .dropped(.decryptFailed)
            }
            let result = message.withUnsafeBytes { tunnel.completeReceive(ticket, message: $0, from: source, now: now) }
            switch result {
            case .deliver(let length):
                let packet = Array(message[16..<(16 + length)])
                delivered.append((name, packet))
                return .delivered(packet)
            case .keepalive: return .keepalive
            case .drop(let reason):
                dropped.append(reason)
                return .dropped(reason)
            }
        }
    }

    /// Advances virtual time in steps of `step` nanoseconds, ticking both tunnels and pumping after each.
    func advance(seconds: Double, step: UInt64 = Protocol.second / 10) {
        let steps = Int((seconds * Double(Protocol.second) / Double(step)).rounded())
        for _ in 0..<steps {
            now = now.advanced(by: step)
            a.tick(now: now)
            b.tick(now: now)
            pump()
        }
    }

    /// Completes a handshake by sending one packet from A (delivered to B) and reports
    /// whether both sides now hold a confirmed session.
    @discardableResult
    func establish() -> Bool {
        send(from: "a", packet: ipv4Packet(from: "192.168.4.1", to: "192.168.4.2"))
        return peerOfA.current != nil && peerOfB.current != nil
    }

    /// Captured datagrams to `name` of one message type (first byte).
    func captured(to name: String, type: UInt8) -> [(bytes: [UInt8], at: UInt64)] {
        captured.filter { $0.to == name && $0.bytes.first == type }.map { ($0.bytes, $0.at) }
    }

    /// Captured transport messages to `name` with an empty payload (32 bytes: header and tag).
    func keepalives(to name: String) -> [UInt64] {
        captured(to: name, type: 4).filter { $0.bytes.count == MessageLayout.transportMinimumLength }.map(\.at)
    }
}

/// A minimal IPv4 packet from `source` to `destination` with `payload`.
func ipv4Packet(from source: String, to destination: String, payload: [UInt8] = Array("hello".utf8)) -> [UInt8] {
    let total = 20 + payload.count
    var p: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 0, 0, 0, 64, 17, 0, 0]
    p += IPAddress(parsing: source)!.bytes + IPAddress(parsing: destination)!.bytes
    return p + payload
}

func ipv6Packet(from source: String, to destination: String, payload: [UInt8] = Array("hello6".utf8)) -> [UInt8] {
    var p: [UInt8] = [0x60, 0, 0, 0, UInt8(payload.count >> 8), UInt8(payload.count & 0xff), 17, 64]
    p += IPAddress(parsing: source)!.bytes + IPAddress(parsing: destination)!.bytes
    return p + payload
}

/// Reads a little-endian UInt32 from `bytes` at `offset`, independently of the core's helpers.
func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

/// Reads a little-endian UInt64 from `bytes` at `offset`.
func le64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
}

/// Seconds as a nanosecond count, for comparing against virtual time.
func ns(_ seconds: Double) -> UInt64 { UInt64((seconds * Double(Protocol.second)).rounded()) }
