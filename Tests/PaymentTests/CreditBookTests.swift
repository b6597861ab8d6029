import Session
import Testing
@testable import Payment

/// What a provider can lose to one consumer identity across its requests and sessions, and
/// to all identities that have not paid yet (issue 9, item 4).
@Suite struct CreditBookTests {
    static let token: UInt128 = 1_000_000_000_000_000_000
    /// The e2e suite's tariff: 2 tokens per GiB and 0.001 token per minute; CreditWindow 4 MiB.
    let tariff = Tariff(perGiB: 2 * token, perMinute: token / 1000)
    let maximum: UInt64 = 4 << 20
    var firstMoney: UInt128 { CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 256 << 10).windowAmount }
    /// What makes a stranger good: the first window's bytes, without its minute of time.
    var firstBytesMoney: UInt128 { tariff.cost(bytes: 256 << 10, seconds: 0) ?? .max }

    func grant(_ decision: CreditBook.Decision) -> CreditBook.Grant? {
        if case .granted(let grant) = decision { return grant }
        return nil
    }

    /// One session as the provider runs it for a consumer that never pays: it carries bytes
    /// up to its allowance, then leaves due − paid unpaid. Returns the bytes it got.
    func runUnpaid(_ book: inout CreditBook, _ consumer: [UInt8], _ grant: CreditBook.Grant, seconds: UInt64, now: UInt64) -> UInt64 {
        let line = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: grant.windowBytes, carried: grant.carried, paysDown: grant.paysDown)
        let bytes = line.byteAllowance(seconds: seconds, paid: 0)
        book.close(consumer, unpaid: line.unpaid(bytes: bytes, seconds: seconds, paid: 0), debtLeft: line.debtLeft(paid: 0),
                   reservation: grant.reservation, now: now)
        return bytes
    }

    /// The issue: paused after its first window, a never-paying consumer asked again and got
    /// a fresh free window each time. Now what it left unpaid comes off every later session.
    @Test func askingAgainAsFastAsItLikesGetsOneWindowInTotal() {
        var book = CreditBook(tariff: tariff, maximumWindow: maximum, strangerWindows: 16)
        let consumer = [UInt8](repeating: 7, count: 32)
        let oneWindow = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 256 << 10).byteAllowance(seconds: 0, paid: 0)
        var total: UInt64 = 0
        var refused = 0
        for ask in 0..<1000 {
            switch book.open(consumer, now: 100 + UInt64(ask) / 5) {
            case .granted(let grant):
                #expect(grant.windowBytes == 256 << 10 && !grant.paysDown)
                total += runUnpaid(&book, consumer, grant, seconds: 0, now: 100 + UInt64(ask) / 5)
            case .owes(let debt, _):
                #expect(debt > firstMoney / 2)
                refused += 1
            case .strangersFull:
                Issue.record("one identity filled the stranger budget")
            }
        }
        #expect(total <= oneWindow)
        #expect(total >= oneWindow - 1)
        #expect(refused >= 998)
    }

    /// Asking again before the pause: the new session gets only what is left of the window.
    @Test func askingAgainEarlyCarriesWhatWasUsed() {
        var book = CreditBook(tariff: tariff, maximumWindow: maximum, strangerWindows: 16)
        let consumer = [UInt8](repeating: 1, count: 32)
        guard let first = grant(book.open(consumer, now: 10)) else { Issue.record("refused"); return }
        #expect(first.carried == 0 && first.reservation == firstMoney)
        book.close(consumer, unpaid: firstMoney / 2, debtLeft: 0, reservation: first.reservation, now: 11)
        guard let second = grant(book.open(consumer, now: 12)) else { Issue.record("refused"); return }
        #expect(second.carried == firstMoney / 2)
        #expect(second.reservation == firstMoney - firstMoney / 2)
        let line = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: second.windowBytes, carried: second.carried)
        let fresh = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: second.windowBytes)
        #expect(line.byteAllowance(seconds: 0, paid: 0) < fresh.byteAllowance(seconds: 0, paid: 0) / 2 + 2)
        // The debt is remembered for 10 minutes after it last grew, then forgotten.
        book.close(consumer, unpaid: 0, debtLeft: second.carried, reservation: second.reservation, now: 13)
        #expect(book.record(consumer).debt(now: 13 + 599) == firstMoney / 2)
        #expect(book.record(consumer).debt(now: 13 + 600) == 0)
        #expect(book.records[consumer] == nil || book.record(consumer).debt(now: 13 + 600) == 0)
    }

    /// New identities cost nothing: together they get `strangerWindows` first windows' money
    /// per hour, whatever their number.
    @Test func freshIdentitiesShareOneBudget() {
        var book = CreditBook(tariff: tariff, maximumWindow: maximum, strangerWindows: 3)
        var granted = 0
        var lost: UInt128 = 0
        for n in 0..<50 {
            let consumer = [UInt8](repeating: UInt8(n), count: 32)
            switch book.open(consumer, now: 1000) {
            case .granted(let grant):
                granted += 1
                let line = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: grant.windowBytes)
                let bytes = line.byteAllowance(seconds: 0, paid: 0)
                let unpaid = line.unpaid(bytes: bytes, seconds: 0, paid: 0)
                lost += unpaid
                book.close(consumer, unpaid: unpaid, debtLeft: 0, reservation: grant.reservation, now: 1001)
            case .strangersFull(let retry):
                #expect(retry > 3500 && retry <= 3660)
            case .owes:
                Issue.record("a fresh identity owes nothing")
            }
        }
        #expect(granted == 3)
        #expect(lost <= 3 * firstMoney)
        #expect(book.strangers.lost(now: 1001) == lost && book.strangers.reserved == 0)
        // Still counted an hour later, not after the 61st minute.
        let atSixtyMinutes = book.open([0xee], now: 1001 + 3600)
        #expect(grant(atSixtyMinutes) == nil)
        let atSixtyOneMinutes = book.open([0xef], now: 1001 + 3660)
        #expect(grant(atSixtyOneMinutes) != nil)
    }

    /// Live strangers hold their share until they end or have paid for a first window's bytes; a
    /// stranger that leaves nothing unpaid takes nothing from the budget.
    @Test func payingStrangersGiveTheirShareBack() {
        var book = CreditBook(tariff: tariff, maximumWindow: maximum, strangerWindows: 2)
        guard let a = grant(book.open([1], now: 0)), let b = grant(book.open([2], now: 0)) else { Issue.record("refused"); return }
        let third = book.open([3], now: 0)
        #expect(third == .strangersFull(retryAfter: 60))
        // [1] pays for a first window's bytes: good, its share is back.
        #expect(firstBytesMoney < firstMoney)
        let goodAlmost = book.paid([1], amount: firstBytesMoney - 1, reservation: a.reservation, now: 5)
        #expect(!goodAlmost)
        let goodNow = book.paid([1], amount: 1, reservation: a.reservation, now: 5)
        #expect(goodNow)
        #expect(book.strangers.reserved == b.reservation)
        // [2] ends having paid all it used.
        book.close([2], unpaid: 0, debtLeft: 0, reservation: b.reservation, now: 6)
        #expect(book.strangers.reserved == 0 && book.strangers.lost(now: 6) == 0)
        let thirdAgain = book.open([3], now: 7)
        #expect(grant(thirdAgain) != nil)
        let fourth = book.open([4], now: 7)
        #expect(grant(fourth) != nil)
        #expect(book.records[[2]] == nil)     // nothing worth remembering
    }

    /// Time billed while a session sits paused is owed by the identity but took nothing from
    /// the provider: the budget counts a session's loss up to its reservation.
    @Test func pausedTimeDoesNotEatTheBudget() {
        var book = CreditBook(tariff: tariff, maximumWindow: maximum, strangerWindows: 2)
        guard let a = grant(book.open([1], now: 0)) else { Issue.record("refused"); return }
        book.close([1], unpaid: a.reservation + Self.token / 100, debtLeft: 0, reservation: a.reservation, now: 30)
        #expect(book.strangers.lost(now: 30) == a.reservation)
        #expect(book.record([1]).debt(now: 30) == a.reservation + Self.token / 100)
        let second = book.open([2], now: 31)
        #expect(grant(second) != nil)
    }

    /// A good identity's window doubles with good vouchers, and its carried debt is paid down
    /// by its payments: a consumer that crashed while
    /// behind can pay its way back, one that stops does not get a new window.
    @Test func goodIdentitiesGrowWithWhatTheyPaid() {
        var book = CreditBook(tariff: tariff, maximumWindow: maximum, strangerWindows: 1)
        let consumer: [UInt8] = [9]
        guard let first = grant(book.open(consumer, now: 0)) else { Issue.record("refused"); return }
        for _ in 0..<8 {
            let window = book.goodVoucher(consumer)
            #expect(window == 256 << 10)   // a stranger: no growth yet
        }
        let good = book.paid(consumer, amount: firstMoney, reservation: first.reservation, now: 1)
        #expect(good)
        // Good now: its window is what its good vouchers earned (8 doublings of 256 KiB, at
        // most CreditWindow), so a paying consumer reaches full speed within a few vouchers.
        #expect(book.window(consumer) == maximum)
        // It crashes a window behind; asking again it carries that, and paying brings it back.
        let windowMoney = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: maximum).windowAmount
        book.close(consumer, unpaid: windowMoney, debtLeft: 0, reservation: 0, now: 3)
        guard let again = grant(book.open(consumer, now: 4)) else { Issue.record("a good identity is not refused"); return }
        #expect(again.carried == windowMoney && again.paysDown && again.reservation == 0)
        let line = CreditLine(tariff: tariff, sessionBase: 50, windowBytes: again.windowBytes, carried: again.carried, paysDown: true)
        #expect(line.byteAllowance(seconds: 0, paid: 50) == 0)
        #expect(line.debtLeft(paid: 50 + windowMoney / 2) == windowMoney - windowMoney / 2)
        #expect(line.byteAllowance(seconds: 0, paid: 50 + windowMoney) == line.with(paysDown: false).with(sessionBase: 50)
            .byteAllowance(seconds: 0, paid: 50 + windowMoney + windowMoney))
        #expect(book.strangers.reserved == 0 && book.strangers.lost(now: 4) == 0)
    }
}

@Suite struct CarriedCreditTests {
    let tariff = Tariff(perGiB: 1 << 30, perMinute: 0)   // 1 base unit per byte

    @Test func theCarriedAmountComesOffTheWindow() {
        let line = CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 1000, carried: 300)
        #expect(line.byteAllowance(seconds: 0, paid: 0) == 700)
        #expect(line.byteAllowance(seconds: 0, paid: 100) == 800)     // without pay-down, paying moves the limit by what it paid
        #expect(CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 1000, carried: 5000).byteAllowance(seconds: 0, paid: 0) == 0)
        #expect(!CreditLine(tariff: tariff, sessionBase: 0, windowBytes: 1000, carried: 5000).covers(bytes: 1, seconds: 0, paid: 0))
    }

    @Test func payDownFirstPaysTheCarriedAmount() {
        let line = CreditLine(tariff: tariff, sessionBase: 10, windowBytes: 1000, carried: 300, paysDown: true)
        #expect(line.debtLeft(paid: 10) == 300)
        #expect(line.debtLeft(paid: 110) == 200)
        #expect(line.debtLeft(paid: 5000) == 0)
        #expect(line.byteAllowance(seconds: 0, paid: 10) == 700)
        #expect(line.byteAllowance(seconds: 0, paid: 110) == 900)
        #expect(line.byteAllowance(seconds: 0, paid: 5000) == 5990)
        #expect(line.unpaid(bytes: 700, seconds: 0, paid: 10) == 700)
        #expect(line.unpaid(bytes: 5, seconds: 0, paid: 100) == 0)
    }

    @Test func theRecordRemembersDebtForTenMinutes() {
        var record = CreditRecord(maximum: 1 << 20)
        record.carry(40, now: 100)
        record.carry(2, now: 400)
        #expect(record.debt(now: 999) == 42)
        #expect(record.debt(now: 1000) == 0)
        #expect(record.isEmpty(now: 1000))
        record.carry(5, now: 1000)
        let taken = record.takeDebt(now: 1001)
        #expect(taken == 5)
        #expect(record.debt(now: 1001) == 0)
    }
}
