import Testing
import WarrenCrypto
@testable import Payment

/// Wallet keys, Ethereum addresses (EIP-55) and secp256k1 signatures.
@Suite struct WalletTests {
    @Test func eip55Vectors() throws {
        // From EIP-55 itself: all caps, all lower, and mixed.
        for text in ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                     "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
                     "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
                     "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26"] {
            let address = try EthereumAddress(parsing: text)
            #expect(address.description == text)
            #expect(try EthereumAddress(parsing: "0x" + Hex.encode(address.bytes)) == address)
        }
    }

    @Test func wrongChecksumAndMalformedAddressesAreRefused() {
        // One letter's case changed.
        #expect(throws: PaymentError.badChecksum) { try EthereumAddress(parsing: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD") }
        #expect(throws: PaymentError.badChecksum) { try EthereumAddress(parsing: "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") }
        for text in ["", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
                     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
                     "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"] {
            #expect(throws: PaymentError.self) { try EthereumAddress(parsing: text) }
        }
    }

    @Test func documentedKeyHasDocumentedAddress() throws {
        let key = try WalletKey(privateKey: PaymentFixture.bytes(hex: PaymentFixture.documentedKeyHex))
        #expect(key.address.description == PaymentFixture.documentedAddress)
        #expect(key.publicKey.count == 64)
        #expect(EthereumAddress(publicKey: key.publicKey) == key.address)
    }

    @Test func invalidPrivateKeysAreRefused() {
        #expect(throws: PaymentError.invalidPrivateKey) { try WalletKey(privateKey: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: PaymentError.invalidPrivateKey) { try WalletKey(privateKey: Secp256k1Order.n) }
        #expect(throws: PaymentError.invalidPrivateKey) { try WalletKey(privateKey: [UInt8](repeating: 0xFF, count: 32)) }
        #expect(throws: PaymentError.wrongLength(expected: 32, actual: 31)) { try WalletKey(privateKey: [UInt8](repeating: 1, count: 31)) }
        var belowOrder = Secp256k1Order.n
        belowOrder[31] -= 1
        #expect((try? WalletKey(privateKey: belowOrder)) != nil)
    }

    @Test func signatureMatchesEthAccount() throws {
        // eth-account 0.14 signed this voucher digest with the documented key (RFC 6979, so
        // libsecp256k1 must produce the very same bytes).
        let key = try WalletKey(privateKey: PaymentFixture.bytes(hex: PaymentFixture.documentedKeyHex))
        let digest = PaymentFixture.bytes(hex: "a83ee41095382309acdf2dc7d23ceef647a7800e0d00f65d13e5ae24390295cc")
        let signature = key.sign(digest: digest)
        #expect(PaymentFixture.hex(signature.bytes) == "3bef04caab6bcec93517c28db9fa629e4b015b15166fcbc5126783245b2835c47c4bce2d57a13b38dee74df2f666683c57909fe4d9f3baeb3bd1beaa99b816391c")
        #expect(signature.recover(digest: digest) == key.address)
    }

    @Test func signAndRecoverRoundTrip() throws {
        for seed in 0..<16 {
            let key = WalletKey.generate(entropy: SeededEntropy(seed: [UInt8(seed)]))
            let digest = Keccak256.hash([UInt8(seed), 1, 2, 3])
            let signature = key.sign(digest: digest)
            #expect(signature.v == 27 || signature.v == 28)
            #expect(!Secp256k1Order.isBelow(Secp256k1Order.halfN, signature.s))
            #expect(signature.recover(digest: digest) == key.address)
            #expect(signature.recover(digest: Keccak256.hash(digest)) != key.address)
            #expect(signature.recover(digest: [1, 2, 3]) == nil)
        }
    }

    @Test func highSAndBadVAreRefused() throws {
        let key = PaymentFixture.consumer
        let digest = Keccak256.hash(Array("malleable".utf8))
        let signature = key.sign(digest: digest)
        // The malleated twin: s' = n − s, with the recovery id flipped. Valid for ecrecover
        // without EIP-2, refused here.
        let highS = subtract(Secp256k1Order.n, signature.s)
        let twin = signature.r + highS + [signature.v == 27 ? 28 : 27]
        #expect(throws: PaymentError.highS) { try Signature(bytes: twin) }
        for v: UInt8 in [0, 1, 26, 29, 35, 255] {
            #expect(throws: PaymentError.malformedSignature) { try Signature(bytes: signature.r + signature.s + [v]) }
        }
        let zero = [UInt8](repeating: 0, count: 32)
        #expect(throws: PaymentError.malformedSignature) { try Signature(bytes: zero + signature.s + [27]) }
        #expect(throws: PaymentError.malformedSignature) { try Signature(bytes: signature.r + zero + [27]) }
        #expect(throws: PaymentError.malformedSignature) { try Signature(bytes: Secp256k1Order.n + signature.s + [27]) }
        #expect(throws: PaymentError.wrongLength(expected: 65, actual: 64)) { try Signature(bytes: signature.r + signature.s) }
        // s = n/2 exactly is still low.
        #expect((try? Signature(bytes: signature.r + Secp256k1Order.halfN + [27])) != nil)
    }

    @Test func keyFileRoundTripsAndDetectsDamage() throws {
        let key = PaymentFixture.consumer
        let file = key.serialized()
        #expect(file.count == WalletKey.serializedLength)
        #expect(Array(file[0..<6]) == Array("WRNWK1".utf8))
        #expect(WalletKey(serialized: file)?.address == key.address)
        for index in file.indices {
            var damaged = file
            damaged[index] ^= 0x01
            #expect(WalletKey(serialized: damaged) == nil, "flip at \(index)")
        }
        #expect(WalletKey(serialized: Array(file.dropLast())) == nil)
        #expect(WalletKey(serialized: file + [0]) == nil)
        #expect(WalletKey(serialized: []) == nil)
    }

    @Test func descriptionShowsOnlyTheAddress() {
        let key = PaymentFixture.consumer
        let text = "\(key) \(String(reflecting: key))"
        #expect(text.contains(key.address.description))
        #expect(!text.lowercased().contains(Hex.encode(key.privateKey)))
    }

    @Test func generationIsDeterministicForASeed() {
        let a = WalletKey.generate(entropy: SeededEntropy(seed: [9]))
        let b = WalletKey.generate(entropy: SeededEntropy(seed: [9]))
        #expect(a.address == b.address)
        #expect(a.address != PaymentFixture.consumer.address)
    }

    /// a − b for 32-byte big-endian numbers with a ≥ b.
    func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in (0..<32).reversed() {
            var digit = Int(a[i]) - Int(b[i]) - borrow
            borrow = digit < 0 ? 1 : 0
            if digit < 0 { digit += 256 }
            out[i] = UInt8(digit)
        }
        return out
    }
}
