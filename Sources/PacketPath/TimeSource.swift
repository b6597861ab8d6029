import Glibc
import WireGuard

/// Where the agent reads the two clocks the protocol core is given: monotonic for timers,
/// wall for TAI64N, expiries and display. Injected as one value (a test gives a virtual one),
/// as the core is given `EntropySource`.
public struct TimeSource: Sendable {
    private let read: @Sendable () -> Now

    public init(reading read: @escaping @Sendable () -> Now) {
        self.read = read
    }

    public func now() -> Now { read() }

    /// The system clocks: CLOCK_MONOTONIC and CLOCK_REALTIME.
    public static let system = TimeSource(reading: { TimeSource.systemNow() })

    private static func systemNow() -> Now {
        var mono = timespec(), wall = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &wall)
        return Now(monotonic: UInt64(mono.tv_sec) &* 1_000_000_000 &+ UInt64(mono.tv_nsec),
                   wall: UInt64(max(0, Int64(wall.tv_sec))) &* 1_000_000_000 &+ UInt64(wall.tv_nsec))
    }
}
