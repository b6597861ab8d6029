import Glibc

/// Switches for tests only, documented in docs/OPERATIONS.md. Read once, where the agent is
/// made, and handed to the parts they change: nothing else reads the environment.
struct TestKnobs: Sendable {
    /// WARREN_REKEY_AFTER_TIME (seconds): rekey sooner than WireGuard's 120 s.
    var rekeyAfterTime: UInt64?
    /// WARREN_UNDER_LOAD=1: answer every handshake with a cookie, as under a flood.
    var underLoad = false
    /// WARREN_TEST_OVERCHARGE_PERCENT: a provider's invoices ask this many percent more than
    /// due, to show that a consumer refuses them.
    var overchargePercent: UInt64 = 0
    /// WARREN_TEST_STOP_PAYING_AFTER: the consumer stops paying once it received this many
    /// bytes (0: never pays).
    var stopPayingAfter: UInt64?

    /// No switch set: what every real agent runs with.
    static let none = TestKnobs()

    /// The switches in `environment` (a variable's value by name).
    init(environment: (String) -> String? = { _ in nil }) {
        if let text = environment("WARREN_REKEY_AFTER_TIME"), let seconds = UInt64(text), seconds > 0 {
            rekeyAfterTime = seconds * 1_000_000_000
        }
        underLoad = environment("WARREN_UNDER_LOAD") == "1"
        overchargePercent = environment("WARREN_TEST_OVERCHARGE_PERCENT").flatMap { UInt64($0) } ?? 0
        stopPayingAfter = environment("WARREN_TEST_STOP_PAYING_AFTER").flatMap { UInt64($0) }
    }

    /// The switches in this process's environment.
    static func fromProcessEnvironment() -> TestKnobs {
        TestKnobs(environment: { name in getenv(name).map { String(cString: $0) } })
    }
}
