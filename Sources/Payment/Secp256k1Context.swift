import CSecp256k1
import WarrenCrypto

/// The process's one libsecp256k1 context, randomized once when first used.
///
/// Randomization blinds the signing computation against side channels and is the only call
/// that changes a context; signing, recovery and key checks take it as `const`, which
/// libsecp256k1 documents as safe from several threads at once. So one context is created,
/// randomized before anyone can see it, and then only read: hence `@unchecked Sendable`.
final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()

    let pointer: OpaquePointer

    private init() {
        guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            // Creation only fails on allocation failure or a broken build of the library.
            fatalError("libsecp256k1: cannot create a context")
        }
        var seed = Sodium.randomBytes(32)
        // With a valid 32-byte seed this cannot fail on a context made by context_create.
        let randomized = secp256k1_context_randomize(context, seed)
        Sodium.wipe(&seed)
        precondition(randomized == 1, "libsecp256k1: context randomization failed")
        pointer = context
    }
}

/// The curve order n and n/2, big-endian: the bounds for r, s and private keys.
enum Secp256k1Order {
    static let n: [UInt8] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    ]
    /// floor(n / 2): the largest s Ethereum accepts since Homestead (EIP-2).
    static let halfN: [UInt8] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
    ]

    /// Whether the 32-byte big-endian `a` is strictly below `b`.
    static func isBelow(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }
}
