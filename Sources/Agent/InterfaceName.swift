import Policy
import Configuration
import Glibc

/// An interface name as wg-quick accepts it: 1 to 15 of `A-Z a-z 0-9 _ = + . -`.
/// Every path, nftables table and lock derived from it is safe because of that.
public struct InterfaceName: Sendable, Hashable, CustomStringConvertible {
    public let text: String

    public static let configDirectory = StandardPaths.configDirectory

    public init(_ text: String) throws(AgentError) {
        guard InterfaceName.isValid(text) else {
            throw .usage("\"\(text.escapingControlCharacters)\" is not a valid interface name: use 1 to 15 of the characters A-Z a-z 0-9 _ = + . - (as wg-quick)")
        }
        self.text = text
    }

    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...15).contains(bytes.count), text != ".", text != ".." else { return false }
        return bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    public var description: String { text }

    /// The name as an nftables identifier, one-to-one: letters and digits stay, every other
    /// character becomes `_` and two hex digits (so `wg_0` and `wg-0` never share a table).
    public var nftablesToken: String {
        var out = ""
        for byte in text.utf8 {
            let isAlphanumeric = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            if isAlphanumeric {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16)
                out += "_" + (hex.count < 2 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// wg-quick's rule for `up CONFIG`: a bare name means /etc/warren/NAME.conf; a path names
    /// the interface after its file (`/etc/warren/wg0.conf` → `wg0`). `explicit` (--interface) wins.
    public static func resolve(config: String, explicit: String?) throws(AgentError) -> (path: String, interface: InterfaceName) {
        if !config.contains("/"), !config.hasSuffix(".conf"), isValid(config) {
            let path = "\(configDirectory)/\(config).conf"
            return (path, try InterfaceName(explicit ?? config))
        }
        if let explicit { return (config, try InterfaceName(explicit)) }
        var base = Substring(config.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
        if base.hasSuffix(".conf") { base = base.dropLast(5) }
        guard isValid(String(base)) else {
            throw .usage("cannot name the interface after \(config.escapingControlCharacters): the file's name (without .conf) must be a valid interface name (1 to 15 of A-Z a-z 0-9 _ = + . -); rename the file or give --interface NAME")
        }
        return (config, try InterfaceName(String(base)))
    }
}

extension GatewayRuleset {
    /// The gateway table of interface `name` (`inet warren_NAME`).
    static func tableName(for name: InterfaceName) -> String { tableName(token: name.nftablesToken) }
}

extension ProviderRuleset {
    /// The provider table of interface `name` (`inet warren_provider_NAME`).
    static func tableName(for name: InterfaceName) -> String { tableName(token: name.nftablesToken) }
}
