// libFuzzer target for everything the session protocol parses from the network or from disk.
//
// Built by scripts/fuzz (swiftc -sanitize=fuzzer,address). Each input is offered
//   - as it is, to the request opener (a fixed provider identity), the response opener (the
//     secret of a fixed request), the close parser, the identity-file reader and the
//     `wr1…` / `IDENTITY@HOST:PORT` text parsers;
//   - as the plaintext of a correctly sealed response and of a correctly sealed and signed
//     request, built here from the document's formulas, so the field parsers behind the AEAD
//     and the signature see hostile bytes too. A response plaintext that opens must re-seal to
//     the same bytes: the encoding has one form per answer;
//   - as sources and clocks to the admission gate, whose memory must stay bounded.

import WarrenCrypto
import WireGuard
import Session

final class SessionFuzzFixture {
    let provider: NodeIdentity
    let consumer: NodeIdentity
    let request: [UInt8]
    let secret: SessionRequestSecret
    let opened: OpenedSessionRequest
    let ephemeralPrivate: [UInt8]
    let requestKey: [UInt8]
    var admission = SessionAdmission(limits: AdmissionLimits(maxTrackedSources: 64, maxRememberedRequests: 64))
    let now = Now(monotonic: 1_000_000_000_000, wall: 1_700_000_000_000_000_000)

    init() {
        guard let provider = NodeIdentity(seed: (0..<32).map { UInt8(0x20 + $0) }),
              let consumer = NodeIdentity(seed: (0..<32).map { UInt8($0) }),
              let sealed = try? SessionRequest.seal(identity: consumer, provider: provider.publicIdentity,
                                                    maxPrices: .free, channel: nil, now: now,
                                                    entropy: SeededEntropy(seed: [1])),
              let opened = try? OpenedSessionRequest.open(sealed.bytes, providerIdentity: provider) else {
            fatalError("fuzz fixture failed to build")
        }
        self.provider = provider
        self.consumer = consumer
        request = sealed.bytes
        secret = sealed.secret
        self.opened = opened
        var ephemeral = SeededEntropy(seed: [2]).bytes(32)
        Curve25519.clamp(&ephemeral)
        ephemeralPrivate = ephemeral
        let ephemeralPublic = Curve25519.publicKey(privateKey: ephemeral)
        let shared = Curve25519.sharedSecret(privateKey: ephemeral, publicKey: provider.wireGuardPublicKey) ?? []
        requestKey = NoiseKDF.derive(1, key: BLAKE2s.hash(Array("warren session v1 request".utf8)),
                                     input: shared + ephemeralPublic + provider.wireGuardPublicKey)[0]
    }

    /// `fields` (padded or cut to 160 bytes) signed by the consumer and sealed to the provider.
    func sealedRequest(fields input: [UInt8]) -> [UInt8] {
        let fields = Array((input + [UInt8](repeating: 0, count: 160)).prefix(160))
        let clear: [UInt8] = [5, 0, 0, 0] + Curve25519.publicKey(privateKey: ephemeralPrivate)
        let signature = consumer.sign(Array("warren session request v1".utf8) + clear + fields)
        return clear + ChaChaPoly.seal(key: requestKey, counter: 0, plaintext: fields + signature, additionalData: clear)
    }

    /// `plaintext` (padded or cut to 188 bytes) sealed as the provider's answer to the fixed request.
    func sealedResponse(plaintext input: [UInt8], responseNonce: [UInt8]) -> [UInt8] {
        let plaintext = Array((input + [UInt8](repeating: 0, count: 188)).prefix(188))
        let digest = BLAKE2s.hash(request, outputLength: 16)
        let shared = Curve25519.sharedSecret(privateKey: provider.wireGuardPrivateKey, publicKey: Array(request[4..<36])) ?? []
        let key = NoiseKDF.derive(1, key: BLAKE2s.hash(Array("warren session v1 response".utf8)),
                                  input: shared + digest + responseNonce)[0]
        let clear: [UInt8] = [6, 0, 0, 0] + digest + responseNonce
        return clear + ChaChaPoly.seal(key: key, counter: 0, plaintext: plaintext, additionalData: clear)
    }
}

nonisolated(unsafe) let sessionFixture = SessionFuzzFixture()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let fixture = sessionFixture

    // Raw datagrams and files.
    _ = try? OpenedSessionRequest.open(bytes, providerIdentity: fixture.provider)
    _ = try? SessionResponse.open(bytes, secret: fixture.secret)
    _ = try? SessionResponse.requestDigest(bytes)
    _ = try? SessionClose.unverifiedSessionID(bytes)
    _ = try? SessionClose.open(bytes, from: fixture.consumer.publicIdentity)
    _ = NodeIdentity(serialized: bytes)
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? PublicIdentity(parsing: text)
    _ = try? ProviderAddress(parsing: text)
    _ = try? ProviderAddress(parsing: fixture.provider.publicIdentity.description + "@" + text)

    // The same bytes with each session type in front, at the exact lengths, so the openers get
    // past the length check.
    for (type, length) in [(UInt8(5), 276), (6, 240), (7, 116)] {
        let framed = Array(([type, 0, 0, 0] + bytes + [UInt8](repeating: 0, count: length)).prefix(length))
        _ = try? OpenedSessionRequest.open(framed, providerIdentity: fixture.provider)
        _ = try? SessionResponse.open(framed, secret: fixture.secret)
        _ = try? SessionClose.open(framed, from: fixture.consumer.publicIdentity)
    }

    // Behind the AEAD: hostile response plaintexts. What opens must re-seal identically.
    let responseNonce = SeededEntropy(seed: bytes.prefix(8).map { $0 }).bytes(16)
    let response = fixture.sealedResponse(plaintext: bytes, responseNonce: responseNonce)
    if let answer = try? SessionResponse.open(response, secret: fixture.secret) {
        let resealed = SessionResponse.seal(answer, to: fixture.opened, entropy: SeededEntropy(seed: bytes.prefix(8).map { $0 }))
        if resealed != response { fatalError("response plaintext has two encodings") }
    }

    // Behind the AEAD and the signature: hostile request fields.
    if let opened = try? OpenedSessionRequest.open(fixture.sealedRequest(fields: bytes), providerIdentity: fixture.provider) {
        _ = fixture.admission.admitRequest(opened, now: fixture.now)
    }

    // The admission gate with hostile sources and clocks.
    if size >= 24 {
        var reader = bytes[...]
        func take(_ count: Int) -> [UInt8] { defer { reader = reader.dropFirst(count) }; return Array(reader.prefix(count)) }
        let source = IPAddress(bytes: size % 2 == 0 ? take(4) : take(16)) ?? .v4(0)
        let clock = take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let now = Now(monotonic: clock, wall: clock)
        _ = fixture.admission.admitDatagram(from: source, now: now)
        _ = fixture.admission.admitRequest(consumer: fixture.consumer.publicIdentity, nonce: take(16),
                                           wallNanoseconds: clock &+ UInt64(size), now: now)
        if fixture.admission.trackedSourceCount > 64 || fixture.admission.rememberedRequestCount > 64 {
            fatalError("admission memory grew past its bound")
        }
    }
    return 0
}
