import Dispatch
import Glibc
import Testing
@testable import LinuxPlatform

@Suite struct SignalWaiterTests {
    /// Blocks the signals in one thread only and directs SIGHUP at that
    /// thread, so the rest of the test process keeps its normal handling.
    @Test func waitReturnsTheSignalSentToTheBlockedThread() throws {
        let ready = DispatchSemaphore(value: 0)
        let outcome = ReceiveOutcome()
        let waiter = try startThread(name: "signal-test") {
            SignalWaiter.blockTerminationSignals()
            ready.signal()
            outcome.count = Int(SignalWaiter.wait())
        }
        ready.wait()
        #expect(pthread_kill(waiter, SIGHUP) == 0)
        pthread_join(waiter, nil)
        #expect(outcome.count == Int(SIGHUP))
    }
}
