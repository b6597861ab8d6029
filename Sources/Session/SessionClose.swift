import WireGuard

/// Type 7: the consumer ends a session, so the provider frees its addresses and settles now
/// instead of waiting for the idle timeout.
///
/// It travels in the clear, authenticated by the consumer's signature: there is nothing secret
/// in it, and the provider can check it without any session key. The consumer identity is
/// therefore visible on the path (the request hid it); the session id and timestamp are all
/// else it shows. A provider accepts a close only for a session of that consumer, and only if
/// its timestamp is not older than the session's request, so an old close cannot end a newer
/// session that happens to reuse the id.
public struct SessionClose: Hashable, Sendable {
    public let consumer: PublicIdentity
    public let sessionID: UInt32
    /// The TAI64N label as sent, and the Unix time it names.
    public let timestamp: [UInt8]
    public let wallNanoseconds: UInt64

    /// A signed close for `sessionID`, stamped with `now.wall`.
    public static func make(identity: NodeIdentity, sessionID: UInt32, now: Now) -> [UInt8] {
        var writer = WireWriter(capacity: SessionLayout.closeLength)
        writer.append(SessionMessageType.close.rawValue)
        writer.zeros(3)
        writer.append(identity.signingPublicKey)
        writer.append(bigEndian: sessionID)
        writer.append(TAI64N.timestamp(wallNanoseconds: now.wall))
        let signature = identity.sign(SessionLabel.closeSignature + writer.bytes)
        writer.append(signature)
        return writer.bytes
    }

    /// The session id a close names, before any check of who sent it: only for finding the
    /// session whose consumer `open(_:from:)` must then verify against.
    public static func unverifiedSessionID(_ bytes: UnsafeRawBufferPointer) throws(SessionError) -> UInt32 {
        try checkHeader(bytes, type: .close, length: SessionLayout.closeLength)
        var reader = WireReader(Array(bytes[36..<40]))
        return reader.unsigned(UInt32.self)
    }

    /// Checks type and exact length, that the close names `consumer`, and its signature.
    public static func open(_ bytes: UnsafeRawBufferPointer, from consumer: PublicIdentity) throws(SessionError) -> SessionClose {
        try checkHeader(bytes, type: .close, length: SessionLayout.closeLength)
        var reader = WireReader(Array(bytes))
        _ = reader.take(SessionLayout.headerLength)
        guard reader.take(SessionLayout.keyLength) == consumer.signingPublicKey else { throw .wrongIdentity }
        let sessionID = reader.unsigned(UInt32.self)
        let timestamp = reader.take(SessionLayout.timestampLength)
        let signature = reader.take(SessionLayout.signatureLength)
        let signed = SessionLabel.closeSignature + Array(bytes[0..<SessionLayout.closeSignedLength])
        guard NodeIdentity.verify(signature: signature, message: signed, publicKey: consumer.signingPublicKey) else {
            throw .badSignature
        }
        guard let wall = decodeTAI64N(timestamp) else { throw .invalidField("timestamp") }
        return SessionClose(consumer: consumer, sessionID: sessionID, timestamp: timestamp, wallNanoseconds: wall)
    }

    public static func open(_ bytes: [UInt8], from consumer: PublicIdentity) throws(SessionError) -> SessionClose {
        try bytes.withUnsafeBytes { raw in Result { () throws(SessionError) in try open(raw, from: consumer) } }.get()
    }

    public static func unverifiedSessionID(_ bytes: [UInt8]) throws(SessionError) -> UInt32 {
        try bytes.withUnsafeBytes { raw in Result { () throws(SessionError) in try unverifiedSessionID(raw) } }.get()
    }
}
