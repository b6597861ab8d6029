import Glibc
import LinuxPlatform
import PlatformFakes
import Synchronization
import Testing
@testable import Agent
@testable import PacketPath
@testable import WarrenCrypto
@testable import WireGuard

/// Time that moves only when the test says so.
final class VirtualClock: Sendable {
    private let current = Mutex(Now(monotonic: 1_000 * Protocol.second, wall: 1_700_000_000 * Protocol.second))
    var now: Now { current.withLock { $0 } }
    var agentClock: TimeSource { TimeSource(reading: { [self] in now }) }
    func advance(milliseconds: UInt64) { current.withLock { $0 = $0.advanced(by: milliseconds * 1_000_000) } }
}

/// A role whose answers the test sets, counting what the data plane asked.
final class ScriptedRole: DataPlaneRole, @unchecked Sendable {
    struct Asked { var inbound = 0, outbound = 0, housekeeping = 0, sessionMessages = 0 }
    private let state = Mutex((admitInbound: true, admitOutbound: true, asked: Asked()))
    /// Answered to each session message (nil: like a plain tunnel).
    let sessionAnswer: [UInt8]?

    init(sessionAnswer: [UInt8]? = nil) { self.sessionAnswer = sessionAnswer }

    var asked: Asked { state.withLock { $0.asked } }
    func admit(inbound: Bool? = nil, outbound: Bool? = nil) {
        state.withLock { state in
            if let inbound { state.admitInbound = inbound }
            if let outbound { state.admitOutbound = outbound }
        }
    }

    func sessionMessage(_ message: UnsafeRawBufferPointer, from source: Endpoint, now: Now) -> [Datagram]? {
        state.withLock { $0.asked.sessionMessages += 1 }
        return sessionAnswer.map { [Datagram(bytes: $0, endpoint: source)] }
    }
    func admitInbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        state.withLock { $0.asked.inbound += 1; return $0.admitInbound }
    }
    func admitOutbound(peer: Peer, packet: UnsafeRawBufferPointer, now: Now) -> Bool {
        state.withLock { $0.asked.outbound += 1; return $0.admitOutbound }
    }
    func housekeeping(now: Now, plane: DataPlane) {
        state.withLock { $0.asked.housekeeping += 1 }
    }
}

/// Two data planes, each over an in-memory TUN device, joined by an in-memory UDP network,
/// driven step by step with a virtual clock: no threads, no root.
final class DataPlanePair {
    static let endpointA = Endpoint(address: .v4(0x0A00_0001), port: 51820)
    static let endpointB = Endpoint(address: .v4(0x0A00_0002), port: 51821)
    let clock = VirtualClock()
    let network = MemoryNetwork()
    let deviceA = MemoryPacketDevice(), deviceB = MemoryPacketDevice()
    let socketA: MemoryDatagramSocket, socketB: MemoryDatagramSocket
    let roleA: ScriptedRole, roleB: ScriptedRole
    let a: DataPlane, b: DataPlane

    init(roleB: ScriptedRole = ScriptedRole(), socketB present: Bool = true) {
        let entropy = SystemEntropy()
        let tunnelA = Tunnel(privateKey: entropy.privateKey(), entropy: entropy)
        let tunnelB = Tunnel(privateKey: entropy.privateKey(), entropy: entropy)
        tunnelA.addPeer(publicKey: tunnelB.publicKey, endpoint: Self.endpointB, allowedIPs: [IPPrefix(parsing: "192.168.4.2/32")!])
        tunnelB.addPeer(publicKey: tunnelA.publicKey, allowedIPs: [IPPrefix(parsing: "192.168.4.1/32")!])
        socketA = network.socket(at: SocketAddress(Self.endpointA)!)
        // Without B's socket, whatever A sends is lost.
        socketB = present ? network.socket(at: SocketAddress(Self.endpointB)!)
                          : MemoryNetwork().socket(at: SocketAddress(Self.endpointB)!)
        roleA = ScriptedRole()
        self.roleB = roleB
        let log = EventLog(prefix: "test")
        a = DataPlane(tunnel: tunnelA, device: deviceA, socket: socketA, role: roleA, clock: clock.agentClock, log: log, forcedUnderLoad: false)
        b = DataPlane(tunnel: tunnelB, device: deviceB, socket: socketB, role: roleB, clock: clock.agentClock, log: log, forcedUnderLoad: false)
    }

    /// Moves packets and datagrams until nothing is left to move.
    func pump(rounds: Int = 20) {
        var outboundA = a.makeOutboundBatch(), outboundB = b.makeOutboundBatch()
        var inboundA = a.makeInboundBatch(), inboundB = b.makeInboundBatch()
        for _ in 0..<rounds {
            var moved = 0
            let readA = (try? deviceA.read(into: &outboundA)) ?? 0
            a.handleOutbound(outboundA, count: readA, now: clock.now)
            let readB = (try? deviceB.read(into: &outboundB)) ?? 0
            b.handleOutbound(outboundB, count: readB, now: clock.now)
            moved += readA + readB
            let receivedA = (try? socketA.receive(into: &inboundA)) ?? 0
            a.handleInbound(inboundA, count: receivedA, now: clock.now)
            let receivedB = (try? socketB.receive(into: &inboundB)) ?? 0
            b.handleInbound(inboundB, count: receivedB, now: clock.now)
            moved += receivedA + receivedB
            if moved == 0 { return }
        }
    }

    /// Ticks both planes every 100 ms of virtual time for `milliseconds`, pumping after each.
    func run(milliseconds: UInt64) {
        for _ in 0..<(milliseconds / 100) {
            clock.advance(milliseconds: 100)
            a.tick(now: clock.now)
            b.tick(now: clock.now)
            pump()
        }
    }
}

@Suite struct DataPlaneTests {
    static let toB = ipv4Packet(from: "192.168.4.1", to: "192.168.4.2", payload: Array("over the seam".utf8))
    static let toA = ipv4Packet(from: "192.168.4.2", to: "192.168.4.1", payload: Array("and back".utf8))

    @Test func handshakeThenAPacketEachWay() {
        let pair = DataPlanePair()
        pair.deviceA.inject(Self.toB)
        pair.pump()
        #expect(pair.deviceB.takeWritten() == [Self.toB])
        pair.deviceB.inject(Self.toA)
        pair.pump()
        #expect(pair.deviceA.takeWritten() == [Self.toA])
        #expect(pair.roleA.asked.outbound == 1 && pair.roleB.asked.outbound == 1)
        #expect(pair.roleA.asked.inbound == 1 && pair.roleB.asked.inbound == 1)
        #expect(pair.a.tunnel.withLock { $0.peers.first?.latestHandshakeWall } == pair.clock.now.wall)
    }

    @Test func severalPacketsInOneBatch() {
        let pair = DataPlanePair()
        pair.deviceA.inject(Self.toB)
        pair.pump()
        _ = pair.deviceB.takeWritten()
        let packets = (0..<5).map { ipv4Packet(from: "192.168.4.1", to: "192.168.4.2", payload: [UInt8($0)]) }
        for packet in packets { pair.deviceA.inject(packet) }
        pair.pump()
        #expect(pair.deviceB.takeWritten() == packets)
    }

    @Test func aBatchLargerThanTheDevicesIsSentWhole() {
        let pair = DataPlanePair()
        pair.deviceA.inject(Self.toB)
        pair.pump()
        _ = pair.deviceB.takeWritten()
        let packets = (0..<12).map { ipv4Packet(from: "192.168.4.1", to: "192.168.4.2", payload: [UInt8($0), 7]) }
        var batch = PacketBatch(count: packets.count, bufferSize: 256, headroom: 16, tailroom: 32)
        for (i, packet) in packets.enumerated() {
            packet.withUnsafeBytes { batch.buffer(i).baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            batch.setLength(packet.count, at: i)
        }
        pair.a.handleOutbound(batch, count: packets.count, now: pair.clock.now)
        pair.pump()
        #expect(pair.deviceB.takeWritten() == packets)
    }

    @Test func outboundRefusalDropsBeforeANonce() {
        let pair = DataPlanePair()
        pair.roleA.admit(outbound: false)
        pair.deviceA.inject(Self.toB)
        pair.pump()
        #expect(pair.deviceB.takeWritten().isEmpty)
        #expect(pair.socketA.sent == 0, "not even a handshake: the packet never reached the tunnel's send path")
        #expect(pair.a.tunnel.withLock { $0.drops[.withheld] } == 1)
        pair.roleA.admit(outbound: true)
        pair.deviceA.inject(Self.toB)
        pair.pump()
        #expect(pair.deviceB.takeWritten() == [Self.toB])
    }

    @Test func inboundRefusalDropsBeforeTheDevice() {
        let pair = DataPlanePair()
        pair.roleB.admit(inbound: false)
        pair.deviceA.inject(Self.toB)
        pair.pump()
        #expect(pair.deviceB.takeWritten().isEmpty)
        #expect(pair.b.policyDrops.load(ordering: .relaxed) == 1)
        #expect(pair.b.tunnel.withLock { $0.peers.first?.innerReceivedBytes } == UInt64(Self.toB.count), "decrypted, then refused")
    }

    @Test func housekeepingOncePerSecondOfTicks() {
        let pair = DataPlanePair()
        pair.run(milliseconds: 2_500)
        #expect(pair.roleA.asked.housekeeping == 2)
        #expect(pair.roleB.asked.housekeeping == 2)
    }

    @Test func ticksRetransmitAnUnansweredHandshake() {
        let pair = DataPlanePair(socketB: false)
        pair.deviceA.inject(Self.toB)
        pair.pump()
        #expect(pair.network.lost == 1)
        pair.run(milliseconds: 5_600)     // rekey timeout 5 s plus up to 1/3 s of jitter
        #expect(pair.network.lost == 2)
    }

    @Test func sessionMessagesGoToTheRole() {
        let answering = DataPlanePair(roleB: ScriptedRole(sessionAnswer: [6, 1, 2, 3]))
        let stranger = answering.network.socket(at: SocketAddress(Endpoint(address: .v4(0x0A00_0009), port: 4000))!)
        let request: [UInt8] = [5] + [UInt8](repeating: 0, count: 40)
        request.withUnsafeBytes { try? stranger.send($0, to: SocketAddress(DataPlanePair.endpointB)!) }
        answering.pump()
        #expect(answering.roleB.asked.sessionMessages == 1)
        var batch = ReceiveBatch(count: 4, bufferSize: 128, headroom: 0)
        #expect((try? stranger.receive(into: &batch)) == 1)
        #expect(Array(batch.buffer(0)[0..<batch.length(0)]) == [6, 1, 2, 3])

        // A role without a session protocol leaves the datagram to the tunnel, which drops it.
        let plain = DataPlanePair()
        let other = plain.network.socket(at: SocketAddress(Endpoint(address: .v4(0x0A00_0009), port: 4000))!)
        request.withUnsafeBytes { try? other.send($0, to: SocketAddress(DataPlanePair.endpointB)!) }
        plain.pump()
        #expect(plain.roleB.asked.sessionMessages == 1)
        #expect(plain.b.tunnel.withLock { $0.drops[.malformed] } == 1)
    }
}

/// The fakes as a reader thread uses them: a read waits for a packet up to its bound.
@Suite struct PlatformFakeTests {
    @Test func readWaitsUpToItsBound() throws {
        let device = MemoryPacketDevice(batchSize: 4, readBoundMilliseconds: 5)
        var batch = PacketBatch(count: 4, bufferSize: 64)
        #expect(try device.read(into: &batch) == 0)
        // A reader blocked on an empty device gets the packet another thread injects meanwhile.
        let slow = MemoryPacketDevice(batchSize: 4, readBoundMilliseconds: 2_000)
        let writer = Thread { usleep(2_000); slow.inject([0x60, 9]) }
        writer.start()
        #expect(try slow.read(into: &batch) == 1)
        #expect(Array(batch.buffer(0)[0..<batch.length(0)]) == [0x60, 9])
        writer.join()
    }

    @Test func switchDeliversByAddressAndLosesTheRest() throws {
        let network = MemoryNetwork()
        let one = network.socket(at: SocketAddress(ipBytes: [10, 0, 0, 1], port: 1)!)
        let two = network.socket(at: SocketAddress(ipBytes: [10, 0, 0, 2], port: 2)!, receiveBoundMilliseconds: 50)
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try one.send($0, to: two.address) }
        try [UInt8]([4]).withUnsafeBytes { try one.send($0, to: SocketAddress(ipBytes: [10, 0, 0, 3], port: 3)!) }
        var batch = ReceiveBatch(count: 2, bufferSize: 2, headroom: 0)
        #expect(try two.receive(into: &batch) == 1)
        #expect(batch.source(0) == one.address)
        let truncated = batch.isTruncated(0)
        #expect(truncated, "3 bytes into a 2-byte buffer")
        #expect(network.lost == 1)
        #expect(try two.receive(into: &batch) == 0)
    }
}

/// A minimal IPv4 UDP packet from `source` to `destination`.
func ipv4Packet(from source: String, to destination: String, payload: [UInt8]) -> [UInt8] {
    let total = 20 + payload.count
    var packet: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 0, 0, 0, 64, 17, 0, 0]
    packet += IPAddress(parsing: source)!.bytes + IPAddress(parsing: destination)!.bytes
    return packet + payload
}

/// A joinable thread for the fakes' blocking test.
final class Thread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    func start() {
        handle = (try? startThread(name: "test-writer", body: body)) ?? pthread_t()
    }
    func join() { pthread_join(handle, nil) }
}
