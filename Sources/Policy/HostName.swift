/// Host names as the whitelist compares them: lowercase ASCII, labels joined by `.`,
/// no trailing dot. Matching is by whole labels, so `netflix.com` covers
/// `www.netflix.com` but never `evilnetflix.com`.
enum HostName {
    static let maximumLength = 253
    static let maximumLabelLength = 63

    /// Checks a whitelist entry's name against RFC 1123 host name rules; nil when it is valid.
    /// The name has already lost its leading `.`/`*.` and trailing dot.
    static func problem(in name: Substring) -> WhitelistError.Reason? {
        if name.isEmpty { return .invalidName("empty") }
        guard name.utf8.allSatisfy({ $0 < 0x80 }) else {
            return .invalidName("not ASCII (write an internationalised name in its xn-- form)")
        }
        if name.utf8.count > maximumLength { return .invalidName("longer than \(maximumLength) characters") }
        let labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { return .invalidName("empty label") }
            if label.count > maximumLabelLength { return .invalidName("a label is longer than \(maximumLabelLength) characters") }
            guard label.allSatisfy(isHostNameByte) else {
                return .invalidName("only letters, digits, '-' and '.' are allowed")
            }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") {
                return .invalidName("a label starts or ends with '-'")
            }
        }
        if labels.count < 2 { return .topLevelDomain }
        if let last = labels.last, last.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return .invalidName("the top-level label is numeric")
        }
        return nil
    }

    /// The comparable form of a name from a query: ASCII lowercased, one trailing dot removed.
    /// Nil for a name that cannot match anything (empty, or with an empty label).
    static func canonical(_ name: String) -> String? {
        var bytes = Array(name.utf8)
        if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        if bytes.isEmpty || bytes.first == UInt8(ascii: ".") { return nil }
        var previousWasDot = false
        for i in bytes.indices {
            let byte = bytes[i]
            if byte == UInt8(ascii: ".") {
                if previousWasDot { return nil }
                previousWasDot = true
            } else {
                previousWasDot = false
                bytes[i] = lowercased(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The name itself, then each suffix that starts after a dot: `a.b.c`, `b.c`, `c`.
    static func suffixes(of canonicalName: String) -> [Substring] {
        var result: [Substring] = [Substring(canonicalName)]
        var index = canonicalName.startIndex
        while let dot = canonicalName[index...].firstIndex(of: ".") {
            index = canonicalName.index(after: dot)
            result.append(canonicalName[index...])
        }
        return result
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
