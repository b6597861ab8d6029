import Testing
@testable import Payment

/// Keccak-256, the Ethereum variant (pad 0x01), pinned against published vectors and values
/// from pycryptodome's `Crypto.Hash.keccak` (an implementation nobody here wrote).
@Suite struct KeccakTests {
    @Test func publishedVectors() {
        #expect(PaymentFixture.hex(Keccak256.hash([])) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(PaymentFixture.hex(Keccak256.hash(Array("abc".utf8))) == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    }

    @Test func blockBoundaries() {
        // pycryptodome: keccak.new(digest_bits=256) over b"a" * n.
        let a = UInt8(ascii: "a")
        #expect(PaymentFixture.hex(Keccak256.hash([UInt8](repeating: a, count: 135))) == "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446")
        #expect(PaymentFixture.hex(Keccak256.hash([UInt8](repeating: a, count: 136))) == "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e")
        #expect(PaymentFixture.hex(Keccak256.hash([UInt8](repeating: a, count: 137))) == "d869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39")
    }

    @Test func multiBlockInput() {
        // 300 bytes: 0, 1, …, 199, then 7i mod 256 for i in 0..<100 (pycryptodome).
        let message = (0..<200).map { UInt8($0) } + (0..<100).map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(PaymentFixture.hex(Keccak256.hash(message)) == "f352b324f515160cb16d36adec0eebcc1952dbd23cdb62017bfc798c90da56c1")
    }

    @Test func streamingEqualsOneShotAtEverySplit() {
        let message = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = Keccak256.hash(message)
        for split in [0, 1, 67, 135, 136, 137, 271, 272, 299, 300] {
            var hasher = Keccak256()
            hasher.update(Array(message[..<split]))
            hasher.update(Array(message[split...]))
            #expect(hasher.finalize() == whole, "split at \(split)")
        }
        #expect(Keccak256.hash(Array(message[..<100]), Array(message[100...])) == whole)
    }

    @Test func notSHA3() {
        // SHA3-256("") differs: the padding byte is the whole difference.
        #expect(PaymentFixture.hex(Keccak256.hash([])) != "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
    }
}
