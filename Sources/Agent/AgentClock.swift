import Glibc
import WireGuard

/// Reads the two clocks the protocol core is given: monotonic for timers, wall for TAI64N and display.
enum AgentClock {
    static func now() -> Now {
        var mono = timespec(), wall = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &wall)
        return Now(monotonic: UInt64(mono.tv_sec) &* 1_000_000_000 &+ UInt64(mono.tv_nsec),
                   wall: UInt64(max(0, Int64(wall.tv_sec))) &* 1_000_000_000 &+ UInt64(wall.tv_nsec))
    }
}
