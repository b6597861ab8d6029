// libFuzzer target for everything the data plane parses from the network.
//
// Built by scripts/fuzz (swiftc -sanitize=fuzzer,address). Each input is
// offered as a datagram to a tunnel that has a live session, so the
// classifier, the four message parsers, the MAC checks, the index lookup,
// the replay window and the inner-packet checks all see hostile bytes.

import WarrenCrypto
import WireGuard

final class FuzzFixture {
    let responder: Tunnel
    var now = Now(monotonic: 1_000_000_000_000, wall: 1_700_000_000_000_000_000)
    let source = Endpoint(address: .v4(0x0A00_0001), port: 51820)

    init() {
        let initiator = Tunnel(privateKey: SeededEntropy(seed: [1]).bytes(32), entropy: SeededEntropy(seed: [2]))
        responder = Tunnel(privateKey: SeededEntropy(seed: [3]).bytes(32), entropy: SeededEntropy(seed: [4]))
        initiator.addPeer(publicKey: responder.publicKey, endpoint: Endpoint(address: .v4(0x0A00_0002), port: 51820),
                          allowedIPs: [IPPrefix(parsing: "0.0.0.0/0")!])
        responder.addPeer(publicKey: initiator.publicKey, allowedIPs: [IPPrefix(parsing: "10.9.0.1/32")!])
        // Establish a session so transport messages reach the decryptor.
        let packet: [UInt8] = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2]
        _ = packet.withUnsafeBytes { initiator.prepareSend(packet: $0, now: now) }
        for _ in 0..<4 {
            for datagram in initiator.takeOutgoing() { offer(datagram.bytes) }
            for datagram in responder.takeOutgoing() {
                _ = datagram.bytes.withUnsafeBytes { initiator.receive(message: $0, from: source, now: now, underLoad: false) }
            }
        }
    }

    func offer(_ bytes: [UInt8], underLoad: Bool = false) {
        var message = bytes
        let decision = message.withUnsafeBytes { responder.receive(message: $0, from: source, now: now, underLoad: underLoad) }
        if case .open(let ticket) = decision {
            if message.withUnsafeMutableBytes({ ticket.open(message: $0) }) {
                _ = message.withUnsafeBytes { responder.completeReceive(ticket, message: $0, from: source, now: now) }
            } else {
                responder.failedOpen(ticket)
            }
        }
        _ = responder.takeOutgoing()
    }
}

nonisolated(unsafe) let fixture = FuzzFixture()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    bytes.withUnsafeBytes { raw in
        _ = MessageKind.classify(raw)
        _ = HandshakeInitiation(parsing: raw)
        _ = HandshakeResponse(parsing: raw)
        _ = CookieReply(parsing: raw)
        _ = TransportHeader(parsing: raw)
    }
    fixture.offer(bytes, underLoad: size % 2 == 0)
    // The same bytes behind a valid transport header type, to reach deeper checks.
    if size >= 1 { fixture.offer([4, 0, 0, 0] + bytes) }
    return 0
}
