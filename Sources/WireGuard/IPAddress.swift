/// An IPv4 or IPv6 address as bytes in network order.
///
/// The core keeps addresses as plain bytes so that it never depends on the
/// platform's socket structures; the agent converts at the edge.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)                 // host order value of the 4 network-order bytes
    case v6(UInt64, UInt64)         // high and low halves, host order values

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` and an embedded IPv4 tail).
    public init?(parsing text: Substring) {
        if text.contains(":") {
            guard let value = IPAddress.parseV6(text) else { return nil }
            self = value
        } else {
            guard let value = IPAddress.parseV4(text) else { return nil }
            self = .v4(value)
        }
    }

    public init?(parsing text: String) { self.init(parsing: Substring(text)) }

    /// Builds an address from 4 or 16 bytes in network order.
    public init?(bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        switch array.count {
        case 4:
            self = .v4(array.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            let hi = array[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let lo = array[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(hi, lo)
        default:
            return nil
        }
    }

    public var isV4: Bool { if case .v4 = self { return true } else { return false } }

    /// Address bytes in network order (4 or 16 of them).
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value):
            return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let hi, let lo):
            return (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * $0)) }
        }
    }

    /// The width of the address in bits: 32 or 128.
    public var bitWidth: Int { isV4 ? 32 : 128 }

    public var description: String {
        switch self {
        case .v4(let value):
            return (0..<4).map { String((value >> (24 - 8 * UInt32($0))) & 0xff) }.joined(separator: ".")
        case .v6(let hi, let lo):
            // RFC 5952 section 5: an IPv4-mapped address keeps its dotted tail.
            if hi == 0 && lo >> 32 == 0xffff {
                return "::ffff:" + IPAddress.v4(UInt32(truncatingIfNeeded: lo)).description
            }
            var groups: [UInt16] = []
            for i in 0..<4 { groups.append(UInt16(truncatingIfNeeded: hi >> (48 - 16 * UInt64(i)))) }
            for i in 0..<4 { groups.append(UInt16(truncatingIfNeeded: lo >> (48 - 16 * UInt64(i)))) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, first one on ties.
            var bestStart = -1, bestLength = 0, runStart = -1
            for i in 0...8 {
                if i < 8 && groups[i] == 0 {
                    if runStart < 0 { runStart = i }
                } else if runStart >= 0 {
                    if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                    runStart = -1
                }
            }
            if bestLength < 2 { return groups.map { String($0, radix: 16) }.joined(separator: ":") }
            let head = groups[0..<bestStart].map { String($0, radix: 16) }.joined(separator: ":")
            let tail = groups[(bestStart + bestLength)...].map { String($0, radix: 16) }.joined(separator: ":")
            return head + "::" + tail
        }
    }

    private static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            // Leading zeros are refused, as inet_pton does: "010" is octal to some tools.
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0",
                  let octet = UInt32(part), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    private static func parseV6(_ text: Substring) -> IPAddress? {
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        var sawDoubleColon = false
        var halves: [String] = [String(text)]
        if let range = text.firstRange(of: "::") {
            halves = [String(text[..<range.lowerBound]), String(text[range.upperBound...])]
            sawDoubleColon = true
            if halves[1].contains("::") { return nil }
        }

        func parseGroups(_ part: String, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowV4Tail && index == pieces.count - 1 && piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard !piece.isEmpty, piece.count <= 4, piece.allSatisfy(\.isHexDigit),
                      let group = UInt16(piece, radix: 16) else { return nil }
                result.append(group)
            }
            return result
        }

        if sawDoubleColon {
            guard let head = parseGroups(halves[0], allowV4Tail: false),
                  let tail = parseGroups(halves[1], allowV4Tail: true),
                  head.count + tail.count <= 7 else { return nil }
            groups = head
            tailGroups = tail
            groups += Array(repeating: 0, count: 8 - head.count - tail.count) + tailGroups
        } else {
            guard let all = parseGroups(halves[0], allowV4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<4 { hi = hi << 16 | UInt64(groups[i]) }
        for i in 4..<8 { lo = lo << 16 | UInt64(groups[i]) }
        return .v6(hi, lo)
    }
}

/// An address with a prefix length, as in `AllowedIPs = 10.0.0.0/24` or `Address = fd00::1/64`.
///
/// `address` keeps the host bits as written (an interface address needs them);
/// `network` masks them off (a route or an AllowedIPs entry needs that).
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitWidth else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `ADDR/LEN`, or a bare address meaning a host prefix (/32 or /128).
    public init?(parsing text: Substring) {
        var trimmed = text
        while let first = trimmed.first, first == " " || first == "\t" { trimmed = trimmed.dropFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = IPAddress(parsing: parts[0]) else { return nil }
        var length = address.bitWidth
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let parsed = Int(parts[1]) else { return nil }
            length = parsed
        }
        self.init(address: address, length: length)
    }

    public init?(parsing text: String) { self.init(parsing: Substring(text)) }

    /// The prefix with its host bits cleared.
    public var network: IPPrefix {
        switch address {
        case .v4(let value):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return IPPrefix(unchecked: .v4(value & mask), length: length)
        case .v6(let hi, let lo):
            let (maskHi, maskLo) = IPPrefix.v6Mask(length)
            return IPPrefix(unchecked: .v6(hi & maskHi, lo & maskLo), length: length)
        }
    }

    /// Whether `other` falls inside this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case (.v4(let a), .v4(let b)):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return a & mask == b & mask
        case (.v6(let ah, let al), .v6(let bh, let bl)):
            let (mh, ml) = IPPrefix.v6Mask(length)
            return ah & mh == bh & mh && al & ml == bl & ml
        default:
            return false
        }
    }

    public var description: String { "\(address)/\(length)" }

    private init(unchecked address: IPAddress, length: Int) {
        self.address = address
        self.length = length
    }

    static func v6Mask(_ length: Int) -> (UInt64, UInt64) {
        if length == 0 { return (0, 0) }
        if length <= 64 { return (~UInt64(0) << UInt64(64 - length), 0) }
        if length == 128 { return (~UInt64(0), ~UInt64(0)) }
        return (~UInt64(0), ~UInt64(0) << UInt64(128 - length))
    }
}

/// A UDP endpoint: where a peer's datagrams come from and go to.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String {
        address.isV4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}
