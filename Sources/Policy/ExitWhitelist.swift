import WireGuard

/// Where a provider lets its consumers go: domain suffixes and IP prefixes from a whitelist
/// file, plus the addresses its DNS forwarder learned from answers for whitelisted names.
///
/// The forwarder asks `allowsName` before it resolves anything and calls `learn` for every
/// address in the answer before it hands the answer back, so by the time a consumer opens a
/// connection the data plane's `allowsDestination` already knows the address. Learned entries
/// live for the record's TTL, raised to a floor (CDNs answer with TTLs of seconds, yet clients
/// keep connections open for minutes) and cut to a cap, and the table is bounded.
///
/// File format: one entry a line; `#` starts a comment anywhere; blank lines are ignored.
/// An entry is a domain suffix (`netflix.com`, `.netflix.com` and `*.netflix.com` all mean
/// the name and everything under it; case and a trailing dot do not matter) or an IPv4/IPv6
/// prefix (a bare address is a host prefix).
public struct ExitWhitelist: Sendable {
    /// How long learned addresses live and how many are kept.
    public struct LearningLimits: Sendable, Equatable {
        /// TTLs below this are raised to it (seconds).
        public var minimumTTL: UInt32
        /// TTLs above this are cut to it (seconds).
        public var maximumTTL: UInt32
        /// The most learned addresses kept; when full, the soonest to expire is dropped.
        public var capacity: Int

        public init(minimumTTL: UInt32 = 60, maximumTTL: UInt32 = 86_400, capacity: Int = 65_536) {
            self.minimumTTL = minimumTTL
            self.maximumTTL = maximumTTL
            self.capacity = capacity
        }

        public static let standard = LearningLimits()
    }

    /// The domain suffixes on the list, canonical (lowercase, no leading or trailing dot).
    public private(set) var domainSuffixes: Set<String> = []
    /// The prefixes on the list, host bits clear.
    public private(set) var prefixes: [IPPrefix] = []
    public let limits: LearningLimits

    private var prefixTable = AllowedIPs<IPPrefix>()
    private var learned: LearnedAddresses

    /// An empty list: allows nothing until entries are added.
    public init(limits: LearningLimits = .standard) {
        self.limits = limits
        learned = LearnedAddresses(capacity: limits.capacity)
    }

    /// Parses the text of a whitelist file; `file` only names it in errors.
    public init(parsing text: String, file: String, limits: LearningLimits = .standard) throws(WhitelistError) {
        self.init(limits: limits)
        // Bytes, not Characters: "\r\n" is one Character, and a CRLF file must still split into lines.
        var lineNumber = 0
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var content = rawLine
            if let hash = content.firstIndex(of: UInt8(ascii: "#")) { content = content[..<hash] }
            let words = content.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") })
            guard let first = words.first, let last = words.last else { continue }
            guard words.count == 1 else {
                let line = Substring(content[first.startIndex..<last.endIndex])
                throw WhitelistError(file: file, line: lineNumber, entry: String(line), reason: .multipleEntries)
            }
            let entry = Substring(first)
            do throws(WhitelistError.Reason) {
                try add(entry: entry)
            } catch {
                throw WhitelistError(file: file, line: lineNumber, entry: String(entry), reason: error)
            }
        }
    }

    /// Adds a domain suffix; throws the reason it is not a valid entry.
    public mutating func addDomainSuffix(_ suffix: String) throws(WhitelistError.Reason) {
        try add(entry: Substring(suffix))
    }

    /// Adds a prefix (host bits are cleared).
    public mutating func addPrefix(_ prefix: IPPrefix) {
        let network = prefix.network
        guard !prefixes.contains(network) else { return }
        prefixes.append(network)
        prefixTable.insert(network, value: network)
    }

    // MARK: Names (the DNS forwarder's question)

    /// Whether `name` is a listed suffix or lies under one, compared by whole labels.
    public func allowsName(_ name: String) -> Bool {
        guard !domainSuffixes.isEmpty, let canonical = HostName.canonical(name) else { return false }
        for suffix in HostName.suffixes(of: canonical) where domainSuffixes.contains(String(suffix)) {
            return true
        }
        return false
    }

    // MARK: Learned addresses

    /// Remembers `address` from an answer for a whitelisted name, for `ttlSeconds` clamped to
    /// the limits, counted from `now` (monotonic nanoseconds).
    public mutating func learn(_ address: IPAddress, ttlSeconds: UInt32, now: UInt64) {
        let seconds = min(max(ttlSeconds, limits.minimumTTL), limits.maximumTTL)
        let (lifetime, overflowLifetime) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (expiry, overflowExpiry) = now.addingReportingOverflow(lifetime)
        learned.learn(address, until: overflowLifetime || overflowExpiry ? UInt64.max : expiry)
    }

    /// Drops learned addresses whose time has run out; call it from a periodic timer.
    public mutating func expire(now: UInt64) {
        learned.expire(now: now)
    }

    /// Forgets every learned address (the list itself stays).
    public mutating func forgetLearned() {
        learned.removeAll()
    }

    /// How many learned addresses are held, expired ones included until `expire` runs.
    public var learnedCount: Int { learned.count }

    /// When a learned address stops being allowed, if it is learned.
    public func learnedExpiry(of address: IPAddress) -> UInt64? { learned.expiry(of: address) }

    // MARK: Destinations (the data plane's question)

    /// Whether a packet may go to `destination`: on a listed prefix, or learned and not expired.
    @inline(__always)
    public func allowsDestination(_ destination: IPAddress, now: UInt64) -> Bool {
        if let expiry = learned.expiry(of: destination), expiry > now { return true }
        return prefixTable.lookup(destination) != nil
    }

    /// The same question for the destination of a raw IPv4 or IPv6 packet, without allocating;
    /// false for bytes too short to hold a destination.
    public func allowsDestination(packet: UnsafeRawBufferPointer, now: UInt64) -> Bool {
        guard let destination = InnerPacketHeader.destination(of: packet) else { return false }
        return allowsDestination(destination, now: now)
    }

    // MARK: Parsing one entry

    private mutating func add(entry: Substring) throws(WhitelistError.Reason) {
        let looksNumeric = entry.contains(where: { $0.isASCII && $0.isNumber })
            && entry.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) })
        if entry.contains(":") || entry.contains("/") || looksNumeric {
            guard let prefix = IPPrefix(parsing: entry) else { throw .invalidAddress }
            guard prefix.network == prefix else { throw .hostBitsSet(network: prefix.network) }
            addPrefix(prefix)
            return
        }
        var name = entry
        if name.hasPrefix("*.") {
            name = name.dropFirst(2)
        } else if name.hasPrefix(".") {
            name = name.dropFirst()
        }
        if name.contains("*") { throw .misplacedWildcard }
        if name.hasSuffix(".") { name = name.dropLast() }
        if let problem = HostName.problem(in: name) { throw problem }
        domainSuffixes.insert(String(decoding: name.utf8.map(HostName.lowercased), as: UTF8.self))
    }
}
