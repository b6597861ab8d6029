import WireGuard

// The typed form of a warren config file: an INI file that is a superset of wg-quick's.
// A stock wg-quick file parses unchanged as a plain tunnel; warren's own sections
// ([Gateway], [Provider], [Exit]) are kept raw here until the features that read them exist.
//
// Reading and checking the text lives in ConfigParser.swift and ConfigValues.swift;
// the error type in ConfigError.swift; key text in ConfigBase64Key.swift.

/// One tunnel, as read from `/etc/warren/NAME.conf`.
public struct TunnelConfig: Sendable, Equatable {
    public var interface: InterfaceConfig
    public var peers: [PeerConfig]
    /// Sections reserved for later features ([Gateway], [Provider], [Exit]), unparsed, in file order.
    public var extraSections: [RawSection]

    public init(interface: InterfaceConfig, peers: [PeerConfig] = [], extraSections: [RawSection] = []) {
        self.interface = interface
        self.peers = peers
        self.extraSections = extraSections
    }

    /// Reads and parses the file at `path`; errors name `path` as the file.
    public static func load(path: String) throws(ConfigError) -> TunnelConfig {
        let text = try ConfigFile.readText(path: path)
        return try parse(text, file: path)
    }

    /// Parses config text; `file` is only used to name the source in errors.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> TunnelConfig {
        try ConfigParser(file: file).parse(text)
    }
}

/// The `[Interface]` section: our own key, addresses and the wg-quick settings around them.
public struct InterfaceConfig: Sendable, Equatable {
    /// 32 bytes, required.
    public var privateKey: [UInt8]
    /// `Address`, with host bits as written; a bare address is a host prefix.
    public var addresses: [IPPrefix]
    /// `ListenPort`; 0 asks for a random port, nil leaves the choice to the agent.
    public var listenPort: UInt16?
    /// `MTU`, 576...9000 (1280...9000 when any address is IPv6).
    public var mtu: Int?
    /// `DNS`: resolver addresses and search domains, in the order and spelling given.
    public var dns: [String]
    /// `FwMark`; `off` and 0 both mean no mark.
    public var fwMark: UInt32?
    /// `Table`: where wg-quick-style routes for AllowedIPs go.
    public var table: RouteTable
    /// `PreUp`, `PostUp`, `PreDown`, `PostDown` command lines, keyed by those canonical names,
    /// kept for wg-quick compatibility and never run by the parser.
    public var hooks: [String: [String]]
    /// `SaveConfig`.
    public var saveConfig: Bool
    /// The lines each key was written on, keyed by canonical name (`DNS`, `PostUp`, …), for
    /// messages about a key after parsing (ConfigReview). Empty for a config built in code.
    public var keyLines: [String: [Int]]

    public init(
        privateKey: [UInt8], addresses: [IPPrefix] = [], listenPort: UInt16? = nil, mtu: Int? = nil,
        dns: [String] = [], fwMark: UInt32? = nil, table: RouteTable = .auto,
        hooks: [String: [String]] = [:], saveConfig: Bool = false, keyLines: [String: [Int]] = [:]
    ) {
        self.keyLines = keyLines
        self.privateKey = privateKey
        self.addresses = addresses
        self.listenPort = listenPort
        self.mtu = mtu
        self.dns = dns
        self.fwMark = fwMark
        self.table = table
        self.hooks = hooks
        self.saveConfig = saveConfig
    }
}

/// wg-quick's `Table`: `auto` picks a table (and policy rules for a default route),
/// `off` adds no routes, a number names the routing table.
public enum RouteTable: Sendable, Equatable {
    case auto
    case off
    case number(UInt32)
}

/// One `[Peer]` section.
public struct PeerConfig: Sendable, Equatable {
    /// 32 bytes, required, unique within the file.
    public var publicKey: [UInt8]
    /// 32 bytes.
    public var presharedKey: [UInt8]?
    public var endpoint: EndpointSpec?
    /// As written, host bits included; the core masks them.
    public var allowedIPs: [IPPrefix]
    /// Seconds, 1...65535; `0` and `off` give nil.
    public var persistentKeepalive: Int?
    /// The line of the `[Peer]` header, for later messages about this peer.
    public var line: Int

    public init(
        publicKey: [UInt8], presharedKey: [UInt8]? = nil, endpoint: EndpointSpec? = nil,
        allowedIPs: [IPPrefix] = [], persistentKeepalive: Int? = nil, line: Int
    ) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
        self.line = line
    }
}

/// A peer's `Endpoint` before name resolution: an IP literal or a host name, and a port.
public struct EndpointSpec: Sendable, Equatable, CustomStringConvertible {
    /// Without brackets, even for IPv6.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A reserved section kept as text for a later feature to parse.
public struct RawSection: Sendable, Equatable {
    /// Canonical spelling: `Gateway`, `Provider` or `Exit`.
    public var name: String
    /// Line of the header.
    public var line: Int
    public var entries: [RawEntry]

    public init(name: String, line: Int, entries: [RawEntry] = []) {
        self.name = name
        self.line = line
        self.entries = entries
    }
}

/// One `Key = Value` line of a reserved section, key as written, value trimmed, comment stripped.
public struct RawEntry: Sendable, Equatable {
    public var key: String
    public var value: String
    public var line: Int

    public init(key: String, value: String, line: Int) {
        self.key = key
        self.value = value
        self.line = line
    }
}
