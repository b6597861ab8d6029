import Session
import Testing
@testable import Payment

/// The provider's credit arithmetic: what is due, and how many bytes the paid amount plus
/// the window covers (the data plane's only per-packet comparison).
@Suite struct CreditLineTests {
    static let token: UInt128 = 1_000_000_000_000_000_000
    /// 2 tokens per GiB, 0.06 token per minute (0.001 per second).
    let tariff = Tariff(perGiB: 2 * token, perMinute: 6 * token / 100)

    @Test func dueIsBasePlusTariff() {
        let line = CreditLine(tariff: tariff, sessionBase: 7, windowBytes: 1 << 20)
        #expect(line.due(bytes: 1 << 30, seconds: 60) == 7 + 2 * Self.token + 6 * Self.token / 100)
        #expect(line.due(bytes: 0, seconds: 0) == 7)
    }

    @Test func windowAmountIsWindowBytesAndOneMinute() {
        let line = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 1 << 20)
        #expect(line.windowAmount == 2 * Self.token / 1024 + 6 * Self.token / 100)
    }

    /// The allowance is exact: its last byte is covered and the next is not.
    @Test func allowanceIsTheLastCoveredByte() {
        for base: UInt128 in [0, 12_345, Self.token / 3] {
            for paid: UInt128 in [0, base, base + Self.token / 1000, base + 3 * Self.token] {
                for seconds: UInt64 in [0, 1, 59, 600] {
                    let line = CreditLine(tariff: tariff, sessionBase: base, windowBytes: 256 << 10)
                    let allowance = line.byteAllowance(seconds: seconds, paid: paid)
                    if allowance > 0 { #expect(line.covers(bytes: allowance, seconds: seconds, paid: paid)) }
                    if allowance < .max { #expect(!line.covers(bytes: allowance + 1, seconds: seconds, paid: paid)) }
                }
            }
        }
    }

    @Test func timeEatsTheAllowance() {
        let line = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 1 << 20)
        let early = line.byteAllowance(seconds: 0, paid: 0)
        let late = line.byteAllowance(seconds: 30, paid: 0)
        #expect(late < early)
        // After the minute in the window and the window's bytes are used up by time alone, nothing is left.
        let hours = line.byteAllowance(seconds: 3600, paid: 0)
        #expect(hours == 0)
        #expect(!line.covers(bytes: 1, seconds: 3600, paid: 0))
    }

    @Test func freeBytesHaveNoByteLimit() {
        let timeOnly = CreditLine(tariff: Tariff(perGiB: 0, perMinute: Self.token), sessionBase: 0, windowBytes: 1 << 20)
        #expect(timeOnly.byteAllowance(seconds: 10, paid: 0) == .max)
        #expect(timeOnly.byteAllowance(seconds: 120, paid: 0) == 0)
    }

    @Test func hugeAmountsSaturateInsteadOfTrapping() {
        let line = CreditLine(tariff: Tariff(perGiB: .max, perMinute: .max), sessionBase: .max, windowBytes: .max)
        #expect(line.due(bytes: .max, seconds: .max) == .max)
        // A time price that overflows 128 bits leaves no allowance at all.
        #expect(line.byteAllowance(seconds: .max, paid: .max) == 0)
        let generous = CreditLine(tariff: Tariff(perGiB: 1, perMinute: 0), sessionBase: 0, windowBytes: 0)
        #expect(generous.byteAllowance(seconds: 0, paid: .max) == .max)
    }

    @Test func creditWindowStartsSmallAndDoubles() {
        var record = CreditRecord(maximum: 16 << 20)
        #expect(record.window == 1 << 20)
        record.recordGoodVoucher()
        #expect(record.window == 2 << 20)
        for _ in 0..<10 { record.recordGoodVoucher() }
        #expect(record.window == 16 << 20)
        // A small maximum: the first window is the floor, never above the maximum.
        #expect(CreditRecord(maximum: 100 << 10).window == 64 << 10)
        #expect(CreditRecord(maximum: 64 << 10).window == 64 << 10)
    }
}
