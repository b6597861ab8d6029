import CSodium
import Testing
import WarrenCrypto
import WireGuard
@testable import Session

/// Node identities: Ed25519 keys, their X25519 (WireGuard) form, the identity file, and the
/// `wr1…` text users paste.
@Suite struct IdentityTests {
    // MARK: Keys

    @Test func rfc8032Vector1SignsAsSpecified() throws {
        // RFC 8032 section 7.1, TEST 1: empty message.
        let identity = try #require(NodeIdentity(seed: Fixture.bytes(hex: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")))
        #expect(Fixture.hex(identity.signingPublicKey) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = identity.sign([])
        #expect(Fixture.hex(signature) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(NodeIdentity.verify(signature: signature, message: [], publicKey: identity.signingPublicKey))
        #expect(identity.secretKey == identity.seed + identity.signingPublicKey)
    }

    @Test func wireGuardKeyIsLibsodiumsConversionAndAWireGuardKeypair() throws {
        for seed in [Fixture.consumerSeed, Fixture.providerSeed, [UInt8](repeating: 0xFF, count: 32)] {
            let identity = try #require(NodeIdentity(seed: seed))
            var sodiumPrivate = [UInt8](repeating: 0, count: 32)
            var sodiumPublic = [UInt8](repeating: 0, count: 32)
            #expect(crypto_sign_ed25519_sk_to_curve25519(&sodiumPrivate, identity.secretKey) == 0)
            #expect(crypto_sign_ed25519_pk_to_curve25519(&sodiumPublic, identity.signingPublicKey) == 0)
            #expect(identity.wireGuardPrivateKey == sodiumPrivate)
            #expect(identity.wireGuardPublicKey == sodiumPublic)
            // The X25519 scalar is SHA-512(seed)[0..<32], clamped as `wg genkey` clamps.
            var hash = [UInt8](repeating: 0, count: 64)
            _ = crypto_hash_sha512(&hash, seed, 32)
            var clamped = Array(hash[0..<32])
            Curve25519.clamp(&clamped)
            #expect(identity.wireGuardPrivateKey == clamped)
            // WireGuard derives the same public key from the private key as the conversion does.
            #expect(Curve25519.publicKey(privateKey: identity.wireGuardPrivateKey) == identity.wireGuardPublicKey)
            #expect(identity.publicIdentity.wireGuardPublicKey == identity.wireGuardPublicKey)
        }
    }

    @Test func identityDerivesFromSeedOnly() throws {
        let a = NodeIdentity.generate(entropy: SeededEntropy(seed: [7]))
        let b = NodeIdentity.generate(entropy: SeededEntropy(seed: [7]))
        let c = NodeIdentity.generate(entropy: SeededEntropy(seed: [8]))
        #expect(a.signingPublicKey == b.signingPublicKey)
        #expect(a.signingPublicKey != c.signingPublicKey)
        #expect(NodeIdentity(seed: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(NodeIdentity(seed: [UInt8](repeating: 1, count: 33)) == nil)
    }

    @Test func signaturesVerifyOnlyForTheSignerAndTheMessage() {
        let message = Array("hello provider".utf8)
        let signature = Fixture.consumer.sign(message)
        #expect(NodeIdentity.verify(signature: signature, message: message, publicKey: Fixture.consumer.signingPublicKey))
        #expect(!NodeIdentity.verify(signature: signature, message: message, publicKey: Fixture.provider.signingPublicKey))
        #expect(!NodeIdentity.verify(signature: signature, message: message + [0], publicKey: Fixture.consumer.signingPublicKey))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!NodeIdentity.verify(signature: flipped, message: message, publicKey: Fixture.consumer.signingPublicKey))
        #expect(!NodeIdentity.verify(signature: Array(signature.prefix(63)), message: message, publicKey: Fixture.consumer.signingPublicKey))
    }

    @Test func descriptionAndMirrorDoNotShowTheSecret() {
        let identity = Fixture.consumer
        let secretHex = Fixture.hex(identity.secretKey)
        let texts = [String(describing: identity), String(reflecting: identity), "\(identity)"]
        var dumped = ""
        dump(identity, to: &dumped)
        for text in texts + [dumped] {
            #expect(!text.contains(secretHex.prefix(16)))
            #expect(!text.contains(String(describing: identity.wireGuardPrivateKey)))
            #expect(!text.contains(String(describing: identity.secretKey)))
        }
        #expect(String(describing: identity).contains(identity.publicIdentity.description))
    }

    // MARK: The identity file

    @Test func identityFileRoundTrips() throws {
        let file = Fixture.consumer.serialized()
        #expect(file.count == 54)
        #expect(Array(file.prefix(6)) == Array("WRNID1".utf8))
        #expect(Array(file[6..<38]) == Fixture.consumerSeed)
        #expect(Array(file[38...]) == BLAKE2s.hash(Array(file[0..<38]), outputLength: 16))
        let read = try #require(NodeIdentity(serialized: file))
        #expect(read.secretKey == Fixture.consumer.secretKey)
        #expect(read.wireGuardPrivateKey == Fixture.consumer.wireGuardPrivateKey)
    }

    @Test func tornOrChangedIdentityFileIsRefused() {
        let file = Fixture.consumer.serialized()
        for length in 0..<file.count { #expect(NodeIdentity(serialized: Array(file.prefix(length))) == nil) }
        #expect(NodeIdentity(serialized: file + [0]) == nil)
        for index in file.indices {
            var changed = file
            changed[index] ^= 0x40
            #expect(NodeIdentity(serialized: changed) == nil, "byte \(index)")
        }
        #expect(NodeIdentity(serialized: [UInt8](repeating: 0, count: 54)) == nil)
    }

    // MARK: The wr1 text form

    @Test func publicIdentityTextRoundTrips() throws {
        for identity in [Fixture.consumer, Fixture.provider, Fixture.stranger] {
            let text = identity.publicIdentity.description
            #expect(text.hasPrefix("wr1"))
            #expect(text.count == 49)
            #expect(text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            let parsed = try PublicIdentity(parsing: text)
            #expect(parsed == identity.publicIdentity)
            #expect(parsed.wireGuardPublicKey == identity.wireGuardPublicKey)
            #expect(try PublicIdentity(parsing: "  \(text)\n") == parsed)
        }
        // Pinned: the consumer fixture's identity (docs/SESSION-PROTOCOL.md uses it).
        #expect(Fixture.consumer.publicIdentity.description == Self.consumerText)
    }

    static let consumerText = "wr1A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbgdmg"

    @Test func publicIdentityTextRejectsBadInput() throws {
        let good = Fixture.consumer.publicIdentity.description
        let body = String(good.dropFirst(3))
        #expect(throws: IdentityTextError.notAnIdentity) { try PublicIdentity(parsing: "wg1" + body) }
        #expect(throws: IdentityTextError.notAnIdentity) { try PublicIdentity(parsing: body) }
        #expect(throws: IdentityTextError.notAnIdentity) {
            try PublicIdentity(parsing: "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=")   // a WireGuard key
        }
        #expect(throws: IdentityTextError.wrongLength(45)) { try PublicIdentity(parsing: String(good.dropLast())) }
        #expect(throws: IdentityTextError.wrongLength(47)) { try PublicIdentity(parsing: good + "A") }
        #expect(throws: IdentityTextError.wrongLength(0)) { try PublicIdentity(parsing: "wr1") }
        // Change one character in the key part: the checksum catches it.
        var characters = Array(good)
        characters[10] = characters[10] == "A" ? "B" : "A"
        #expect(throws: IdentityTextError.badChecksum) { try PublicIdentity(parsing: String(characters)) }
        // Standard base64's '+' and '/' are not base64url.
        characters = Array(good)
        characters[5] = "+"
        #expect(throws: IdentityTextError.badCharacter("+", position: 5)) { try PublicIdentity(parsing: String(characters)) }
        // The last character carries 2 bits of data; its 4 unused bits must be zero.
        characters = Array(good)
        let lastByte = try #require(characters[48].asciiValue)
        let last = try #require(Base64URL.alphabet.firstIndex(of: lastByte))
        characters[48] = Character(UnicodeScalar(Base64URL.alphabet[last | 1]))
        #expect(throws: IdentityTextError.badCharacter(characters[48], position: 48)) { try PublicIdentity(parsing: String(characters)) }
    }

    @Test func publicIdentityRejectsKeysWithoutAnX25519Form() throws {
        // The identity point (small order) with a correct checksum.
        var key = [UInt8](repeating: 0, count: 32)
        key[0] = 1
        let text = "wr1" + Base64URL.encode(key + PublicIdentity.checksum(key))
        #expect(throws: IdentityTextError.notAPublicKey) { try PublicIdentity(parsing: text) }
        #expect(PublicIdentity(signingPublicKey: key) == nil)
        #expect(PublicIdentity(signingPublicKey: Array(Fixture.consumer.signingPublicKey.prefix(31))) == nil)
    }

    @Test func errorsExplainThemselves() {
        #expect(IdentityTextError.notAnIdentity.description
            == "not a warren identity: expected wr1… as printed by `warren id`")
        #expect(IdentityTextError.badChecksum.description.contains("checksum"))
        #expect(ProviderAddressError.missingAt.description.contains("IDENTITY@HOST:PORT"))
    }

    @Test func base64URLMatchesRFC4648Vectors() {
        // RFC 4648 section 10, without padding.
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            if case .success(let decoded) = Base64URL.decode(Array(encoded.utf8)) {
                #expect(decoded == Array(plain.utf8))
            } else {
                Issue.record("\(encoded) did not decode")
            }
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }

    // MARK: Provider addresses

    @Test func providerAddressParsesIPv4IPv6AndHostNames() throws {
        let id = Fixture.provider.publicIdentity
        let v4 = try ProviderAddress(parsing: "\(id)@203.0.113.7:51820")
        #expect(v4.identity == id && v4.host == "203.0.113.7" && v4.port == 51820)
        #expect(v4.endpoint == Endpoint(address: .v4(0xCB00_7107), port: 51820))
        #expect(v4.description == "\(id)@203.0.113.7:51820")

        let v6 = try ProviderAddress(parsing: "\(id)@[2001:db8::1]:443")
        #expect(v6.host == "2001:db8::1" && v6.port == 443)
        #expect(v6.endpoint == Endpoint(address: try #require(IPAddress(parsing: "2001:db8::1")), port: 443))
        #expect(v6.description == "\(id)@[2001:db8::1]:443")
        #expect(try ProviderAddress(parsing: v6.description) == v6)

        let named = try ProviderAddress(parsing: " \(id)@exit-1.example.net:1 ")
        #expect(named.host == "exit-1.example.net" && named.port == 1)
        #expect(named.endpoint == nil)
        #expect(try ProviderAddress(parsing: "\(id)@localhost:65535").port == 65535)
    }

    @Test func providerAddressRejectsBadInput() {
        let id = Fixture.provider.publicIdentity.description
        let cases: [(String, ProviderAddressError)] = [
            ("203.0.113.7:51820", .missingAt),
            ("wr1abc@203.0.113.7:51820", .identity(.wrongLength(3))),
            ("\(id)@203.0.113.7", .missingPort),
            ("\(id)@203.0.113.7:", .badPort("")),
            ("\(id)@203.0.113.7:0", .badPort("0")),
            ("\(id)@203.0.113.7:65536", .badPort("65536")),
            ("\(id)@203.0.113.7:+80", .badPort("+80")),
            ("\(id)@2001:db8::1:51820", .unbracketedIPv6("2001:db8::1:51820")),
            ("\(id)@[2001:db8::1]51820", .missingPort),
            ("\(id)@[2001:db8::1", .badHost("[2001:db8::1")),
            ("\(id)@[203.0.113.7]:80", .badHost("203.0.113.7")),
            ("\(id)@:80", .badHost("")),
            ("\(id)@203.0.113.999:80", .badHost("203.0.113.999")),
            ("\(id)@-bad.example:80", .badHost("-bad.example")),
            ("\(id)@bad_name.example:80", .badHost("bad_name.example")),
            ("\(id)@a..b:80", .badHost("a..b")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text)") { try ProviderAddress(parsing: text) }
        }
    }
}
