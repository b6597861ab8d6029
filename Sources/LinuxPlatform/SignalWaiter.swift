import Glibc

/// Termination signals handled the blocking way: block them in every thread
/// (call `blockTerminationSignals` before starting any), then let one thread
/// sit in `wait`, so no signal handler ever runs in the middle of the data path.
public enum SignalWaiter {
    /// SIGINT, SIGTERM and SIGHUP.
    public static let terminationSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Blocks the termination signals in the calling thread; threads started
    /// afterwards inherit the mask.
    public static func blockTerminationSignals() {
        var set = terminationSet()
        // Cannot fail with a valid `how` and set.
        _ = pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits for one of the termination signals and returns its number.
    public static func wait() -> Int32 {
        var set = terminationSet()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {
            // sigwait only fails for an invalid set; retry rather than report a fake signal.
        }
        return received
    }

    private static func terminationSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in terminationSignals {
            sigaddset(&set, signal)
        }
        return set
    }
}
