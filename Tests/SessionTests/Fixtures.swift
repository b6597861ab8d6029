import WarrenCrypto
import WireGuard
@testable import Session

/// Fixed identities, time and terms shared by the tests and the pinned vectors in
/// docs/SESSION-PROTOCOL.md.
enum Fixture {
    static let consumerSeed: [UInt8] = (0..<32).map { UInt8($0) }            // 00 01 … 1f
    static let providerSeed: [UInt8] = (0..<32).map { UInt8(0x20 + $0) }     // 20 21 … 3f
    static let entropySeed = Array("warren session vector".utf8)
    static let now = Now(monotonic: 5_000_000_000, wall: 1_700_000_000_000_000_000)
    static let maxPrices = Tariff(perGiB: 1_000_000_000_000_000_000, perMinute: 1_000_000_000_000_000)
    static let channelBytes: [UInt8] = (0..<32).map { UInt8(0xC0 + $0) }    // c0 c1 … df

    static let consumer = identity(consumerSeed)
    static let provider = identity(providerSeed)
    static let stranger = identity((0..<32).map { UInt8(0x40 + $0) })

    static func identity(_ seed: [UInt8]) -> NodeIdentity {
        guard let identity = NodeIdentity(seed: seed) else { fatalError("fixture seed rejected") }
        return identity
    }

    /// The payment channel the pinned request names (its 32 id bytes, as on the wire).
    static var channel: [UInt8] { channelBytes }

    /// The pinned request: the consumer's first request to the provider, fresh entropy stream.
    static func request(entropy: EntropySource = SeededEntropy(seed: entropySeed), now: Now = now,
                        from consumer: NodeIdentity = consumer, to provider: NodeIdentity = provider)
        throws -> (bytes: [UInt8], secret: SessionRequestSecret) {
        try SessionRequest.seal(identity: consumer, provider: provider.publicIdentity, maxPrices: maxPrices,
                                channel: channel, now: now, entropy: entropy)
    }

    static func grant() throws -> SessionGrant {
        try SessionGrant(
            sessionID: 0x0102_0304,
            consumerIPv4: IPPrefix(parsing: "10.77.0.2/32"), consumerIPv6: IPPrefix(parsing: "fd77::2/128"), mtu: 1420,
            dnsIPv4: IPAddress(parsing: "10.77.0.1"), dnsIPv6: IPAddress(parsing: "fd77::1"),
            providerTunnelIPv4: IPAddress(parsing: "10.77.0.1"), providerTunnelIPv6: IPAddress(parsing: "fd77::1"),
            prices: Tariff(perGiB: 500_000_000_000_000_000, perMinute: 0),
            creditWindowBytes: 16 << 20, voucherIntervalBytes: 4 << 20, idleTimeoutSeconds: 300)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
        return stride(from: 0, to: digits.count - 1, by: 2).compactMap {
            UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)
        }
    }
}
