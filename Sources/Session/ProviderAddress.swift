import WireGuard

/// Where to reach a provider and who it must be: `IDENTITY@HOST:PORT`.
///
/// This is all a consumer needs to open a session (the identity gives the key to seal the
/// request to; the host and port give where to send it), so it is the one string a user
/// pastes. An IPv6 host is written in brackets, as in URLs: `wr1…@[2001:db8::1]:51820`.
/// Host names are kept as text: resolving them is the agent's job, not the protocol core's.
public struct ProviderAddress: Hashable, Sendable, CustomStringConvertible {
    public let identity: PublicIdentity
    /// An IPv4 literal, an IPv6 literal (without brackets) or a DNS host name.
    public let host: String
    public let port: UInt16

    public init(identity: PublicIdentity, host: String, port: UInt16) {
        self.identity = identity
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(ProviderAddressError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard let at = trimmed.firstIndex(of: "@") else { throw .missingAt }
        do throws(IdentityTextError) {
            identity = try PublicIdentity(parsing: String(trimmed[..<at]))
        } catch {
            throw .identity(error)
        }
        let location = trimmed[trimmed.index(after: at)...]
        let hostText: Substring
        let portText: Substring
        if location.first == "[" {
            guard let close = location.firstIndex(of: "]") else { throw .badHost(String(location)) }
            hostText = location[location.index(after: location.startIndex)..<close]
            let rest = location[location.index(after: close)...]
            guard rest.first == ":" else { throw .missingPort }
            portText = rest.dropFirst()
            guard let address = IPAddress(parsing: hostText), !address.isV4 else { throw .badHost(String(hostText)) }
        } else {
            guard let colon = location.lastIndex(of: ":") else { throw .missingPort }
            hostText = location[..<colon]
            portText = location[location.index(after: colon)...]
            if hostText.contains(":") { throw .unbracketedIPv6(String(location)) }
            guard !hostText.isEmpty, Self.isHostName(hostText) || IPAddress(parsing: hostText) != nil else {
                throw .badHost(String(hostText))
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = UInt16(portText), port != 0 else { throw .badPort(String(portText)) }
        self.host = String(hostText)
        self.port = port
    }

    /// The endpoint when the host is an address literal; nil for a host name still to resolve.
    public var endpoint: Endpoint? {
        IPAddress(parsing: host).map { Endpoint(address: $0, port: port) }
    }

    public var description: String {
        host.contains(":") ? "\(identity)@[\(host)]:\(port)" : "\(identity)@\(host):\(port)"
    }

    /// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens,
    /// at most 63 characters each and 253 in all. An all-numeric name is not one (it would be
    /// a malformed IPv4 address).
    static func isHostName(_ text: Substring) -> Bool {
        let name = text.hasSuffix(".") ? text.dropLast() : text
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
        }
        return !(labels.last ?? "").allSatisfy { $0.isNumber }
    }
}

/// Why a provider address was not accepted, with the expected shape in the message.
public enum ProviderAddressError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingAt
    case identity(IdentityTextError)
    case missingPort
    case badPort(String)
    case badHost(String)
    case unbracketedIPv6(String)

    static let shape = "expected IDENTITY@HOST:PORT, e.g. wr1…@203.0.113.7:51820 or wr1…@[2001:db8::1]:51820"

    public var description: String {
        switch self {
        case .missingAt: return "not a provider address: \(Self.shape)"
        case .identity(let error): return "bad provider address: \(error)"
        case .missingPort: return "provider address has no port: \(Self.shape)"
        case .badPort(let text): return "provider address has a bad port '\(text)': a number from 1 to 65535"
        case .badHost(let text): return "provider address has a bad host '\(text)': \(Self.shape)"
        case .unbracketedIPv6(let text): return "an IPv6 host goes in brackets: '[address]:port', not '\(text)'"
        }
    }
}
