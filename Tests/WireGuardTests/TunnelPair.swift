import WarrenCrypto
@testable import WireGuard

/// Two tunnels wired back to back in memory, with virtual time: the core's test bench.
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
    var captured: [(to: String, bytes: [UInt8])] = []

    init(psk: [UInt8]? = nil, keepaliveA: Int = 0, seed: UInt8 = 1) {
        let keyA = SeededEntropy(seed: [seed, 0xA]).privateKey()
        let keyB = SeededEntropy(seed: [seed, 0xB]).privateKey()
        a = Tunnel(privateKey: keyA, mtu: 1420, entropy: SeededEntropy(seed: [seed, 1]))
        b = Tunnel(privateKey: keyB, mtu: 1420, entropy: SeededEntropy(seed: [seed, 2]))
        peerOfA = a.addPeer(publicKey: b.publicKey, presharedKey: psk, endpoint: endpointB,
                            allowedIPs: [IPPrefix(parsing: "192.168.4.2/32")!, IPPrefix(parsing: "fd00::2/128")!],
                            persistentKeepaliveSeconds: keepaliveA)
        peerOfB = b.addPeer(publicKey: a.publicKey, presharedKey: psk, endpoint: nil,
                            allowedIPs: [IPPrefix(parsing: "192.168.4.1/32")!, IPPrefix(parsing: "fd00::1/128")!])
    }

    func tunnel(_ name: String) -> Tunnel { name == "a" ? a : b }

    /// Sends an IP packet from `name`'s TUN side; pumps everything that follows.
    @discardableResult
    func send(from name: String, packet: [UInt8]) -> SendDecision {
        let tunnel = tunnel(name)
        var buffer = [UInt8](repeating: 0, count: 16) + packet + [UInt8](repeating: 0, count: 64)
        let decision = buffer.withUnsafeBytes { tunnel.prepareSend(packet: UnsafeRawBufferPointer(rebasing: $0[16..<(16 + packet.count)]), now: now) }
        if case .seal(let ticket) = decision {
            buffer.withUnsafeMutableBytes { ticket.seal(message: $0.baseAddress!, packetLength: packet.count) }
            deliver(Array(buffer[0..<ticket.messageLength]), to: name == "a" ? "b" : "a", from: name)
        }
        pump()
        return decision
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

    func deliver(_ bytes: [UInt8], to name: String, from sender: String, underLoad: Bool = false) {
        captured.append((name, bytes))
        guard linkUp else { return }
        let tunnel = tunnel(name)
        let source = sender == "a" ? endpointA : endpointB
        var message = bytes
        let decision = message.withUnsafeBytes { tunnel.receive(message: $0, from: source, now: now, underLoad: underLoad) }
        switch decision {
        case .handled: break
        case .drop(let reason): dropped.append(reason)
        case .open(let ticket):
            let ok = message.withUnsafeMutableBytes { ticket.open(message: $0) }
            guard ok else { tunnel.failedOpen(ticket); dropped.append(.decryptFailed); return }
            let result = message.withUnsafeBytes { tunnel.completeReceive(ticket, message: $0, from: source, now: now) }
            switch result {
            case .deliver(let length): delivered.append((name, Array(message[16..<(16 + length)])))
            case .keepalive: break
            case .drop(let reason): dropped.append(reason)
            }
        }
    }

    func advance(seconds: Double) {
        let steps = Int(seconds * 10)
        for _ in 0..<steps {
            now = now.advanced(by: Protocol.second / 10)
            a.tick(now: now)
            b.tick(now: now)
            pump()
        }
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
