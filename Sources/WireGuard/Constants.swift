/// The constants of the WireGuard protocol, kept apart from our own tuning.
public enum Protocol {
    // Specification constants (WireGuard paper, section 6.1).
    public static let rekeyAfterMessages: UInt64 = 1 << 60
    public static let rejectAfterMessages: UInt64 = UInt64.max - (1 << 13)
    public static let rekeyAfterTime: UInt64 = 120 * second
    public static let rejectAfterTime: UInt64 = 180 * second
    public static let rekeyAttemptTime: UInt64 = 90 * second
    public static let rekeyTimeout: UInt64 = 5 * second
    public static let keepaliveTimeout: UInt64 = 10 * second
    public static let cookieRefreshTime: UInt64 = 120 * second

    /// Handshake attempts before a retry cycle gives up: RekeyAttemptTime / RekeyTimeout.
    public static let maxHandshakeAttempts = Int(rekeyAttemptTime / rekeyTimeout)
    /// Minimum spacing between initiations accepted from one peer (flood protection).
    public static let initiationMinimumInterval: UInt64 = second / 50
    /// Random extra delay added to each handshake retransmission.
    public static let rekeyTimeoutJitterMax: UInt64 = 334 * millisecond

    public static let construction = Array("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s".utf8)
    public static let identifier = Array("WireGuard v1 zx2c4 Jason@zx2c4.com".utf8)
    public static let labelMAC1 = Array("mac1----".utf8)
    public static let labelCookie = Array("cookie--".utf8)

    public static let second: UInt64 = 1_000_000_000
    public static let millisecond: UInt64 = 1_000_000
}

/// Tuning of this implementation (not part of the protocol).
public enum Tuning {
    /// Packets kept per peer while a handshake is in flight; the oldest is dropped beyond.
    public static let stagedPacketLimit = 128
    /// Bytes reserved in front of each packet buffer for the transport header, so sealing is in place.
    public static let transportHeaderLength = 16
}
