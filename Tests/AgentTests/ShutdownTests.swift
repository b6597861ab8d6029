import Glibc
import LinuxPlatform
import Testing
@testable import Agent

@Suite struct ShutdownTests {
    @Test func theFirstReasonWinsAndLaterOnesAreIgnored() {
        let shutdown = Shutdown()
        #expect(shutdown.requested == nil)
        #expect(shutdown.request(.consumerEnded("over-invoiced")))
        #expect(!shutdown.request(.down))
        #expect(!shutdown.request(.signal(SIGTERM)))
        #expect(shutdown.wait() == .consumerEnded("over-invoiced"))
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
