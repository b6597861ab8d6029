import Session
import Payment

/// An amount of the payment token in its base unit (18 decimals), as an integer:
/// no floating point ever touches money.
public struct TokenAmount: Sendable, Equatable, Comparable, Hashable, CustomStringConvertible {
    public static let decimals = PaymentAmountText.decimals
    public static let unit = PaymentAmountText.unit
    public var baseUnits: UInt128

    public init(baseUnits: UInt128) { self.baseUnits = baseUnits }
    public static let zero = TokenAmount(baseUnits: 0)

    /// Parses a decimal token amount such as `0.002` or `15` (at most 18 decimals).
    public init?(decimal text: Substring) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty || parts.count == 2,
              whole.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), whole.count <= 20 else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.count <= TokenAmount.decimals, fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              !(parts.count == 2 && fraction.isEmpty) else { return nil }
        let wholeValue = UInt128(whole.isEmpty ? "0" : whole) ?? 0
        let padded = String(fraction) + String(repeating: "0", count: TokenAmount.decimals - fraction.count)
        guard let fractionValue = UInt128(padded) else { return nil }
        let (scaled, overflow) = wholeValue.multipliedReportingOverflow(by: TokenAmount.unit)
        guard !overflow else { return nil }
        let (sum, overflow2) = scaled.addingReportingOverflow(fractionValue)
        guard !overflow2 else { return nil }
        baseUnits = sum
    }

    public var description: String { PaymentAmountText.number(baseUnits) }

    public static func < (a: TokenAmount, b: TokenAmount) -> Bool { a.baseUnits < b.baseUnits }

    /// Decimals kept when an amount is shown to a person.
    public static let shownDecimals = 6

    /// The amount for a person to read: rounded half up to 6 decimals, trailing zeros dropped,
    /// with the unit: `0.000123 tokens`, `1 token`, `2.5 tokens`. A non-zero amount that rounds
    /// to zero reads `less than 0.000001 tokens`, never `0 tokens`. `description` stays exact
    /// (config values, JSON twins); this is for status text, listings and log lines.
    public var shown: String {
        let step = TokenAmount.unit / 1_000_000                  // base units in 0.000001 token
        var micro = baseUnits / step
        if baseUnits % step >= step / 2 { micro += 1 }          // cannot overflow: micro ≤ UInt128.max / step
        if micro == 0 && baseUnits > 0 { return "less than 0.000001 tokens" }
        let whole = micro / 1_000_000
        var fraction = String(micro % 1_000_000)
        fraction = String(repeating: "0", count: TokenAmount.shownDecimals - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        let number = fraction.isEmpty ? "\(whole)" : "\(whole).\(fraction)"
        return number + (number == "1" ? " token" : " tokens")
    }

    /// The exact amount with its unit (`0.000000000000000001 tokens`), for messages that compare
    /// two amounts, where rounding could show them equal.
    public var exact: String { PaymentAmountText.tokens(baseUnits) }
}

extension Tariff {
    /// Parses a price key's value, `0.5/GiB, 0.01/min` (either part may be left out), in tokens.
    static func parse(_ text: Substring) throws(ValueProblem) -> Tariff {
        var price = Tariff.free
        for item in try ConfigValue.list(text) {
            let pieces = item.split(separator: "/", maxSplits: 1)
            guard pieces.count == 2, let amount = TokenAmount(decimal: ConfigValue.trim(pieces[0])) else {
                throw ValueProblem("'\(item)' is not a price (expected e.g. 0.5/GiB or 0.01/min, in tokens)")
            }
            switch ConfigValue.trim(pieces[1]).lowercased() {
            case "gib", "gb": price.perGiB = amount.baseUnits
            case "min", "minute": price.perMinute = amount.baseUnits
            default: throw ValueProblem("'\(item)': the unit must be GiB or min")
            }
        }
        return price
    }
}
