import CSodium

/// Thin typed wrappers over the libsodium primitives WireGuard needs:
/// X25519, ChaCha20-Poly1305 (IETF), XChaCha20-Poly1305 and the system CSPRNG.
public enum Sodium {
    /// libsodium must be initialised once before use; every entry point here checks it.
    static let ready: Bool = sodium_init() >= 0

    @inline(__always)
    static func ensureReady() {
        // sodium_init only fails when the CSPRNG cannot be opened: nothing is safe after that.
        precondition(ready, "libsodium failed to initialise (no entropy source)")
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureReady()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
        return out
    }

    public static func randomUInt32() -> UInt32 {
        ensureReady()
        return randombytes_random()
    }

    /// Constant-time comparison of equal-length byte strings.
    public static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        if a.count == 0 { return true }
        return sodium_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
    }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in constantTimeEqual(pa, pb) } }
    }

    public static func wipe(_ bytes: inout [UInt8]) {
        if !bytes.isEmpty { bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) } }
    }
}

/// X25519 keys as WireGuard uses them (the same clamping as `wg genkey`).
public enum Curve25519 {
    public static let keyLength = 32

    public static func generatePrivateKey() -> [UInt8] {
        var key = Sodium.randomBytes(keyLength)
        clamp(&key)
        return key
    }

    /// Clamps a scalar exactly as `wg genkey` does, so our output matches its format.
    public static func clamp(_ key: inout [UInt8]) {
        key[0] &= 248
        key[31] = (key[31] & 127) | 64
    }

    public static func publicKey(privateKey: [UInt8]) -> [UInt8] {
        Sodium.ensureReady()
        precondition(privateKey.count == keyLength)
        var out = [UInt8](repeating: 0, count: keyLength)
        _ = out.withUnsafeMutableBufferPointer { o in
            privateKey.withUnsafeBufferPointer { crypto_scalarmult_curve25519_base(o.baseAddress!, $0.baseAddress!) }
        }
        return out
    }

    /// The X25519 shared secret, or nil when the peer's point gives the all-zero
    /// output (a low-order point), which Noise must reject.
    public static func sharedSecret(privateKey: [UInt8], publicKey: [UInt8]) -> [UInt8]? {
        Sodium.ensureReady()
        guard privateKey.count == keyLength, publicKey.count == keyLength else { return nil }
        var out = [UInt8](repeating: 0, count: keyLength)
        let rc = out.withUnsafeMutableBufferPointer { o in
            privateKey.withUnsafeBufferPointer { s in
                publicKey.withUnsafeBufferPointer { p in
                    crypto_scalarmult_curve25519(o.baseAddress!, s.baseAddress!, p.baseAddress!)
                }
            }
        }
        return rc == 0 ? out : nil
    }
}

/// ChaCha20-Poly1305 (IETF, 96-bit nonce) over caller-owned memory, in place.
///
/// WireGuard's nonce is 32 zero bits followed by the 64-bit little-endian counter.
public enum ChaChaPoly {
    public static let tagLength = 16
    public static let keyLength = 32

    @inline(__always)
    static func nonce(_ counter: UInt64) -> (UInt32, UInt32, UInt32) {
        // 12 bytes, no padding: 4 zero bytes, then the counter little-endian.
        (0, UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
    }

    /// Encrypts `length` bytes at `text` in place and writes the 16-byte tag right after them.
    @inline(__always)
    public static func seal(key: UnsafeRawPointer, counter: UInt64, text: UnsafeMutableRawPointer, length: Int,
                            additionalData: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        var n = nonce(counter)
        withUnsafeBytes(of: &n) { np in
            _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                text.assumingMemoryBound(to: UInt8.self), (text + length).assumingMemoryBound(to: UInt8.self), nil,
                text.assumingMemoryBound(to: UInt8.self), UInt64(length),
                additionalData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additionalData.count),
                nil, np.baseAddress!.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Decrypts `length` bytes (ciphertext followed by the tag) in place; returns false if the tag is wrong.
    @inline(__always)
    public static func open(key: UnsafeRawPointer, counter: UInt64, text: UnsafeMutableRawPointer, length: Int,
                            additionalData: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) -> Bool {
        guard length >= tagLength else { return false }
        var n = nonce(counter)
        return withUnsafeBytes(of: &n) { np in
            crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                text.assumingMemoryBound(to: UInt8.self), nil,
                text.assumingMemoryBound(to: UInt8.self), UInt64(length - tagLength),
                (text + length - tagLength).assumingMemoryBound(to: UInt8.self),
                additionalData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(additionalData.count),
                np.baseAddress!.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }

    /// Convenience for handshake fields: returns ciphertext || tag.
    public static func seal(key: [UInt8], counter: UInt64, plaintext: [UInt8], additionalData: [UInt8]) -> [UInt8] {
        Sodium.ensureReady()
        var buffer = plaintext + [UInt8](repeating: 0, count: tagLength)
        buffer.withUnsafeMutableBytes { b in
            key.withUnsafeBytes { k in
                additionalData.withUnsafeBytes { ad in
                    seal(key: k.baseAddress!, counter: counter, text: b.baseAddress!, length: plaintext.count, additionalData: ad)
                }
            }
        }
        return buffer
    }

    /// Convenience for handshake fields: returns the plaintext or nil.
    public static func open(key: [UInt8], counter: UInt64, ciphertext: [UInt8], additionalData: [UInt8]) -> [UInt8]? {
        Sodium.ensureReady()
        guard ciphertext.count >= tagLength, key.count == keyLength else { return nil }
        var buffer = ciphertext
        let ok = buffer.withUnsafeMutableBytes { b in
            key.withUnsafeBytes { k in
                additionalData.withUnsafeBytes { ad in
                    open(key: k.baseAddress!, counter: counter, text: b.baseAddress!, length: ciphertext.count, additionalData: ad)
                }
            }
        }
        return ok ? Array(buffer.prefix(ciphertext.count - tagLength)) : nil
    }
}

/// XChaCha20-Poly1305 (192-bit random nonce), used only for WireGuard cookie replies.
public enum XChaChaPoly {
    public static let nonceLength = 24

    public static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], additionalData: [UInt8]) -> [UInt8] {
        Sodium.ensureReady()
        precondition(key.count == 32 && nonce.count == nonceLength)
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var outLength: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            &out, &outLength, plaintext, UInt64(plaintext.count), additionalData, UInt64(additionalData.count), nil, nonce, key)
        return out
    }

    public static func open(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], additionalData: [UInt8]) -> [UInt8]? {
        Sodium.ensureReady()
        guard key.count == 32, nonce.count == nonceLength, ciphertext.count >= 16 else { return nil }
        var out = [UInt8](repeating: 0, count: ciphertext.count - 16)
        var outLength: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
            &out, &outLength, nil, ciphertext, UInt64(ciphertext.count), additionalData, UInt64(additionalData.count), nonce, key)
        return rc == 0 ? out : nil
    }
}
