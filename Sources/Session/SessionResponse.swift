import WarrenCrypto
import WireGuard

// Type 6: the provider's answer, sealed so that only the request's sender can read it.
//
//   provider                                                      consumer
//   d = BLAKE2s-128(request), r = 16 fresh bytes
//   k = KDF1(HASH(label), DH(S, e.pub) ‖ d ‖ r)
//   06 000000 ‖ d ‖ r ‖ AEAD(k, 0, answer, ad: first 36 bytes)  ──▶  secret gives DH(e, S.pub), so k
//
// The key needs DH(e, S), which only the consumer (holder of e) and the provider (holder of
// S) can compute, so nobody else can read or forge an answer. The fresh `r` gives every answer
// its own key: if a provider ever answers the same request twice (a retransmission, a restart
// that forgot the replay guard), two plaintexts are never sealed under one key and nonce.

/// Builds and opens type 6 messages.
public enum SessionResponse {
    /// Seals `answer` to the consumer that sent `request`; `entropy` gives the response nonce.
    public static func seal(_ answer: SessionAnswer, to request: OpenedSessionRequest, entropy: EntropySource) -> [UInt8] {
        var clear = WireWriter(capacity: SessionLayout.responseClearLength)
        clear.append(SessionMessageType.response.rawValue)
        clear.zeros(3)
        clear.append(request.requestDigest)
        let responseNonce = entropy.bytes(SessionLayout.nonceLength)
        clear.append(responseNonce)
        var key = responseKey(shared: request.sharedSecret, digest: request.requestDigest, responseNonce: responseNonce)
        defer { Sodium.wipe(&key) }
        return clear.bytes + ChaChaPoly.seal(key: key, counter: 0, plaintext: encode(answer), additionalData: clear.bytes)
    }

    /// The request digest a response names, after type and length checks: lets a consumer with
    /// several requests in flight pick the secret to open it with.
    public static func requestDigest(_ bytes: UnsafeRawBufferPointer) throws(SessionError) -> [UInt8] {
        try checkHeader(bytes, type: .response, length: SessionLayout.responseLength)
        return Array(bytes[SessionLayout.headerLength..<(SessionLayout.headerLength + SessionLayout.digestLength)])
    }

    public static func requestDigest(_ bytes: [UInt8]) throws(SessionError) -> [UInt8] {
        try bytes.withUnsafeBytes { raw in Result { () throws(SessionError) in try requestDigest(raw) } }.get()
    }

    /// Opens a response with the secret of the request it answers.
    public static func open(_ bytes: UnsafeRawBufferPointer, secret: SessionRequestSecret) throws(SessionError) -> SessionAnswer {
        let digest = try requestDigest(bytes)
        guard digest == secret.requestDigest else { throw .requestMismatch }
        let clear = Array(bytes[0..<SessionLayout.responseClearLength])
        let responseNonce = Array(clear[(SessionLayout.headerLength + SessionLayout.digestLength)...])
        var key = responseKey(shared: secret.sharedSecret, digest: digest, responseNonce: responseNonce)
        defer { Sodium.wipe(&key) }
        guard let plaintext = ChaChaPoly.open(key: key, counter: 0, ciphertext: Array(bytes[SessionLayout.responseClearLength...]),
                                              additionalData: clear) else { throw .authenticationFailed }
        return try decode(plaintext)
    }

    public static func open(_ bytes: [UInt8], secret: SessionRequestSecret) throws(SessionError) -> SessionAnswer {
        try bytes.withUnsafeBytes { raw in Result { () throws(SessionError) in try open(raw, secret: secret) } }.get()
    }

    /// k = KDF1(HASH("warren session v1 response"), DH ‖ request digest ‖ response nonce).
    static func responseKey(shared: [UInt8], digest: [UInt8], responseNonce: [UInt8]) -> [UInt8] {
        NoiseKDF.derive(1, key: SessionLabel.responseChainKey, input: shared + digest + responseNonce)[0]
    }

    // MARK: The 188-byte answer

    static func encode(_ answer: SessionAnswer) -> [UInt8] {
        var writer = WireWriter(capacity: SessionLayout.responsePlaintextLength)
        switch answer {
        case .accepted(let grant):
            writer.append(UInt8(0))
            writer.zeros(3)
            writer.append(bigEndian: grant.sessionID)
            writePrefix(grant.consumerIPv4, width: 4, to: &writer)
            writePrefix(grant.consumerIPv6, width: 16, to: &writer)
            writer.append(bigEndian: grant.mtu)
            writeAddress(grant.dnsIPv4, width: 4, to: &writer)
            writeAddress(grant.dnsIPv6, width: 16, to: &writer)
            writeAddress(grant.providerTunnelIPv4, width: 4, to: &writer)
            writeAddress(grant.providerTunnelIPv6, width: 16, to: &writer)
            writer.append(bigEndian: grant.prices.perGiB)
            writer.append(bigEndian: grant.prices.perMinute)
            writer.append(bigEndian: grant.creditWindowBytes)
            writer.append(bigEndian: grant.voucherIntervalBytes)
            writer.append(bigEndian: grant.idleTimeoutSeconds)
            if let wallet = grant.providerWallet { writer.append(wallet) } else { writer.zeros(SessionGrant.walletLength) }
            writer.zeros(SessionLayout.reasonLength - SessionGrant.walletLength)
        case .refused(let refusal):
            writer.append(refusal.reason.rawValue)
            writer.zeros(3)
            writer.zeros(assignmentLength)
            writer.append(bigEndian: refusal.prices.perGiB)
            writer.append(bigEndian: refusal.prices.perMinute)
            writer.zeros(termsLength)
            let text = Array(refusal.text.utf8)
            writer.append(text)
            writer.zeros(SessionLayout.reasonLength - text.count)
        }
        return writer.bytes
    }

    /// Session id through provider tunnel IPv6 (plaintext bytes 4..<72): zero in a refusal.
    static let assignmentLength = 68
    /// Credit window, voucher interval, idle timeout (plaintext bytes 104..<124): zero in a refusal.
    static let termsLength = 20

    /// Parses the answer strictly: every field must be one `encode` could have written, so a
    /// provider cannot smuggle meaning into bytes a consumer would ignore.
    static func decode(_ plaintext: [UInt8]) throws(SessionError) -> SessionAnswer {
        var reader = WireReader(plaintext)
        let status = reader.uint8()
        guard reader.take(3) == [0, 0, 0] else { throw .nonZeroReserved }
        if status == 0 {
            let sessionID = reader.unsigned(UInt32.self)
            let consumerIPv4 = try readPrefix(width: 4, from: &reader, field: "consumer IPv4")
            let consumerIPv6 = try readPrefix(width: 16, from: &reader, field: "consumer IPv6")
            let mtu = reader.unsigned(UInt16.self)
            let dnsIPv4 = readAddress(width: 4, from: &reader)
            let dnsIPv6 = readAddress(width: 16, from: &reader)
            let tunnelIPv4 = readAddress(width: 4, from: &reader)
            let tunnelIPv6 = readAddress(width: 16, from: &reader)
            let prices = Tariff(perGiB: reader.unsigned(UInt128.self), perMinute: reader.unsigned(UInt128.self))
            let creditWindow = reader.unsigned(UInt64.self)
            let voucherInterval = reader.unsigned(UInt64.self)
            let idleTimeout = reader.unsigned(UInt32.self)
            let wallet = reader.take(SessionGrant.walletLength)
            guard reader.take(SessionLayout.reasonLength - SessionGrant.walletLength).allSatisfy({ $0 == 0 }) else { throw .invalidField("reason") }
            return .accepted(try SessionGrant(
                sessionID: sessionID, consumerIPv4: consumerIPv4, consumerIPv6: consumerIPv6, mtu: mtu,
                dnsIPv4: dnsIPv4, dnsIPv6: dnsIPv6, providerTunnelIPv4: tunnelIPv4, providerTunnelIPv6: tunnelIPv6,
                prices: prices, creditWindowBytes: creditWindow, voucherIntervalBytes: voucherInterval,
                idleTimeoutSeconds: idleTimeout, providerWallet: wallet.allSatisfy { $0 == 0 } ? nil : wallet))
        }
        guard let reason = SessionRefusalReason(rawValue: status) else { throw .invalidField("status") }
        guard reader.take(assignmentLength).allSatisfy({ $0 == 0 }) else { throw .invalidField("refusal assignment") }
        let prices = Tariff(perGiB: reader.unsigned(UInt128.self), perMinute: reader.unsigned(UInt128.self))
        guard reader.take(termsLength).allSatisfy({ $0 == 0 }) else { throw .invalidField("refusal terms") }
        let text = try readReason(reader.take(SessionLayout.reasonLength))
        return .refused(SessionRefusal(reason: reason, prices: prices, text: text))
    }

    private static func writePrefix(_ prefix: IPPrefix?, width: Int, to writer: inout WireWriter) {
        if let prefix {
            writer.append(prefix.address.bytes)
            writer.append(UInt8(prefix.length))
        } else {
            writer.zeros(width + 1)
        }
    }

    private static func writeAddress(_ address: IPAddress?, width: Int, to writer: inout WireWriter) {
        if let address { writer.append(address.bytes) } else { writer.zeros(width) }
    }

    /// Address then length; length 0 means "none" and then the address must be zero too.
    private static func readPrefix(width: Int, from reader: inout WireReader, field: String) throws(SessionError) -> IPPrefix? {
        let bytes = reader.take(width)
        let length = reader.uint8()
        if length == 0 {
            guard bytes.allSatisfy({ $0 == 0 }) else { throw .invalidField(field) }
            return nil
        }
        guard let address = IPAddress(bytes: bytes), let prefix = IPPrefix(address: address, length: Int(length)) else {
            throw .invalidField(field)
        }
        return prefix
    }

    /// All zeros means "none"; the grant's initialiser checks the rest.
    private static func readAddress(width: Int, from reader: inout WireReader) -> IPAddress? {
        let bytes = reader.take(width)
        return bytes.allSatisfy({ $0 == 0 }) ? nil : IPAddress(bytes: bytes)
    }

    /// UTF-8 up to the first zero, zeros after it, and nothing `SessionRefusal` would have removed.
    private static func readReason(_ field: [UInt8]) throws(SessionError) -> String {
        let end = field.firstIndex(of: 0) ?? field.count
        guard field[end...].allSatisfy({ $0 == 0 }),
              let text = String(validating: field[..<end], as: UTF8.self),
              SessionRefusal.sanitized(text) == text else { throw .invalidField("reason") }
        return text
    }
}
