import WireGuard

/// The `[Gateway]` section: tunnel a whole LAN through the exit peer, fail-closed.
public struct GatewayConfig: Sendable, Equatable {
    public enum IPv6Policy: String, Sendable, Equatable {
        case tunnel, block
    }

    /// Interfaces whose forwarded traffic is tunnelled (`LAN = br-lan, eth1`).
    public var lanInterfaces: [String]
    /// Drop LAN traffic that would leave anywhere but the tunnel (default on).
    public var killSwitch: Bool
    /// LAN addresses or prefixes that go straight out, untunnelled.
    public var bypass: [IPPrefix]
    /// nil: tunnel IPv6 when the interface has an IPv6 address, otherwise block it.
    public var ipv6: IPv6Policy?
    public var line: Int

    public init(lanInterfaces: [String], killSwitch: Bool = true, bypass: [IPPrefix] = [], ipv6: IPv6Policy? = nil, line: Int = 0) {
        self.lanInterfaces = lanInterfaces
        self.killSwitch = killSwitch
        self.bypass = bypass
        self.ipv6 = ipv6
        self.line = line
    }

    static let keys = ["LAN", "KillSwitch", "Bypass", "IPv6"]

    /// Reads the raw `[Gateway]` section of `file`; nil if the config has none.
    public static func from(_ config: TunnelConfig, file: String) throws(ConfigError) -> GatewayConfig? {
        let sections = config.extraSections.filter { $0.name == "Gateway" }
        guard let section = sections.first else { return nil }
        if sections.count > 1 {
            throw ConfigError(file: file, line: sections[1].line, key: nil, message: "a second [Gateway] section (the first is on line \(section.line)): merge them")
        }
        var lan: [String] = []
        var killSwitch = true
        var bypass: [IPPrefix] = []
        var ipv6: IPv6Policy?
        var seen: [String: Int] = [:]
        for entry in section.entries {
            guard let key = keys.first(where: { $0.lowercased() == entry.key.lowercased() }) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key,
                                  message: "unknown key in [Gateway] (valid keys: \(keys.joined(separator: ", ")))")
            }
            if key != "LAN" && key != "Bypass", let first = seen[key] {
                throw ConfigError(file: file, line: entry.line, key: key, message: "appears twice in this section (first on line \(first))")
            }
            seen[key] = entry.line
            let value = Substring(entry.value)
            func problem(_ message: String) -> ConfigError { ConfigError(file: file, line: entry.line, key: key, message: message) }
            do {
                switch key {
                case "LAN":
                    for name in try ConfigValue.list(value) {
                        guard isInterfaceName(name) else {
                            throw ValueProblem("'\(name)' is not an interface name (1 to 15 characters, no '/', spaces, ':', '\"' or '\\')")
                        }
                        if !lan.contains(String(name)) { lan.append(String(name)) }
                    }
                case "KillSwitch":
                    switch value.lowercased() {
                    case "on", "true", "yes", "1": killSwitch = true
                    case "off", "false", "no", "0": killSwitch = false
                    default: throw ValueProblem("'\(value)' is not on or off")
                    }
                case "Bypass":
                    for item in try ConfigValue.list(value) {
                        bypass.append(try ConfigValue.prefix(item, example: "192.168.1.50 or 192.168.1.48/29").network)
                    }
                default:
                    guard let policy = IPv6Policy(rawValue: value.lowercased()) else {
                        throw ValueProblem("'\(value)' is not tunnel or block")
                    }
                    ipv6 = policy
                }
            } catch let error as ValueProblem {
                throw problem(error.message)
            } catch {
                throw problem("\(error)")
            }
        }
        guard !lan.isEmpty else {
            throw ConfigError(file: file, line: section.line, key: "LAN", message: "[Gateway] needs LAN = the interface(s) of the home network, e.g. LAN = br-lan")
        }
        return GatewayConfig(lanInterfaces: lan, killSwitch: killSwitch, bypass: bypass, ipv6: ipv6, line: section.line)
    }

    /// A name the kernel accepts for another program's interface (a LAN, the WAN): looser than
    /// `InterfaceName`, warren's own, but never a quote or backslash, which would end the
    /// quoted name in an nftables rule.
    static func isInterfaceName(_ name: Substring) -> Bool {
        !name.isEmpty && name.utf8.count <= 15 && name != "." && name != ".."
            && name.utf8.allSatisfy {
                $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":")
                    && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\")
            }
    }
}
