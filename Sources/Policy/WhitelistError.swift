import WireGuard

/// A problem in an exit whitelist file, located to the line:
/// `/etc/warren/whitelists/streaming:12: 'netflix..com': empty label`.
///
/// The provider refuses to start on a bad whitelist rather than guess what a
/// line meant: a typo that silently widened or narrowed the exit is worse.
public struct WhitelistError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong with the entry.
    public enum Reason: Error, Sendable, Equatable {
        /// Two or more words on one line: the file holds one entry a line.
        case multipleEntries
        /// Looks like an address (digits and dots, or a `:` or `/`) but does not parse as one.
        case invalidAddress
        /// A prefix whose host bits are set, such as `10.1.2.3/8`; carries the network meant.
        case hostBitsSet(network: IPPrefix)
        /// A `*` anywhere but a leading `*.`.
        case misplacedWildcard
        /// Not a valid host name; says which rule it breaks.
        case invalidName(String)
        /// A single label such as `com`: it would open a whole top-level domain.
        case topLevelDomain
    }

    public var file: String
    public var line: Int
    public var entry: String
    public var reason: Reason

    public init(file: String, line: Int, entry: String, reason: Reason) {
        self.file = file
        self.line = line
        self.entry = entry
        self.reason = reason
    }

    /// `FILE:LINE: 'ENTRY': what was wrong`.
    public var description: String {
        "\(file):\(line): '\(entry)': " + reasonText
    }

    private var reasonText: String {
        switch reason {
        case .multipleEntries: return "only one entry a line (a domain suffix or an IP prefix)"
        case .invalidAddress: return "is not an IP address or prefix"
        case .hostBitsSet(let network): return "has host bits set (did you mean \(network)?)"
        case .misplacedWildcard: return "a wildcard is only accepted as a leading '*.'"
        case .invalidName(let rule): return "is not a valid host name: \(rule)"
        case .topLevelDomain: return "a single label would open a whole top-level domain"
        }
    }
}
