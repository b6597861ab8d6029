import Glibc
import LinuxPlatform
import Synchronization

/// Why the agent stops, and what that means for the exit code and the kill switch.
enum StopReason: Sendable, Equatable, CustomStringConvertible {
    /// SIGTERM, SIGINT or SIGHUP: a plain stop (an armed kill switch stays).
    case signal(Int32)
    /// `warren down` on the control socket: everything goes, the kill switch too.
    case down
    /// This consumer ended the session itself (over-invoiced, its spending cap reached).
    case consumerEnded(String)
    /// The provider refused or stopped answering a session renewal.
    case sessionLost(String)

    /// 3 and 4 tell a supervisor not to restart into the same refusal (warren@.service's
    /// RestartPreventExitStatus lists 3); 0 is an ordinary stop.
    var exitCode: Int32 {
        switch self {
        case .signal, .down: return 0
        case .consumerEnded: return 3
        case .sessionLost: return 4
        }
    }

    /// Only `warren down` opens an armed kill switch; every other stop keeps the LAN closed.
    var removesKillSwitch: Bool { self == .down }

    var description: String {
        switch self {
        case .signal(let number): return "received signal \(number)"
        case .down: return "warren down"
        case .consumerEnded(let why): return "session ended by this consumer: \(why)"
        case .sessionLost(let why): return "session lost: \(why)"
        }
    }
}

/// The one way to stop a running agent: any thread asks with a reason, the main thread waits
/// for the first one and tears down. Termination signals arrive as a reason too, from a thread
/// that does nothing but `sigwait` (so no signal handler ever runs in the data path).
final class Shutdown: Sendable {
    private let reason = Mutex<StopReason?>(nil)
    private let wakeup = Semaphore()

    /// Records `reason` unless another came first; returns whether this one is the reason.
    @discardableResult
    func request(_ reason: StopReason) -> Bool {
        let first = self.reason.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        if first { wakeup.signal() }
        return first
    }

    /// The reason, once one was requested; nil while the agent runs.
    var requested: StopReason? { reason.withLock { $0 } }

    /// Blocks until the first request and returns its reason.
    func wait() -> StopReason {
        while true {
            if let reason = requested { return reason }
            wakeup.wait()
        }
    }

    /// Turns termination signals into requests. The signals must already be blocked in every
    /// thread (`SignalWaiter.blockTerminationSignals` before the first thread starts).
    func listenForSignals() throws(PlatformError) {
        let thread = try startThread(name: "warren-signal") { [self] in
            request(.signal(SignalWaiter.wait()))
        }
        pthread_detach(thread)
    }
}
