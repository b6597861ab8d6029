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
///
/// Every reason is kept, not only the first: a consumer whose final invoice is refused while
/// it stops for SIGTERM still exits 3, and a `warren down` that races a lost session still
/// opens the kill switch.
final class Shutdown: Sendable {
    private let reasons = Mutex<[StopReason]>([])
    private let wakeup = Semaphore()

    /// Records `reason`; the first one wakes `wait`. Returns whether it was the first.
    @discardableResult
    func request(_ reason: StopReason) -> Bool {
        let first = reasons.withLock { reasons -> Bool in
            reasons.append(reason)
            return reasons.count == 1
        }
        if first { wakeup.signal() }
        return first
    }

    /// The first reason, once one was requested; nil while the agent runs.
    var requested: StopReason? { reasons.withLock { $0.first } }

    /// Blocks until the first request and returns its reason.
    func wait() -> StopReason {
        while true {
            if let reason = requested { return reason }
            wakeup.wait()
        }
    }

    /// The reason that decides the exit code: the first with a non-zero one.
    var cause: StopReason? { reasons.withLock { $0.first { $0.exitCode != 0 } } }

    var exitCode: Int32 { cause?.exitCode ?? 0 }

    /// Whether any request was `warren down`.
    var removesKillSwitch: Bool { reasons.withLock { $0.contains { $0.removesKillSwitch } } }

    /// Turns termination signals into requests. The signals must already be blocked in every
    /// thread (`SignalWaiter.blockTerminationSignals` before the first thread starts).
    func listenForSignals() throws(PlatformError) {
        let thread = try startThread(name: "warren-signal") { [self] in
            request(.signal(SignalWaiter.wait()))
        }
        pthread_detach(thread)
    }
}
