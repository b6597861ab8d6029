@testable import Configuration
import Testing
@testable import Agent

// Amounts as a person reads them.

@Suite struct TokenAmountShownTests {
    private func shown(_ text: String) throws -> String {
        try #require(TokenAmount(decimal: Substring(text))).shown
    }

    @Test func roundsToSixDecimalsHalfUpWithTheRightUnit() throws {
        #expect(try shown("0") == "0 tokens")
        #expect(try shown("1") == "1 token")
        #expect(try shown("1.0000004") == "1 token")
        #expect(try shown("2.5") == "2.5 tokens")
        #expect(try shown("0.000123456789") == "0.000123 tokens")
        #expect(try shown("0.1234565") == "0.123457 tokens")
        #expect(try shown("0.9999996") == "1 token")
        #expect(try shown("0.0000005") == "0.000001 tokens")
        #expect(try shown("15.000001") == "15.000001 tokens")
    }

    @Test func aTinyNonZeroAmountIsNeverShownAsZero() {
        #expect(TokenAmount(baseUnits: 1).shown == "less than 0.000001 tokens")
        #expect(TokenAmount(baseUnits: 499_999_999_999).shown == "less than 0.000001 tokens")
        #expect(TokenAmount(baseUnits: 500_000_000_000).shown == "0.000001 tokens")
    }

    @Test func theLargestAmountDoesNotOverflow() {
        #expect(TokenAmount(baseUnits: .max).shown == "340282366920938463463.374607 tokens")
    }

    @Test func exactKeepsEveryDecimal() {
        #expect(TokenAmount(baseUnits: 1).exact == "0.000000000000000001 tokens")
        #expect(TokenAmount(baseUnits: TokenAmount.unit).exact == "1 token")
    }
}
