import CSodium

/// Drives libsodium with an arbitrary 12-byte nonce so the RFC 8439 vector can be checked
/// against the same primitive our WireGuard nonce layout feeds.
enum ChaChaPolyVector {
    static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], aad: [UInt8]) -> [UInt8] {
        _ = sodium_init()
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: UInt64 = 0
        _ = crypto_aead_chacha20poly1305_ietf_encrypt(&out, &length, plaintext, UInt64(plaintext.count), aad, UInt64(aad.count), nil, nonce, key)
        return out
    }
}
