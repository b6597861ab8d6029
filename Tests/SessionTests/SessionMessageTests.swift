import Testing
import WarrenCrypto
import WireGuard
@testable import Session

/// Types 5, 6 and 7: round trips, the pinned vectors of docs/SESSION-PROTOCOL.md, and the
/// ways each must fail.
@Suite struct SessionMessageTests {
    // MARK: Request (type 5)

    @Test func requestRoundTrip() throws {
        let (bytes, secret) = try Fixture.request()
        #expect(bytes.count == 276)
        #expect(Array(bytes[0..<4]) == [5, 0, 0, 0])
        let opened = try OpenedSessionRequest.open(bytes, providerIdentity: Fixture.provider)
        #expect(opened.consumer == Fixture.consumer.publicIdentity)
        #expect(opened.consumerWireGuardKey == Fixture.consumer.wireGuardPublicKey)
        #expect(opened.timestamp == TAI64N.timestamp(wallNanoseconds: Fixture.now.wall))
        // TAI64N keeps whole seconds and rounds nanoseconds down to 2^24 ns steps.
        #expect(opened.wallNanoseconds == Fixture.now.wall)
        #expect(opened.nonce.count == 16)
        #expect(opened.maxPrices == Fixture.maxPrices)
        #expect(opened.channel == Fixture.channel)
        #expect(opened.requestDigest == BLAKE2s.hash(bytes, outputLength: 16))
        #expect(opened.requestDigest == secret.requestDigest)
        #expect(secret.provider == Fixture.provider.publicIdentity)
    }

    @Test func requestWithoutChannelAndWithSeparateTunnelKey() throws {
        let tunnelKey = Curve25519.publicKey(privateKey: SeededEntropy(seed: [9]).bytes(32))
        let (bytes, _) = try SessionRequest.seal(
            identity: Fixture.consumer, wireGuardPublicKey: tunnelKey, provider: Fixture.provider.publicIdentity,
            maxPrices: .free, channel: nil, now: Fixture.now, entropy: SeededEntropy(seed: [1]))
        let opened = try OpenedSessionRequest.open(bytes, providerIdentity: Fixture.provider)
        #expect(opened.channel == nil)
        #expect(opened.consumerWireGuardKey == tunnelKey)
        #expect(opened.maxPrices == .free)
        #expect(throws: SessionError.invalidField("consumer WireGuard key")) {
            try SessionRequest.seal(identity: Fixture.consumer, wireGuardPublicKey: [UInt8](repeating: 0, count: 32),
                                    provider: Fixture.provider.publicIdentity, maxPrices: .free, channel: nil,
                                    now: Fixture.now, entropy: SeededEntropy(seed: [1]))
        }
    }

    /// The pinned vector: fixed seeds, time and terms (see Fixture and the document).
    @Test func requestVectorIsPinned() throws {
        let (bytes, secret) = try Fixture.request()
        #expect(Fixture.hex(bytes) == Self.requestVector)
        #expect(Fixture.hex(secret.requestDigest) == Self.requestDigestVector)
    }

    /// The code builds exactly the bytes the document describes.
    @Test func requestMatchesTheDocumentedConstruction() throws {
        let entropy = SeededEntropy(seed: Fixture.entropySeed)
        var ephemeral = entropy.bytes(32)
        Curve25519.clamp(&ephemeral)
        let nonce = entropy.bytes(16)
        let crafted = Spec.request(ephemeralPrivate: ephemeral, to: Fixture.provider,
                                   fields: Spec.fixtureFields(nonce: nonce), signer: Fixture.consumer)
        #expect(try Fixture.request().bytes == crafted)
    }

    @Test func requestForAnotherProviderDoesNotOpen() throws {
        let (bytes, _) = try Fixture.request()
        #expect(throws: SessionError.authenticationFailed) {
            try OpenedSessionRequest.open(bytes, providerIdentity: Fixture.stranger)
        }
    }

    @Test func requestWithAnyFlippedBitDoesNotOpen() throws {
        let (bytes, _) = try Fixture.request()
        for index in bytes.indices {
            for bit in [0, 7] {
                var changed = bytes
                changed[index] ^= 1 << bit
                #expect(throws: SessionError.self, "byte \(index) bit \(bit)") {
                    try OpenedSessionRequest.open(changed, providerIdentity: Fixture.provider)
                }
            }
        }
    }

    @Test func requestOfAnyOtherLengthOrTypeIsRefusedBeforeCrypto() throws {
        let (bytes, _) = try Fixture.request()
        for length in [0, 1, 4, 36, 275] {
            #expect(throws: SessionError.wrongLength(expected: 276, actual: length)) {
                try OpenedSessionRequest.open(Array(bytes.prefix(length)), providerIdentity: Fixture.provider)
            }
        }
        #expect(throws: SessionError.wrongLength(expected: 276, actual: 277)) {
            try OpenedSessionRequest.open(bytes + [0], providerIdentity: Fixture.provider)
        }
        for type: UInt8 in [1, 4, 6, 7, 0xFF] {
            var changed = bytes
            changed[0] = type
            #expect(throws: SessionError.wrongType(type)) { try OpenedSessionRequest.open(changed, providerIdentity: Fixture.provider) }
        }
        var reserved = bytes
        reserved[2] = 1
        #expect(throws: SessionError.nonZeroReserved) { try OpenedSessionRequest.open(reserved, providerIdentity: Fixture.provider) }
    }

    @Test func requestSignedByAnotherIdentityIsRefused() {
        // The fields claim the consumer; the stranger signs.
        let request = Spec.request(ephemeralPrivate: Self.ephemeral, to: Fixture.provider,
                                   fields: Spec.fixtureFields(), signer: Fixture.stranger)
        #expect(throws: SessionError.badSignature) { try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider) }
        // Honestly signed, it opens: the construction itself is sound.
        let honest = Spec.request(ephemeralPrivate: Self.ephemeral, to: Fixture.provider,
                                  fields: Spec.fixtureFields(), signer: Fixture.consumer)
        #expect(throws: Never.self) { try OpenedSessionRequest.open(honest, providerIdentity: Fixture.provider) }
    }

    @Test func requestSignatureCoversTheEphemeralKey() throws {
        // Re-wrapping a signed plaintext under another ephemeral key (which only the consumer or
        // the provider could do anyway) breaks the signature.
        let fields = Spec.fixtureFields()
        let original: [UInt8] = [5, 0, 0, 0] + Curve25519.publicKey(privateKey: Self.ephemeral)
        let signature = Fixture.consumer.sign(Spec.requestSignatureLabel + original + fields)
        var other = SeededEntropy(seed: [42]).bytes(32)
        Curve25519.clamp(&other)
        let otherPublic = Curve25519.publicKey(privateKey: other)
        let clear: [UInt8] = [5, 0, 0, 0] + otherPublic
        let dh = try #require(Curve25519.sharedSecret(privateKey: other, publicKey: Fixture.provider.wireGuardPublicKey))
        let key = NoiseKDF.derive(1, key: Spec.requestChainKey, input: dh + otherPublic + Fixture.provider.wireGuardPublicKey)[0]
        let rewrapped = clear + ChaChaPoly.seal(key: key, counter: 0, plaintext: fields + signature, additionalData: clear)
        #expect(throws: SessionError.badSignature) { try OpenedSessionRequest.open(rewrapped, providerIdentity: Fixture.provider) }
    }

    @Test func requestFieldsAreChecked() {
        func open(_ fields: [UInt8], signer: NodeIdentity = Fixture.consumer) throws(SessionError) {
            let request = Spec.request(ephemeralPrivate: Self.ephemeral, to: Fixture.provider, fields: fields, signer: signer)
            _ = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        }
        let good = Spec.fixtureFields()
        var version = good
        version[0] = 2
        #expect(throws: SessionError.unsupportedVersion(2)) { try open(version) }
        var reserved = good
        reserved[3] = 0x80
        #expect(throws: SessionError.nonZeroReserved) { try open(reserved) }
        var smallOrder = good
        smallOrder.replaceSubrange(4..<36, with: [1] + [UInt8](repeating: 0, count: 31))
        #expect(throws: SessionError.invalidField("consumer identity")) { try open(smallOrder) }
        var zeroTunnelKey = good
        zeroTunnelKey.replaceSubrange(36..<68, with: [UInt8](repeating: 0, count: 32))
        #expect(throws: SessionError.invalidField("consumer WireGuard key")) { try open(zeroTunnelKey) }
        var before1970 = good
        before1970.replaceSubrange(68..<80, with: [UInt8](repeating: 0, count: 12))
        #expect(throws: SessionError.invalidField("timestamp")) { try open(before1970) }
        var badNanoseconds = good
        badNanoseconds.replaceSubrange(76..<80, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: SessionError.invalidField("timestamp")) { try open(badNanoseconds) }
    }

    @Test func requestWithLowOrderEphemeralIsRefused() {
        let request = Spec.request(ephemeralPrivate: Self.ephemeral, to: Fixture.provider, fields: Spec.fixtureFields(),
                                   signer: Fixture.consumer, ephemeralPublic: [UInt8](repeating: 0, count: 32))
        #expect(throws: SessionError.weakKey) { try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider) }
    }

    @Test func requestsAreFreshEachTime() throws {
        let entropy = SeededEntropy(seed: [3])
        let first = try Fixture.request(entropy: entropy)
        let second = try Fixture.request(entropy: entropy)
        #expect(first.bytes[4..<36] != second.bytes[4..<36])
        let a = try OpenedSessionRequest.open(first.bytes, providerIdentity: Fixture.provider)
        let b = try OpenedSessionRequest.open(second.bytes, providerIdentity: Fixture.provider)
        #expect(a.nonce != b.nonce)
        #expect(a.requestDigest != b.requestDigest)
    }

    static let ephemeral: [UInt8] = {
        var key = SeededEntropy(seed: [0xEE]).bytes(32)
        Curve25519.clamp(&key)
        return key
    }()

    // MARK: Response (type 6)

    @Test func acceptedResponseRoundTrip() throws {
        let (request, secret) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        let grant = try Fixture.grant()
        let response = SessionResponse.seal(.accepted(grant), to: opened, entropy: SeededEntropy(seed: [6]))
        #expect(response.count == 240)
        #expect(Array(response[0..<4]) == [6, 0, 0, 0])
        #expect(Array(response[4..<20]) == secret.requestDigest)
        #expect(try SessionResponse.requestDigest(response) == secret.requestDigest)
        #expect(try SessionResponse.open(response, secret: secret) == .accepted(grant))
    }

    /// A paying provider's wallet rides in plaintext bytes 124..<144 of the grant; all zero is "no wallet".
    @Test func grantCarriesTheProviderWallet() throws {
        let (request, secret) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        let base = try Fixture.grant()
        let wallet = (1...20).map { UInt8($0) }
        let grant = try SessionGrant(
            sessionID: base.sessionID, consumerIPv4: base.consumerIPv4, consumerIPv6: base.consumerIPv6, mtu: base.mtu,
            dnsIPv4: base.dnsIPv4, dnsIPv6: base.dnsIPv6, providerTunnelIPv4: base.providerTunnelIPv4,
            providerTunnelIPv6: base.providerTunnelIPv6, prices: base.prices, creditWindowBytes: base.creditWindowBytes,
            voucherIntervalBytes: base.voucherIntervalBytes, idleTimeoutSeconds: base.idleTimeoutSeconds, providerWallet: wallet)
        let plaintext = SessionResponse.encode(.accepted(grant))
        #expect(Array(plaintext[124..<144]) == wallet)
        #expect(plaintext[144...].allSatisfy { $0 == 0 })
        let response = SessionResponse.seal(.accepted(grant), to: opened, entropy: SeededEntropy(seed: [7]))
        guard case .accepted(let parsed) = try SessionResponse.open(response, secret: secret) else {
            Issue.record("not accepted")
            return
        }
        #expect(parsed.providerWallet == wallet)
        #expect(base.providerWallet == nil)
        #expect(throws: SessionError.invalidField("provider wallet")) {
            try SessionGrant(sessionID: 1, consumerIPv4: base.consumerIPv4, consumerIPv6: nil, mtu: 1420, prices: .free,
                             creditWindowBytes: 0, voucherIntervalBytes: 0, idleTimeoutSeconds: 60, providerWallet: [UInt8](repeating: 0, count: 20))
        }
        #expect(throws: SessionError.invalidField("provider wallet")) {
            try SessionGrant(sessionID: 1, consumerIPv4: base.consumerIPv4, consumerIPv6: nil, mtu: 1420, prices: .free,
                             creditWindowBytes: 0, voucherIntervalBytes: 0, idleTimeoutSeconds: 60, providerWallet: [1, 2, 3])
        }
    }

    @Test func responseLayoutMatchesTheDocument() throws {
        let (request, secret) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        let response = SessionResponse.seal(.accepted(try Fixture.grant()), to: opened, entropy: SeededEntropy(seed: [6]))
        let plaintext = try #require(Spec.openResponse(response, for: request, provider: Fixture.provider))
        #expect(plaintext.count == 188)
        #expect(Array(plaintext[0..<8]) == [0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04])
        #expect(Array(plaintext[8..<13]) == [10, 77, 0, 2, 32])
        #expect(Array(plaintext[13..<30]) == [0xFD, 0x77] + [UInt8](repeating: 0, count: 13) + [2, 128])
        #expect(Array(plaintext[30..<32]) == [0x05, 0x8C])                     // MTU 1420
        #expect(Array(plaintext[32..<36]) == [10, 77, 0, 1])
        #expect(Array(plaintext[36..<52]) == [0xFD, 0x77] + [UInt8](repeating: 0, count: 13) + [1])
        #expect(Array(plaintext[52..<56]) == [10, 77, 0, 1])
        #expect(Array(plaintext[56..<72]) == [0xFD, 0x77] + [UInt8](repeating: 0, count: 13) + [1])
        #expect(Array(plaintext[72..<88]) == Spec.be(UInt128(500_000_000_000_000_000)))
        #expect(Array(plaintext[88..<104]) == [UInt8](repeating: 0, count: 16))
        #expect(Array(plaintext[104..<112]) == Spec.be(UInt64(16 << 20)))
        #expect(Array(plaintext[112..<120]) == Spec.be(UInt64(4 << 20)))
        #expect(Array(plaintext[120..<124]) == [0, 0, 0x01, 0x2C])               // 300 s
        #expect(Array(plaintext[124..<188]) == [UInt8](repeating: 0, count: 64))
        // And a plaintext crafted from the document opens through the real opener.
        let crafted = Spec.response(plaintext: plaintext, for: request, provider: Fixture.provider)
        #expect(try SessionResponse.open(crafted, secret: secret) == .accepted(try Fixture.grant()))
    }

    @Test func refusalRoundTripCarriesPricesAndText() throws {
        let (request, secret) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        for reason in SessionRefusalReason.allCases {
            let refusal = SessionRefusal(reason: reason, prices: Tariff(perGiB: UInt128.max, perMinute: 7),
                                         text: "price is 2 tokens/GiB — café ☕")
            let response = SessionResponse.seal(.refused(refusal), to: opened, entropy: SeededEntropy(seed: [reason.rawValue]))
            #expect(try SessionResponse.open(response, secret: secret) == .refused(refusal))
            let plaintext = try #require(Spec.openResponse(response, for: request, provider: Fixture.provider))
            #expect(plaintext[0] == reason.rawValue)
            #expect(plaintext[4..<72].allSatisfy { $0 == 0 } && plaintext[104..<124].allSatisfy { $0 == 0 })
        }
        let empty = SessionRefusal(reason: .full)
        let response = SessionResponse.seal(.refused(empty), to: opened, entropy: SeededEntropy(seed: [0]))
        #expect(try SessionResponse.open(response, secret: secret) == .refused(empty))
    }

    @Test func refusalTextIsSanitised() {
        let long = SessionRefusal(reason: .other, text: String(repeating: "é", count: 40))   // 80 bytes
        #expect(long.text.utf8.count == 64 && long.text == String(repeating: "é", count: 32))
        let noisy = SessionRefusal(reason: .other, text: "line one\nline two\r\u{1B}[2J\u{0}end")
        #expect(noisy.text == "line oneline two[2Jend")
        let emoji = SessionRefusal(reason: .other, text: String(repeating: "a", count: 62) + "☕")  // 62 + 3 bytes
        #expect(emoji.text == String(repeating: "a", count: 62))
    }

    @Test func responseOpensOnlyWithItsRequestsSecret() throws {
        let (requestA, secretA) = try Fixture.request(entropy: SeededEntropy(seed: [1]))
        let (_, secretB) = try Fixture.request(entropy: SeededEntropy(seed: [2]))
        let openedA = try OpenedSessionRequest.open(requestA, providerIdentity: Fixture.provider)
        let response = SessionResponse.seal(.accepted(try Fixture.grant()), to: openedA, entropy: SeededEntropy(seed: [6]))
        #expect(throws: SessionError.requestMismatch) { try SessionResponse.open(response, secret: secretB) }
        // Relabelled with B's digest, it still needs A's key.
        var relabelled = response
        relabelled.replaceSubrange(4..<20, with: secretB.requestDigest)
        #expect(throws: SessionError.authenticationFailed) { try SessionResponse.open(relabelled, secret: secretB) }
        #expect(throws: Never.self) { try SessionResponse.open(response, secret: secretA) }
    }

    @Test func responseFromAnotherProviderDoesNotOpen() throws {
        // Someone without the provider's static key cannot make an answer that opens.
        let (request, secret) = try Fixture.request()
        let plaintext = SessionResponse.encode(.refused(SessionRefusal(reason: .full)))
        let forged = Spec.response(plaintext: plaintext, for: request, provider: Fixture.stranger)
        #expect(throws: SessionError.authenticationFailed) { try SessionResponse.open(forged, secret: secret) }
    }

    @Test func responseWithAnyFlippedBitOrOtherLengthDoesNotOpen() throws {
        let (request, secret) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        let response = SessionResponse.seal(.accepted(try Fixture.grant()), to: opened, entropy: SeededEntropy(seed: [6]))
        for index in response.indices {
            var changed = response
            changed[index] ^= 0x01
            #expect(throws: SessionError.self, "byte \(index)") { try SessionResponse.open(changed, secret: secret) }
        }
        #expect(throws: SessionError.wrongLength(expected: 240, actual: 239)) {
            try SessionResponse.open(Array(response.dropLast()), secret: secret)
        }
        #expect(throws: SessionError.wrongLength(expected: 240, actual: 241)) {
            try SessionResponse.open(response + [0], secret: secret)
        }
        #expect(throws: SessionError.wrongType(5)) { try SessionResponse.open(request, secret: secret) }
    }

    @Test func eachSealOfTheSameRequestUsesItsOwnKey() throws {
        let (request, secret) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        let entropy = SeededEntropy(seed: [6])
        let first = SessionResponse.seal(.refused(SessionRefusal(reason: .full)), to: opened, entropy: entropy)
        let second = SessionResponse.seal(.accepted(try Fixture.grant()), to: opened, entropy: entropy)
        #expect(first[20..<36] != second[20..<36])
        #expect(try SessionResponse.open(first, secret: secret) == .refused(SessionRefusal(reason: .full)))
        #expect(try SessionResponse.open(second, secret: secret) == .accepted(try Fixture.grant()))
    }

    @Test func hostileResponsePlaintextsAreRefused() throws {
        let (request, secret) = try Fixture.request()
        let good = SessionResponse.encode(.accepted(try Fixture.grant()))
        let refusal = SessionResponse.encode(.refused(SessionRefusal(reason: .other, text: "no")))
        func open(_ plaintext: [UInt8]) throws(SessionError) -> SessionAnswer {
            try SessionResponse.open(Spec.response(plaintext: plaintext, for: request, provider: Fixture.provider), secret: secret)
        }
        func changed(_ base: [UInt8], _ index: Int, _ value: UInt8) -> [UInt8] {
            var copy = base
            copy[index] = value
            return copy
        }
        #expect(throws: SessionError.invalidField("status")) { try open(changed(good, 0, 6)) }
        #expect(throws: SessionError.nonZeroReserved) { try open(changed(good, 2, 1)) }
        #expect(throws: SessionError.invalidField("consumer IPv4")) { try open(changed(good, 12, 33)) }
        #expect(throws: SessionError.invalidField("consumer IPv6")) { try open(changed(good, 29, 129)) }
        #expect(throws: SessionError.invalidField("MTU")) { try open(changed(changed(good, 30, 0), 31, 100)) }
        #expect(throws: SessionError.invalidField("reason")) { try open(changed(good, 144, UInt8(ascii: "x"))) }
        #expect(throws: SessionError.invalidField("reason")) { try open(changed(good, 187, 1)) }
        // "none" has one encoding: length 0 with a non-zero address is refused.
        var noV4 = good
        noV4[12] = 0
        #expect(throws: SessionError.invalidField("consumer IPv4")) { try open(noV4) }
        noV4.replaceSubrange(8..<12, with: [0, 0, 0, 0])
        guard case .accepted(let v6Only) = try open(noV4) else { Issue.record("not accepted"); return }
        #expect(v6Only.consumerIPv4 == nil && v6Only.consumerIPv6 != nil)
        // No address at all is not a grant.
        var none = noV4
        none.replaceSubrange(13..<30, with: [UInt8](repeating: 0, count: 17))
        #expect(throws: SessionError.invalidField("consumer address")) { try open(none) }
        // A refusal carries no assignment and no terms.
        #expect(throws: SessionError.invalidField("refusal assignment")) { try open(changed(refusal, 8, 10)) }
        #expect(throws: SessionError.invalidField("refusal terms")) { try open(changed(refusal, 110, 1)) }
        // Reason text: valid UTF-8, zero padded, no control characters.
        #expect(throws: SessionError.invalidField("reason")) { try open(changed(refusal, 124, 0x0A)) }
        #expect(throws: SessionError.invalidField("reason")) { try open(changed(refusal, 125, 0xFF)) }
        #expect(throws: SessionError.invalidField("reason")) { try open(changed(refusal, 130, UInt8(ascii: "x"))) }
        #expect(throws: SessionError.invalidField("reason")) { try open(changed(changed(refusal, 126, 0xC2), 127, 0x9B)) }  // C1 CSI
        #expect(try open(refusal) == .refused(SessionRefusal(reason: .other, text: "no")))
    }

    @Test func grantRefusesWhatTheWireCannotCarry() throws {
        func grant(v4: String? = "10.0.0.2/32", v6: String? = nil, mtu: UInt16 = 1420, dns4: String? = nil,
                   tunnel6: String? = nil) throws(SessionError) -> SessionGrant {
            try SessionGrant(sessionID: 1, consumerIPv4: v4.flatMap { IPPrefix(parsing: $0) },
                             consumerIPv6: v6.flatMap { IPPrefix(parsing: $0) }, mtu: mtu,
                             dnsIPv4: dns4.flatMap { IPAddress(parsing: $0) },
                             providerTunnelIPv6: tunnel6.flatMap { IPAddress(parsing: $0) },
                             prices: .free, creditWindowBytes: 0, voucherIntervalBytes: 0, idleTimeoutSeconds: 0)
        }
        #expect(throws: Never.self) { try grant() }
        #expect(throws: SessionError.invalidField("consumer IPv4")) { try grant(v4: "fd00::2/128") }
        #expect(throws: SessionError.invalidField("consumer IPv4")) { try grant(v4: "0.0.0.0/8") }
        #expect(throws: SessionError.invalidField("consumer IPv4")) { try grant(v4: "10.0.0.0/0") }
        #expect(throws: SessionError.invalidField("consumer IPv6")) { try grant(v6: "10.0.0.3/32") }
        #expect(throws: SessionError.invalidField("consumer address")) { try grant(v4: nil) }
        #expect(throws: SessionError.invalidField("MTU")) { try grant(mtu: 575) }
        #expect(throws: SessionError.invalidField("MTU")) { try grant(v6: "fd00::2/128", mtu: 1279) }
        #expect(throws: SessionError.invalidField("DNS IPv4")) { try grant(dns4: "fd00::1") }
        #expect(throws: SessionError.invalidField("DNS IPv4")) { try grant(dns4: "0.0.0.0") }
        #expect(throws: SessionError.invalidField("provider tunnel IPv6")) { try grant(tunnel6: "10.0.0.1") }
    }

    @Test func pricesFitWithinALimitOnBothMeters() {
        let limit = Tariff(perGiB: 10, perMinute: 5)
        #expect(Tariff(perGiB: 10, perMinute: 5).fit(within: limit))
        #expect(Tariff.free.fit(within: limit))
        #expect(!Tariff(perGiB: 11, perMinute: 0).fit(within: limit))
        #expect(!Tariff(perGiB: 0, perMinute: 6).fit(within: limit))
    }

    @Test func responseVectorIsPinned() throws {
        let (request, _) = try Fixture.request()
        let opened = try OpenedSessionRequest.open(request, providerIdentity: Fixture.provider)
        let response = SessionResponse.seal(.accepted(try Fixture.grant()), to: opened,
                                            entropy: SeededEntropy(seed: Array("warren response vector".utf8)))
        #expect(Fixture.hex(response) == Self.responseVector)
    }

    // MARK: Close (type 7)

    @Test func closeRoundTripAndLayout() throws {
        let bytes = SessionClose.make(identity: Fixture.consumer, sessionID: 0x0102_0304, now: Fixture.now)
        #expect(bytes.count == 116)
        #expect(Array(bytes[0..<4]) == [7, 0, 0, 0])
        #expect(Array(bytes[4..<36]) == Fixture.consumer.signingPublicKey)
        #expect(Array(bytes[36..<40]) == [1, 2, 3, 4])
        #expect(Array(bytes[40..<52]) == TAI64N.timestamp(wallNanoseconds: Fixture.now.wall))
        #expect(NodeIdentity.verify(signature: Array(bytes[52...]), message: Array("warren session close v1".utf8) + bytes[0..<52],
                                    publicKey: Fixture.consumer.signingPublicKey))
        #expect(try SessionClose.unverifiedSessionID(bytes) == 0x0102_0304)
        let close = try SessionClose.open(bytes, from: Fixture.consumer.publicIdentity)
        #expect(close.consumer == Fixture.consumer.publicIdentity)
        #expect(close.sessionID == 0x0102_0304)
        #expect(close.wallNanoseconds == Fixture.now.wall)
        #expect(Fixture.hex(bytes) == Self.closeVector)
    }

    @Test func closeFromAnotherIdentityOrForgedIsRefused() throws {
        let bytes = SessionClose.make(identity: Fixture.consumer, sessionID: 9, now: Fixture.now)
        #expect(throws: SessionError.wrongIdentity) { try SessionClose.open(bytes, from: Fixture.stranger.publicIdentity) }
        // The stranger names the consumer but can only sign as itself.
        var forged = Array(SessionClose.make(identity: Fixture.stranger, sessionID: 9, now: Fixture.now))
        forged.replaceSubrange(4..<36, with: Fixture.consumer.signingPublicKey)
        #expect(throws: SessionError.badSignature) { try SessionClose.open(forged, from: Fixture.consumer.publicIdentity) }
        for index in bytes.indices {
            var changed = bytes
            changed[index] ^= 0x80
            #expect(throws: SessionError.self, "byte \(index)") { try SessionClose.open(changed, from: Fixture.consumer.publicIdentity) }
        }
        #expect(throws: SessionError.wrongLength(expected: 116, actual: 115)) {
            try SessionClose.open(Array(bytes.dropLast()), from: Fixture.consumer.publicIdentity)
        }
        #expect(throws: SessionError.wrongLength(expected: 116, actual: 117)) { try SessionClose.unverifiedSessionID(bytes + [0]) }
        #expect(throws: SessionError.wrongType(5)) { try SessionClose.unverifiedSessionID(try Fixture.request().bytes) }
    }

    // MARK: Pinned vectors (also in docs/SESSION-PROTOCOL.md)

    static let requestVector = """
        05000000656b3deddb8382f7f4fe4a61b3edc016ebebd0e2bb6e138b872fdaa50e71416001a7b0bda787f248432bef189d104466dd77fb748ef9a041885f8eabc60f6d71bf877ebe618bbf43af2401580db5b0403855b37fed2d6e8fbe589fdfb518b461e82a14fa5bb977510cdc4a48076f73d3549a98cb01860dfb675c31a95e298894bce5bd6234218026500adb784720a8fb703853ec8d1e5762719845506cb570d521312905713b1b6ca66db09247700fe11177fc59baa0d5eb1d29cb9b28a0fc130f4653c5388822897bda83312c2ef7d9a68cbde72d40cc7320543251530e78d1bb3d20f8bc028f9b642a038eef299ccf9f2e961cd122cd268e36301f73ddbf809fdd4d1be36351b4ab0993f500a132e9
        """
    static let requestDigestVector = "4194c4983b78a375a14559e38c844878"
    static let responseVector = """
        060000004194c4983b78a375a14559e38c844878a7302a6e45e71ff6b5451c183b00b722061cf4a1ce8316e568d987078557a5d59261eabf52c76d2e503b9eb4b3f80fcc3cb48e6bb0e9ccbd08f50351da6d0b7d40e91247417f8773a91d7be8cb1d5288c3fcd023ba3837c8080b633cdcbe8277d19c960376694d69afd0fcdd2e7a0ba2583fb229b0056d973ac09a6c077cb0a8a21565a3128fea5930041ab1d7becb09e4d505e511df784c3d66cbf6e6c9da4f2b61b0291bd3b1000c5f9e1c89754fd7c4eb865571402260835498cdfd6de5ad5fa8e5707d4910da18b4260c94a49b5b887fab08b0e22bc1a03ec5af
        """
    static let closeVector = """
        0700000003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b801020304400000006553f10a00000000f0b5929823e1c375e4adabb207830ed3e770f1e607440cc0b005dd47de7a812aeea368c81bf018fc0728681d1ea1028417f1f7f703ec87d4da423fc7a966dc00
        """
}
