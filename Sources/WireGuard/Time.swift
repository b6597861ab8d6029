/// The current time as the caller sees it: the core never reads a clock.
///
/// `monotonic` drives every timer; `wall` only feeds TAI64N timestamps and the
/// "latest handshake" a user reads.
public struct Now: Sendable, Equatable {
    public var monotonic: UInt64   // nanoseconds from an arbitrary origin
    public var wall: UInt64        // nanoseconds since the Unix epoch

    public init(monotonic: UInt64, wall: UInt64) {
        self.monotonic = monotonic
        self.wall = wall
    }

    public func advanced(by nanoseconds: UInt64) -> Now {
        Now(monotonic: monotonic &+ nanoseconds, wall: wall &+ nanoseconds)
    }
}

/// TAI64N label: 8-byte big-endian TAI seconds, 4-byte big-endian nanoseconds.
public enum TAI64N {
    /// 2^62 + 10: the TAI64 epoch label plus the TAI-UTC offset at 1970, as wireguard-go and the kernel use.
    static let base: UInt64 = 0x4000_0000_0000_000A
    /// Nanoseconds are rounded down to about 16 ms so a timestamp does not leak a precise clock.
    static let whitenerMask: UInt32 = 0x0100_0000 - 1

    public static func timestamp(wallNanoseconds: UInt64) -> [UInt8] {
        let seconds = base &+ wallNanoseconds / Protocol.second
        let nanos = UInt32(wallNanoseconds % Protocol.second) & ~whitenerMask
        var out = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: seconds >> (56 - 8 * UInt64(i))) }
        for i in 0..<4 { out[8 + i] = UInt8(truncatingIfNeeded: nanos >> (24 - 8 * UInt32(i))) }
        return out
    }

    /// Whether `a` is strictly later than `b` (both 12 bytes, big-endian, so bytewise order is time order).
    public static func isAfter(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        for i in 0..<12 where a[i] != b[i] { return a[i] > b[i] }
        return false
    }
}
