import Testing
import WarrenTestSupport
@testable import WireGuard

/// The transport counter window (paper, section 5.4.6; RFC 6479): no duplicate, nothing
/// older than the window, nothing at or past RejectAfterMessages.
@Suite struct ReplayWindowTests {
    let w = ReplayWindow.windowSize

    @Test func inOrderCountersAreAcceptedOnce() {
        let window = WindowUnderTest()
        for counter in UInt64(0)..<3000 {
            #expect(window.accept(counter), "counter \(counter)")
        }
        for counter in UInt64(0)..<3000 {
            #expect(!window.accept(counter), "duplicate \(counter)")
        }
    }

    @Test func counterZeroIsAcceptedOnce() {
        let window = WindowUnderTest()
        #expect(window.mayAccept(0))
        #expect(window.accept(0))
        #expect(!window.mayAccept(0))
        #expect(!window.accept(0))
    }

    @Test func outOfOrderWithinTheWindow() {
        let window = WindowUnderTest()
        #expect(window.accept(1000))
        for counter in stride(from: UInt64(999), through: 0, by: -3) {
            #expect(window.accept(counter), "late counter \(counter)")
        }
        #expect(!window.accept(999))
        #expect(window.accept(998))
        #expect(window.accept(1002))
        #expect(window.accept(1001))
        #expect(!window.accept(1001))
        #expect(!window.accept(1000))
    }

    @Test func exactlyAtTheWindowEdge() {
        let window = WindowUnderTest()
        let greatest = w + 100
        #expect(window.accept(greatest))
        // greatest - windowSize is the oldest counter still inside; one older is out.
        #expect(!window.mayAccept(99))
        #expect(!window.accept(99))
        #expect(window.mayAccept(100))
        #expect(window.accept(100))
        #expect(!window.accept(100))
        #expect(window.accept(101))
        // The edge moves with the greatest counter.
        #expect(window.accept(greatest + 1))
        #expect(!window.accept(101))   // already seen
        #expect(!window.accept(100))   // seen and now outside
        #expect(window.mayAccept(102))
        #expect(!window.accept(greatest + 1 - w - 1))
    }

    @Test func windowIsAtLeastTheSpecifiedSize() {
        // The paper asks for a window of at least 2000 counters; wireguard-go uses 8128.
        #expect(w >= 2000)
        #expect(w == 8128)
    }

    @Test func farJumpForwardForgetsOldCounters() {
        let window = WindowUnderTest()
        for counter in UInt64(0)..<100 { #expect(window.accept(counter)) }
        let far = 100 + 10 * w
        #expect(window.accept(far))
        for counter in UInt64(0)..<100 {
            #expect(!window.accept(counter), "too old after the jump: \(counter)")
        }
        // Counters in the new window were never seen, including those whose ring slots
        // held bits of the old ones.
        for counter in stride(from: far - w, to: far, by: 97) {
            #expect(window.accept(counter), "unseen counter \(counter)")
        }
    }

    @Test func jumpOfExactlyOneRingDoesNotInheritBits() {
        // 8192 = 128 blocks of 64: the same ring slot as counter 5.
        let window = WindowUnderTest()
        #expect(window.accept(5))
        #expect(window.accept(5 + 8192))
        #expect(!window.accept(5))
        #expect(window.accept(6 + 8192 - 64), "slot of an old block must have been cleared")
    }

    @Test func shortJumpClearsOnlyTheBlocksItPasses() {
        let window = WindowUnderTest()
        for counter in UInt64(0)..<8192 { #expect(window.accept(counter)) }
        let greatest: UInt64 = 8192 + 64
        #expect(window.accept(greatest))
        #expect(!window.accept(127), "older than greatest - windowSize")
        for counter in stride(from: greatest - w, to: 8192, by: 61) {
            #expect(!window.accept(counter), "seen before the jump and still inside: \(counter)")
        }
        for counter in UInt64(8192)..<greatest {
            #expect(window.accept(counter), "never seen: \(counter)")
        }
    }

    @Test func countersAtTheRejectLimitAreRefused() {
        let window = WindowUnderTest()
        let limit = Protocol.rejectAfterMessages
        #expect(limit == UInt64.max - (1 << 13), "2^64 - 2^13 - 1")
        #expect(!window.mayAccept(limit))
        #expect(!window.accept(limit))
        #expect(!window.accept(UInt64.max))
        #expect(window.mayAccept(limit - 1))
        #expect(window.accept(limit - 1))
        #expect(!window.accept(limit))
        #expect(window.accept(limit - 2))
    }

    @Test func mayAcceptNeverMutates() {
        let window = WindowUnderTest()
        #expect(window.accept(10))
        // Asking about a far counter must not slide the window.
        #expect(window.mayAccept(1_000_000))
        #expect(window.mayAccept(1_000_000))
        #expect(window.accept(0))
        // Asking about an unseen counter must not mark it.
        for _ in 0..<3 { #expect(window.mayAccept(7)) }
        #expect(window.accept(7))
        #expect(!window.mayAccept(7))
        #expect(!window.mayAccept(10))
        #expect(window.mayAccept(11))
        #expect(window.accept(11))
    }

    /// The window against the definition: accept a counter iff it is below the limit,
    /// never seen, and no more than windowSize behind the greatest seen.
    @Test func matchesNaiveModelOnRandomCounters() {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        let window = WindowUnderTest()
        var seen = Set<UInt64>()
        var greatest: UInt64 = 0
        var counter: UInt64 = 0
        var accepted = 0, refused = 0
        for _ in 0..<20_000 {
            switch UInt64.random(in: 0..<100, using: &rng) {
            case 0..<40: counter = greatest &+ UInt64.random(in: 0...3, using: &rng)
            case 40..<70: counter = greatest &- min(greatest, UInt64.random(in: 0...(w + 200), using: &rng))
            case 70..<85: counter = seen.randomElement(using: &rng) ?? 0
            case 85..<97: counter = greatest &+ UInt64.random(in: 60...(2 * w), using: &rng)
            default: counter = greatest &+ UInt64.random(in: (8000)...(40_000), using: &rng)
            }
            let expected = counter < Protocol.rejectAfterMessages && !seen.contains(counter)
                && (counter > greatest || greatest - counter <= w)
            #expect(window.mayAccept(counter) == expected, "mayAccept(\(counter)) with greatest \(greatest)")
            let got = window.accept(counter)
            #expect(got == expected, "accept(\(counter)) with greatest \(greatest)")
            if expected {
                seen.insert(counter)
                greatest = max(greatest, counter)
                accepted += 1
            } else {
                refused += 1
            }
            if got != expected { break }
        }
        // The input mix exercises both outcomes heavily.
        #expect(accepted > 5_000 && refused > 5_000)
    }
}

/// A reference wrapper, because `#expect` cannot call a mutating method on a local value.
private final class WindowUnderTest {
    private var window = ReplayWindow()
    func accept(_ counter: UInt64) -> Bool { window.accept(counter) }
    func mayAccept(_ counter: UInt64) -> Bool { window.mayAccept(counter) }
}
