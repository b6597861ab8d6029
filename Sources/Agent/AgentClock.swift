import Glibc
import WireGuard

/// Where the agent reads the two clocks the protocol core is given: monotonic for timers,
/// wall for TAI64N and display. Injected as one value (a test gives a virtual one); the
/// static `AgentClock.now()` reads the system clocks directly for code not yet given a clock.
struct AgentClock: Sendable {
    private let read: @Sendable () -> Now

    init(reading read: @escaping @Sendable () -> Now) {
        self.read = read
    }

    func now() -> Now { read() }

    /// The system clocks.
    static let system = AgentClock(reading: { AgentClock.now() })

    static func now() -> Now {
        var mono = timespec(), wall = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &wall)
        return Now(monotonic: UInt64(mono.tv_sec) &* 1_000_000_000 &+ UInt64(mono.tv_nsec),
                   wall: UInt64(max(0, Int64(wall.tv_sec))) &* 1_000_000_000 &+ UInt64(wall.tv_nsec))
    }
}
