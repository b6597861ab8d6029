import Glibc
import LinuxPlatform
import Testing
@testable import Agent

@Suite struct ShutdownTests {
    @Test func theFirstReasonWakesTheWaiterAndEveryReasonCounts() {
        let shutdown = Shutdown()
        #expect(shutdown.requested == nil)
        #expect(shutdown.exitCode == 0)
        #expect(shutdown.request(.signal(SIGTERM)))
        #expect(!shutdown.removesKillSwitch)
        // A refusal during the stop still decides the exit code; a down still opens the kill switch.
        #expect(!shutdown.request(.consumerEnded("over-invoiced")))
        #expect(!shutdown.request(.down))
        #expect(shutdown.wait() == .signal(SIGTERM))
        #expect(shutdown.exitCode == 3)
        #expect(shutdown.cause == .consumerEnded("over-invoiced"))
        #expect(shutdown.removesKillSwitch)
    }

    @Test func aPlainStopExitsZeroAndKeepsTheKillSwitch() {
        let shutdown = Shutdown()
        shutdown.request(.signal(SIGINT))
        #expect(shutdown.exitCode == 0)
        #expect(shutdown.cause == nil)
        #expect(!shutdown.removesKillSwitch)
    }

    @Test func aRequestFromAnotherThreadWakesTheWaiter() throws {
        let shutdown = Shutdown()
        let thread = try startThread(name: "test-stop") {
            usleep(20_000)
            shutdown.request(.sessionLost("no answer"))
        }
        #expect(shutdown.wait() == .sessionLost("no answer"))
        pthread_join(thread, nil)
    }

    @Test func exitCodesAndTheKillSwitchFollowTheReason() {
        #expect(StopReason.signal(SIGTERM).exitCode == 0)
        #expect(StopReason.down.exitCode == 0)
        #expect(StopReason.consumerEnded("cap").exitCode == 3)
        #expect(StopReason.sessionLost("refused").exitCode == 4)
        #expect(StopReason.down.removesKillSwitch)
        #expect(!StopReason.signal(SIGTERM).removesKillSwitch)
        #expect(!StopReason.consumerEnded("cap").removesKillSwitch)
    }
}
