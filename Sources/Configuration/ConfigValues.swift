import WireGuard

/// What is wrong with one value; the parser adds the file, line and key.
struct ValueProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Parsers for the values of config keys, each strict and each saying what it expected.
enum ConfigValue {
    static let keyExpectation =
        "expected 44 characters of base64 for a 32-byte key (as printed by `warren keygen` or `wg genkey`)"

    /// A 32-byte key. A secret key's text is never echoed back into an error (errors reach logs).
    static func key(_ text: Substring, secret: Bool) throws(ValueProblem) -> [UInt8] {
        if let bytes = Base64Key.decode(text), bytes.count == 32 { return bytes }
        let shown = secret ? "the value (\(text.count) characters)" : "'\(text)'"
        throw ValueProblem("\(shown) is not a key: \(keyExpectation)")
    }

    /// Comma-separated items, each trimmed; empty items are an error.
    static func list(_ text: Substring) throws(ValueProblem) -> [Substring] {
        var items: [Substring] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = trim(item)
            guard !trimmed.isEmpty else { throw ValueProblem("'\(text)' has an empty item between commas") }
            items.append(trimmed)
        }
        return items
    }

    /// One `ADDR/LEN` or bare `ADDR` (a host prefix). `example` completes "expected e.g. …".
    static func prefix(_ text: Substring, example: String) throws(ValueProblem) -> IPPrefix {
        if let prefix = IPPrefix(parsing: text) { return prefix }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, let address = IPAddress(parsing: parts[0]) {
            throw ValueProblem("'\(text)' has a bad prefix length (expected /0 to /\(address.bitWidth) for IPv\(address.isV4 ? 4 : 6))")
        }
        throw ValueProblem("'\(text)' is not an IP prefix (expected e.g. \(example))")
    }

    /// A decimal number made only of ASCII digits (no sign, no spaces), or nil.
    static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    static func listenPort(_ text: Substring) throws(ValueProblem) -> UInt16 {
        guard let value = decimal(text), value <= 65535 else {
            throw ValueProblem("'\(text)' is not a port (expected 1...65535, or 0 for a random port)")
        }
        return UInt16(value)
    }

    /// The MTU, checked against the IPv4 range; the IPv6 minimum is checked once addresses are known.
    static func mtu(_ text: Substring) throws(ValueProblem) -> Int {
        guard let value = decimal(text), value >= 576, value <= 9000 else {
            throw ValueProblem("'\(text)' is not an MTU (expected 576...9000, at least 1280 with IPv6)")
        }
        return Int(value)
    }

    /// `0x1234`, `1234` or `off` (0 also means off, as for `wg`).
    static func fwMark(_ text: Substring) throws(ValueProblem) -> UInt32? {
        if text.lowercased() == "off" { return nil }
        var value: UInt64?
        let lower = text.lowercased()
        if lower.hasPrefix("0x") {
            let digits = lower.dropFirst(2)
            if !digits.isEmpty, digits.count <= 8, digits.allSatisfy({ $0.isHexDigit && $0.isASCII }) {
                value = UInt64(digits, radix: 16)
            }
        } else {
            value = decimal(text)
        }
        guard let value, value <= UInt64(UInt32.max) else {
            throw ValueProblem("'\(text)' is not a firewall mark (expected a 32-bit number like 51820 or 0xca6c, or off)")
        }
        return value == 0 ? nil : UInt32(value)
    }

    /// `auto`, `off`, a table number, or one of iproute2's fixed names.
    static func table(_ text: Substring) throws(ValueProblem) -> RouteTable {
        switch text.lowercased() {
        case "auto": return .auto
        case "off": return .off
        case "main": return .number(254)
        case "local": return .number(255)
        case "default": return .number(253)
        default:
            guard let value = decimal(text), value >= 1, value <= UInt64(UInt32.max) else {
                throw ValueProblem("'\(text)' is not a routing table (expected auto, off, main, or a number 1...4294967295)")
            }
            return .number(UInt32(value))
        }
    }

    static func bool(_ text: Substring) throws(ValueProblem) -> Bool {
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ValueProblem("'\(text)' is not true or false")
        }
    }

    /// Seconds between keepalives; `0` and `off` mean none.
    static func keepalive(_ text: Substring) throws(ValueProblem) -> Int? {
        if text.lowercased() == "off" { return nil }
        guard let value = decimal(text), value <= 65535 else {
            throw ValueProblem("'\(text)' is not a keepalive interval (expected seconds 1...65535, e.g. 25, or 0 or off for none)")
        }
        return value == 0 ? nil : Int(value)
    }

    /// One `DNS` item: a resolver address (validated when it looks like one) or a search domain.
    static func dnsEntry(_ text: Substring) throws(ValueProblem) -> String {
        if looksLikeAddress(text) {
            guard IPAddress(parsing: text) != nil else {
                throw ValueProblem("'\(text)' is not an IP address (expected a resolver like 10.0.0.1 or fd00::1, or a search domain)")
            }
            return String(text)
        }
        guard isHostName(text) else {
            throw ValueProblem("'\(text)' is neither an IP address nor a search domain")
        }
        return String(text)
    }

    static let endpointExamples = "203.0.113.1:51820, [2001:db8::1]:51820 or vpn.example.com:51820"

    /// `1.2.3.4:51820`, `[fd00::1]:51820` or `host.name:51820`.
    static func endpoint(_ text: Substring) throws(ValueProblem) -> EndpointSpec {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ValueProblem("'\(text)' has no closing ']' (expected e.g. [2001:db8::1]:51820)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            guard host.contains(":"), IPAddress(parsing: host) != nil else {
                throw ValueProblem("'\(host)' in brackets is not an IPv6 address (expected e.g. [2001:db8::1]:51820)")
            }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                throw ValueProblem(rest.isEmpty
                    ? "'\(text)' has no port (expected e.g. [\(host)]:51820)"
                    : "'\(text)' has '\(rest)' after ']' (expected e.g. [\(host)]:51820)")
            }
            portText = rest.dropFirst()
        } else {
            let colons = text.count(where: { $0 == ":" })
            if colons == 0 {
                throw ValueProblem("'\(text)' has no port (expected host:port, e.g. \(endpointExamples))")
            }
            if colons > 1 {
                var hint = "[2001:db8::1]:51820"
                let lastColon = text.lastIndex(of: ":")!
                if IPAddress(parsing: text[..<lastColon]) != nil, let port = decimal(text[text.index(after: lastColon)...]),
                   (1...65535).contains(port) {
                    hint = "[\(text[..<lastColon])]:\(port)"
                } else if IPAddress(parsing: text) != nil {
                    hint = "[\(text)]:51820"
                }
                throw ValueProblem("'\(text)': an IPv6 endpoint needs brackets around the address (expected e.g. \(hint))")
            }
            let colon = text.firstIndex(of: ":")!
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if looksLikeAddress(host) {
                guard IPAddress(parsing: host) != nil else {
                    throw ValueProblem("'\(host)' is not an IPv4 address (expected e.g. \(endpointExamples))")
                }
            } else if !isHostName(host) {
                throw ValueProblem("'\(host)' is not a host name or IP address (expected e.g. \(endpointExamples))")
            }
        }
        guard let port = decimal(portText), port >= 1, port <= 65535 else {
            throw ValueProblem(portText.isEmpty
                ? "'\(text)' has no port (expected host:port, e.g. \(endpointExamples))"
                : "port '\(portText)' is not 1...65535")
        }
        return EndpointSpec(host: String(host), port: UInt16(port))
    }

    /// Text that a reader would take for an IP literal: it has a colon, or only digits and dots.
    static func looksLikeAddress(_ text: Substring) -> Bool {
        text.contains(":") || (!text.isEmpty && text.utf8.allSatisfy { $0 == UInt8(ascii: ".") || ($0 >= 0x30 && $0 <= 0x39) })
    }

    /// RFC 1123 host name: dot-separated labels of letters, digits, `-` (and `_`, seen in the wild),
    /// 1...63 characters each, not starting or ending with `-`; one trailing dot allowed.
    static func isHostName(_ text: Substring) -> Bool {
        var name = text
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ isHostNameByte($0) }) else { return false }
        }
        return true
    }

    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    /// `text` without leading and trailing whitespace.
    static func trim(_ text: Substring) -> Substring {
        var result = text
        while let first = result.first, first.isWhitespace { result = result.dropFirst() }
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }
}
