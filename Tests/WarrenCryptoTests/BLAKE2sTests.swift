import Testing
@testable import WarrenCrypto

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format2($0)) }.joined() }
private func format2(_ b: UInt8) -> String { let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }
func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16) ?? 0) }
    return out
}

@Suite struct BLAKE2sTests {
    // RFC 7693 Appendix B.
    @Test func rfc7693Abc() {
        #expect(hex(BLAKE2s.hash(Array("abc".utf8))) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
    }

    // The reference implementation's keyed known-answer tests (blake2s-kat.txt): key 00..1f.
    @Test func keyedKnownAnswers() {
        let key = Array(UInt8(0)...UInt8(31))
        #expect(hex(BLAKE2s.hash([], key: key)) == "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49")
        #expect(hex(BLAKE2s.hash(Array(UInt8(0)..<UInt8(255)), key: key))
                == "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd")
    }

    // Cross-checked with CPython's hashlib.blake2s: a 16-byte output on exactly one
    // block, and a keyed 16-byte MAC over one block plus a byte (WireGuard's MAC shape).
    @Test func shortOutputsAtBlockEdges() {
        #expect(hex(BLAKE2s.hash(Array(UInt8(0)..<UInt8(64)), outputLength: 16)) == "dc66ca8f03865801b0ffe06ed8a1a90e")
        #expect(hex(BLAKE2s.hash(Array(UInt8(0)..<UInt8(65)), outputLength: 16, key: Array(repeating: UInt8(ascii: "k"), count: 16)))
                == "ae1868f5760ac147e45514777b8a459c")
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for split in [0, 1, 63, 64, 65, 128, 999] {
            var h = BLAKE2s()
            h.update(Array(data[..<split]))
            h.update(Array(data[split...]))
            #expect(h.finalize() == BLAKE2s.hash(data), "split at \(split)")
        }
    }

    // The constants every WireGuard implementation starts its handshake from.
    @Test func noiseConstructionHashes() {
        let chainingKey = BLAKE2s.hash(Array("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s".utf8))
        #expect(hex(chainingKey) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36")
        #expect(hex(BLAKE2s.hash(chainingKey, Array("WireGuard v1 zx2c4 Jason@zx2c4.com".utf8)))
                == "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3")
    }
}

@Suite struct NoiseKDFTests {
    // Cross-checked with CPython: hmac.new(key, msg, hashlib.blake2s).
    @Test func hmacBLAKE2s() {
        #expect(hex(NoiseKDF.hmac(key: Array("key".utf8), Array("The quick brown fox".utf8)))
                == "8717096fc5e7ac53d11d990acd4380c9ddd7bd8da5d8b5bc29855e6c98a866a4")
        // A key longer than the block is hashed first.
        #expect(hex(NoiseKDF.hmac(key: Array(repeating: UInt8(ascii: "K"), count: 100), []))
                == "6b8944216686ac14322365072d8fb6907577925662870cfd610cff57346cf23c")
    }

    @Test func deriveChainsAsHKDF() {
        let key = Array(repeating: UInt8(1), count: 32), input = Array(repeating: UInt8(2), count: 32)
        let out = NoiseKDF.derive(3, key: key, input: input)
        let prk = NoiseKDF.hmac(key: key, input)
        let t1 = NoiseKDF.hmac(key: prk, [1])
        let t2 = NoiseKDF.hmac(key: prk, t1 + [2])
        let t3 = NoiseKDF.hmac(key: prk, t2 + [3])
        #expect(out == [t1, t2, t3])
        #expect(NoiseKDF.derive(1, key: key, input: input) == [t1])
    }
}

@Suite struct SodiumTests {
    // RFC 7748 section 6.1 Diffie-Hellman vector.
    @Test func x25519RFC7748() {
        let alice = bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let bob = bytes("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        #expect(hex(Curve25519.publicKey(privateKey: alice)) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        let shared = Curve25519.sharedSecret(privateKey: alice, publicKey: Curve25519.publicKey(privateKey: bob))
        #expect(shared.map(hex) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    }

    @Test func lowOrderPointIsRejected() {
        #expect(Curve25519.sharedSecret(privateKey: Curve25519.generatePrivateKey(), publicKey: [UInt8](repeating: 0, count: 32)) == nil)
    }

    @Test func generatedKeysAreClamped() {
        let key = Curve25519.generatePrivateKey()
        #expect(key[0] & 7 == 0 && key[31] & 0x80 == 0 && key[31] & 0x40 != 0)
    }

    // RFC 8439 section 2.8.2 AEAD vector.
    @Test func chachaPolyRFC8439() {
        let key = bytes("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let aad = bytes("50515253c0c1c2c3c4c5c6c7")
        let nonce = bytes("070000004041424344454647")
        let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        // This vector's nonce does not start with 4 zero bytes, so it goes through libsodium with the
        // raw 12-byte nonce; TransportNonceTests checks our counter layout against the same call.
        let sealed = ChaChaPolyVector.seal(key: key, nonce: nonce, plaintext: plaintext, aad: aad)
        #expect(hex(Array(sealed.suffix(16))) == "1ae10b594f09e26a7e902ecbd0600691")
        #expect(hex(Array(sealed.prefix(16))) == "d31a8d34648e60db7b86afbc53ef7ec2")
    }

    @Test func chachaPolyRoundTripAndTamper() {
        let key = Sodium.randomBytes(32)
        let sealed = ChaChaPoly.seal(key: key, counter: 7, plaintext: Array("hello".utf8), additionalData: [1, 2])
        #expect(ChaChaPoly.open(key: key, counter: 7, ciphertext: sealed, additionalData: [1, 2]) == Array("hello".utf8))
        #expect(ChaChaPoly.open(key: key, counter: 8, ciphertext: sealed, additionalData: [1, 2]) == nil)
        var tampered = sealed
        tampered[0] ^= 1
        #expect(ChaChaPoly.open(key: key, counter: 7, ciphertext: tampered, additionalData: [1, 2]) == nil)
    }

    @Test func xchachaRoundTrip() {
        let key = Sodium.randomBytes(32), nonce = Sodium.randomBytes(24)
        let sealed = XChaChaPoly.seal(key: key, nonce: nonce, plaintext: Array(repeating: 9, count: 16), additionalData: [3])
        #expect(sealed.count == 32)
        #expect(XChaChaPoly.open(key: key, nonce: nonce, ciphertext: sealed, additionalData: [3]) == Array(repeating: 9, count: 16))
        #expect(XChaChaPoly.open(key: key, nonce: nonce, ciphertext: sealed, additionalData: [4]) == nil)
    }
}

@Suite struct TransportNonceTests {
    /// WireGuard's nonce is 4 zero bytes then the 64-bit counter little-endian; check our
    /// counter path against libsodium given those 12 bytes explicitly.
    @Test func counterNonceLayout() {
        let key = Array(UInt8(1)...UInt8(32))
        let plaintext = Array("transport".utf8)
        for counter: UInt64 in [0, 1, 0x0102_0304_0506_0708, UInt64.max - 8192] {
            let nonce: [UInt8] = [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: counter >> (8 * UInt64($0))) }
            let expected = ChaChaPolyVector.seal(key: key, nonce: nonce, plaintext: plaintext, aad: [])
            #expect(ChaChaPoly.seal(key: key, counter: counter, plaintext: plaintext, additionalData: []) == expected, "counter \(counter)")
        }
    }
}
