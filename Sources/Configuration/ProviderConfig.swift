import Glibc
import Payment
import Session
import WireGuard

/// The `[Provider]` section: sell this box's connection as an exit.
public struct ProviderConfig: Sendable, Equatable {
    public enum ExitMode: String, Sendable, Equatable { case whitelist, open }

    public var wan: String
    public var pool: [IPPrefix]
    public var exit: ExitMode
    /// Path of the whitelist file (resolved against the config file's directory).
    public var whitelistPath: String?
    public var maxSessions: Int
    /// Bytes per second per consumer in each direction; nil = unlimited.
    public var rateLimit: UInt64?
    public var price: Tariff
    public var idleTimeoutSeconds: Int
    public var payment = ProviderPaymentConfig()
    public var line: Int

    static let keys = ["WAN", "Pool", "Exit", "Whitelist", "MaxSessions", "RateLimit", "Price", "IdleTimeout",
                       "CreditWindow", "SettleThreshold", "PaymentGrace", "ExpiryMargin", "PersistInterval", "Ledger", "StrangerWindows"]

    public static func from(_ config: TunnelConfig, file: String) throws(ConfigError) -> ProviderConfig? {
        guard let section = try SectionReader.single("Provider", in: config, file: file) else { return nil }
        var wan: String?
        var pool: [IPPrefix] = []
        var exit = ExitMode.whitelist
        var whitelist: String?
        var maxSessions = 16
        var rateLimit: UInt64?
        var price = Tariff.free
        var idle = 180
        var payment = ProviderPaymentConfig()
        try SectionReader.read(section, keys: keys, repeatable: ["Pool"], file: file) { key, value throws(ValueProblem) in
            switch key {
            case "CreditWindow":
                payment.creditWindow = try PaymentValue.bytes(value, minimum: CreditRecord.minimumWindow)
            case "SettleThreshold":
                payment.settleThreshold = try PaymentValue.tokens(value)
            case "PaymentGrace":
                payment.graceSeconds = try PaymentValue.seconds(value, 1...86400)
            case "ExpiryMargin":
                payment.expiryMarginSeconds = try PaymentValue.seconds(value, 1...31_536_000)
            case "PersistInterval":
                payment.persistInterval = try PaymentValue.seconds(value, 1...3600)
            case "Ledger":
                payment.ledger = try PaymentValue.directory(value)
            case "StrangerWindows":
                guard let n = ConfigValue.decimal(ConfigValue.trim(value)), n >= 1, n <= 65536 else {
                    throw ValueProblem("'\(value)' is not a number from 1 to 65536")
                }
                payment.strangerWindows = n
            case "WAN":
                guard GatewayConfig.isInterfaceName(value) else { throw ValueProblem("'\(value)' is not an interface name") }
                wan = String(value)
            case "Pool":
                for item in try ConfigValue.list(value) {
                    let prefix = try ConfigValue.prefix(item, example: "10.99.0.0/24 or fd99::/64").network
                    guard prefix.length <= prefix.address.bitWidth - 2 else {
                        throw ValueProblem("'\(item)' is too small for a pool (it needs room for the provider and consumers)")
                    }
                    pool.append(prefix)
                }
            case "Exit":
                guard let mode = ExitMode(rawValue: value.lowercased()) else { throw ValueProblem("'\(value)' is not whitelist or open") }
                exit = mode
            case "Whitelist":
                whitelist = String(value)
            case "MaxSessions":
                guard let n = ConfigValue.decimal(value), n >= 1, n <= 4096 else { throw ValueProblem("'\(value)' is not a number from 1 to 4096") }
                maxSessions = Int(n)
            case "RateLimit":
                rateLimit = try parseRate(value)
            case "Price":
                price = try Tariff.parse(value)
            case "IdleTimeout":
                guard let n = ConfigValue.decimal(value), n >= 10, n <= 86400 else { throw ValueProblem("'\(value)' is not a number of seconds from 10 to 86400") }
                idle = Int(n)
            default:
                break
            }
        }
        guard let wan else { throw ConfigError(file: file, line: section.line, key: "WAN", message: "[Provider] needs WAN = the interface toward the Internet, e.g. WAN = eth0") }
        guard pool.contains(where: { $0.address.isV4 }) else {
            throw ConfigError(file: file, line: section.line, key: "Pool", message: "[Provider] needs an IPv4 Pool for consumers, e.g. Pool = 10.99.0.0/24, fd99::/64")
        }
        if exit == .whitelist && whitelist == nil {
            throw ConfigError(file: file, line: section.line, key: "Whitelist",
                              message: "Exit = whitelist needs Whitelist = a file of domains and CIDRs (e.g. /etc/warren/whitelists/streaming), or set Exit = open")
        }
        if let path = whitelist, !path.hasPrefix("/") {
            let directory = file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            whitelist = (directory.isEmpty ? "." : directory) + "/" + path
        }
        return ProviderConfig(wan: wan, pool: pool, exit: exit, whitelistPath: whitelist, maxSessions: maxSessions,
                              rateLimit: rateLimit, price: price, idleTimeoutSeconds: idle, payment: payment, line: section.line)
    }

    /// `20mbit`, `500kbit`, `1gbit`, or bytes per second with `B/s`, `KB/s`, `MB/s`.
    static func parseRate(_ text: Substring) throws(ValueProblem) -> UInt64 {
        let lower = text.lowercased()
        let units: [(String, UInt64)] = [("gbit", 125_000_000), ("mbit", 125_000), ("kbit", 125), ("mb/s", 1_000_000), ("kb/s", 1000), ("b/s", 1)]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            let number = lower.dropLast(suffix.count)
            guard let n = ConfigValue.decimal(Substring(number)), n > 0 else { break }
            return n * factor
        }
        throw ValueProblem("'\(text)' is not a rate (expected e.g. 20mbit, 500kbit or 2MB/s)")
    }
}

/// The `[Exit]` section: use a warren provider as this node's exit.
public struct ExitConfig: Sendable, Equatable {
    public var provider: String        // IDENTITY@HOST:PORT, as printed by the provider's `warren id`
    public var maxPrice: Tariff?
    public var payment = ConsumerPaymentConfig()
    public var line: Int
    public var providerLine: Int

    static let keys = ["Provider", "MaxPrice", "Deposit", "MaxSpend", "ChannelLifetime", "PersistInterval", "Ledger"]

    public static func from(_ config: TunnelConfig, file: String) throws(ConfigError) -> ExitConfig? {
        guard let section = try SectionReader.single("Exit", in: config, file: file) else { return nil }
        var provider: String?
        var providerLine = section.line
        var maxPrice: Tariff?
        var payment = ConsumerPaymentConfig()
        try SectionReader.read(section, keys: keys, repeatable: [], file: file) { key, value throws(ValueProblem) in
            switch key {
            case "Provider": provider = String(value)
            case "MaxPrice": maxPrice = try Tariff.parse(value)
            case "Deposit":
                let amount = try PaymentValue.tokens(value)
                guard amount.baseUnits > 0 else { throw ValueProblem("a deposit must be more than 0") }
                payment.deposit = amount
            case "MaxSpend": payment.maxSpendPerDay = try PaymentValue.tokens(value)
            case "ChannelLifetime": payment.channelLifetimeSeconds = try PaymentValue.seconds(value, 60...31_536_000)
            case "PersistInterval": payment.persistInterval = try PaymentValue.seconds(value, 1...3600)
            case "Ledger": payment.ledger = try PaymentValue.directory(value)
            default: break
            }
        }
        for entry in section.entries where entry.key.lowercased() == "provider" { providerLine = entry.line }
        guard let provider else {
            throw ConfigError(file: file, line: section.line, key: "Provider", message: "[Exit] needs Provider = the provider's identity and endpoint, as printed by its `warren id`")
        }
        if config.peers.contains(where: { $0.allowedIPs.contains { $0.length == 0 } }) {
            throw ConfigError(file: file, line: section.line, key: nil, message: "[Exit] routes everything to the provider: remove the [Peer] with AllowedIPs = 0.0.0.0/0")
        }
        for entry in section.entries where entry.key.lowercased() == "deposit" { payment.depositLine = entry.line }
        return ExitConfig(provider: provider, maxPrice: maxPrice, payment: payment, line: section.line, providerLine: providerLine)
    }
}

/// Shared reading of warren's own sections: known keys, repeats, file:line errors.
enum SectionReader {
    static func single(_ name: String, in config: TunnelConfig, file: String) throws(ConfigError) -> RawSection? {
        let sections = config.extraSections.filter { $0.name == name }
        if sections.count > 1 {
            throw ConfigError(file: file, line: sections[1].line, key: nil, message: "a second [\(name)] section (the first is on line \(sections[0].line)): merge them")
        }
        return sections.first
    }

    static func read(_ section: RawSection, keys: [String], repeatable: Set<String>, file: String,
                     _ handle: (String, Substring) throws(ValueProblem) -> Void) throws(ConfigError) {
        var seen: [String: Int] = [:]
        for entry in section.entries {
            guard let key = keys.first(where: { $0.lowercased() == entry.key.lowercased() }) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key,
                                  message: "unknown key in [\(section.name)] (valid keys: \(keys.joined(separator: ", ")))")
            }
            if !repeatable.contains(key), let first = seen[key] {
                throw ConfigError(file: file, line: entry.line, key: key, message: "appears twice in this section (first on line \(first))")
            }
            seen[key] = entry.line
            do { try handle(key, Substring(entry.value)) } catch {
                throw ConfigError(file: file, line: entry.line, key: key, message: error.message)
            }
        }
    }
}

/// The provider's side of payment: credit, settlement and flash-wear settings.
public struct ProviderPaymentConfig: Sendable, Equatable {
    /// The most credit (bytes of traffic) a consumer with a good record gets.
    public var creditWindow: UInt64 = 256 << 20
    /// After a session ends, claim once this much is unclaimed.
    public var settleThreshold = TokenAmount.zero
    /// Seconds a paused session (consumer behind on payment) lives before it is ended.
    public var graceSeconds: UInt64 = 30
    /// Claim whatever is unclaimed this long before a channel expires; refuse channels closer.
    public var expiryMarginSeconds: UInt64 = 3600
    /// Seconds between two batched durable writes of one channel.
    public var persistInterval: UInt64 = 10
    /// The local ledger's directory (the settlement backend).
    public var ledger = PaymentValue.defaultLedger
    /// What consumers that have not paid yet may leave unpaid together per hour, in first
    /// windows' money (`CreditBook`).
    public var strangerWindows: UInt64 = 16
}

/// The consumer's side of payment: its deposit, budget and channel settings.
public struct ConsumerPaymentConfig: Sendable, Equatable {
    /// Locked in each new channel; nil: the consumer cannot pay (a priced provider is refused).
    public var deposit: TokenAmount?
    public var depositLine: Int?
    /// The most the consumer signs away per day (UTC day); nil: only the deposit bounds it.
    public var maxSpendPerDay: TokenAmount?
    public var channelLifetimeSeconds: UInt64 = 7 * 86400
    public var persistInterval: UInt64 = 10
    public var ledger = PaymentValue.defaultLedger
}

/// Parsers for the payment keys' values.
enum PaymentValue {
    static let defaultLedger = StandardPaths.stateDirectory + "/ledger"

    static func tokens(_ text: Substring) throws(ValueProblem) -> TokenAmount {
        guard let amount = TokenAmount(decimal: ConfigValue.trim(text)) else {
            throw ValueProblem("'\(text)' is not an amount of tokens (a decimal number with at most 18 decimals, e.g. 0.25)")
        }
        return amount
    }

    static func seconds(_ text: Substring, _ range: ClosedRange<UInt64>) throws(ValueProblem) -> UInt64 {
        guard let n = ConfigValue.decimal(ConfigValue.trim(text)), range.contains(n) else {
            throw ValueProblem("'\(text)' is not a number of seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// `65536`, `512KiB`, `16MiB`, `1GiB`.
    static func bytes(_ text: Substring, minimum: UInt64) throws(ValueProblem) -> UInt64 {
        let lower = ConfigValue.trim(text).lowercased()
        let units: [(String, UInt64)] = [("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10), ("b", 1), ("", 1)]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            guard let n = ConfigValue.decimal(ConfigValue.trim(Substring(lower.dropLast(suffix.count)))) else { continue }
            let (value, overflow) = n.multipliedReportingOverflow(by: factor)
            guard !overflow, value >= minimum else { break }
            return value
        }
        throw ValueProblem("'\(text)' is not a size of at least \(minimum) bytes (e.g. 16MiB, 512KiB)")
    }

    static func directory(_ text: Substring) throws(ValueProblem) -> String {
        let path = String(ConfigValue.trim(text))
        guard path.hasPrefix("/") else { throw ValueProblem("'\(text)' is not an absolute directory path") }
        return path
    }
}
