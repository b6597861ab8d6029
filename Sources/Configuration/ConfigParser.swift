import WireGuard

// Config text to TunnelConfig in two steps:
//
//   text ─ split() ─▶ sections of (key, value, line) ─ interface()/peer() ─▶ typed values
//
// The rules follow wg-quick where it has one and are stricter where it is silent:
// `#` starts a comment anywhere (wg-quick strips from `#` to the end of the line, hooks
// included); `;` starts a comment only at the start of a line, because `;` separates
// commands in PostUp lines of stock configs. Keys and section names are case-insensitive.
// A key that may not repeat is an error the second time, where wg-quick would silently take
// the last value. Every error names the line of the offending key or header.

/// The keys of `[Interface]`, spelled as wg-quick documents them.
enum InterfaceKey: String, CaseIterable {
    case privateKey = "PrivateKey", address = "Address", listenPort = "ListenPort", mtu = "MTU"
    case dns = "DNS", fwMark = "FwMark", table = "Table"
    case preUp = "PreUp", postUp = "PostUp", preDown = "PreDown", postDown = "PostDown"
    case saveConfig = "SaveConfig"

    /// Keys that wg-quick accumulates when they repeat.
    var mayRepeat: Bool {
        switch self {
        case .address, .dns, .preUp, .postUp, .preDown, .postDown: return true
        default: return false
        }
    }
}

/// The keys of `[Peer]`.
enum PeerKey: String, CaseIterable {
    case publicKey = "PublicKey", presharedKey = "PresharedKey", endpoint = "Endpoint"
    case allowedIPs = "AllowedIPs", persistentKeepalive = "PersistentKeepalive"

    var mayRepeat: Bool { self == .allowedIPs }
}

struct ConfigParser {
    let file: String

    private struct Entry {
        var key: Substring
        var value: Substring
        var line: Int
    }

    private enum SectionKind: Equatable {
        case interface
        case peer
        case reserved(String)
    }

    private struct Section {
        var kind: SectionKind
        var line: Int
        var entries: [Entry] = []
    }

    private static let reservedSections = ["Gateway", "Provider", "Exit"]

    func parse(_ text: String) throws(ConfigError) -> TunnelConfig {
        var interface: InterfaceConfig?
        var interfaceLine = 0
        var peers: [PeerConfig] = []
        var peerLineByKey: [[UInt8]: Int] = [:]
        var extraSections: [RawSection] = []

        for section in try split(text) {
            switch section.kind {
            case .interface:
                if interface != nil {
                    throw error(section.line, nil,
                                "a second [Interface] section (the first is on line \(interfaceLine)); one file describes one interface")
                }
                interface = try self.interface(section)
                interfaceLine = section.line
            case .peer:
                let (peer, keyLine) = try self.peer(section)
                if let first = peerLineByKey[peer.publicKey] {
                    throw error(keyLine, PeerKey.publicKey.rawValue,
                                "'\(Base64Key.encode(peer.publicKey))' is already the key of the [Peer] on line \(first); each peer needs its own key")
                }
                peerLineByKey[peer.publicKey] = peer.line
                peers.append(peer)
            case .reserved(let name):
                let entries = section.entries.map { RawEntry(key: String($0.key), value: String($0.value), line: $0.line) }
                extraSections.append(RawSection(name: name, line: section.line, entries: entries))
            }
        }
        // A provider or a consumer of one uses the node identity's key instead, and may
        // leave out [Interface] altogether.
        let usesIdentity = extraSections.contains { $0.name == "Provider" || $0.name == "Exit" }
        guard let interface = interface ?? (usesIdentity ? InterfaceConfig(privateKey: []) : nil) else {
            throw error(nil, nil, "has no [Interface] section (every config needs one, with at least a PrivateKey)")
        }
        if interface.privateKey.isEmpty && !usesIdentity {
            throw error(interfaceLine, InterfaceKey.privateKey.rawValue,
                        "missing from this [Interface] section (generate one with `warren keygen` or `wg genkey`)")
        }
        return TunnelConfig(interface: interface, peers: peers, extraSections: extraSections)
    }

    // MARK: Lines and sections

    private func split(_ text: String) throws(ConfigError) -> [Section] {
        var sections: [Section] = []
        var current: Section?
        var number = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            var line = rawLine
            if number == 1, line.first == "\u{FEFF}" { line = line.dropFirst() }
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            line = ConfigValue.trim(line)
            if line.isEmpty || line.first == ";" { continue }

            if line.first == "[" {
                guard line.last == "]", line.count >= 2 else {
                    throw error(number, nil, "'\(line)' is not a section header (expected e.g. [Peer])")
                }
                let kind = try sectionKind(ConfigValue.trim(line.dropFirst().dropLast()), line: number)
                if let current { sections.append(current) }
                current = Section(kind: kind, line: number)
                continue
            }

            guard let equals = line.firstIndex(of: "=") else {
                throw error(number, nil, "'\(line)' is neither KEY = VALUE nor a [Section] header")
            }
            let key = ConfigValue.trim(line[..<equals])
            let value = ConfigValue.trim(line[line.index(after: equals)...])
            guard !key.isEmpty else {
                throw error(number, nil, "'\(line)' has no key before '='")
            }
            guard current != nil else {
                throw error(number, String(key), "is outside any section (keys go under [Interface] or [Peer])")
            }
            current?.entries.append(Entry(key: key, value: value, line: number))
        }
        if let current { sections.append(current) }
        return sections
    }

    private func sectionKind(_ name: Substring, line: Int) throws(ConfigError) -> SectionKind {
        switch name.lowercased() {
        case "interface": return .interface
        case "peer": return .peer
        default:
            if let reserved = Self.reservedSections.first(where: { $0.lowercased() == name.lowercased() }) {
                return .reserved(reserved)
            }
            throw error(line, nil,
                        "unknown section [\(name)] (expected [Interface] or [Peer], or warren's [Gateway], [Provider] or [Exit])")
        }
    }

    // MARK: [Interface]

    private func interface(_ section: Section) throws(ConfigError) -> InterfaceConfig {
        var privateKey: [UInt8]?
        var config = InterfaceConfig(privateKey: [])
        var mtuLine = 0
        var seen: [String: Int] = [:]

        for entry in section.entries {
            guard let key = InterfaceKey.allCases.first(where: { $0.rawValue.lowercased() == entry.key.lowercased() }) else {
                throw unknownKey(entry, section: "Interface",
                                 valid: InterfaceKey.allCases.map(\.rawValue), other: ("Peer", PeerKey.allCases.map(\.rawValue)))
            }
            let name = key.rawValue
            try checkRepeat(entry, name, mayRepeat: key.mayRepeat, seen: &seen)
            guard !entry.value.isEmpty else { throw error(entry.line, name, "has no value") }
            config.keyLines[name, default: []].append(entry.line)

            switch key {
            case .privateKey:
                privateKey = try value(entry, name) { text throws(ValueProblem) in try ConfigValue.key(text, secret: true) }
            case .address:
                let prefixes = try value(entry, name) { text throws(ValueProblem) in
                    try ConfigValue.list(text).map { item throws(ValueProblem) in
                        try ConfigValue.prefix(item, example: "10.0.0.1/24 or fd00::1/64")
                    }
                }
                for prefix in prefixes {
                    if config.addresses.contains(prefix) { throw error(entry.line, name, "'\(prefix)' is listed twice") }
                    config.addresses.append(prefix)
                }
            case .listenPort:
                config.listenPort = try value(entry, name, ConfigValue.listenPort)
            case .mtu:
                config.mtu = try value(entry, name, ConfigValue.mtu)
                mtuLine = entry.line
            case .dns:
                config.dns += try value(entry, name) { text throws(ValueProblem) in
                    try ConfigValue.list(text).map { item throws(ValueProblem) in try ConfigValue.dnsEntry(item) }
                }
            case .fwMark:
                config.fwMark = try value(entry, name, ConfigValue.fwMark)
            case .table:
                config.table = try value(entry, name, ConfigValue.table)
            case .preUp, .postUp, .preDown, .postDown:
                config.hooks[name, default: []].append(String(entry.value))
            case .saveConfig:
                config.saveConfig = try value(entry, name, ConfigValue.bool)
            }
        }

        // A missing key is checked once the whole file is read: [Provider] and [Exit] need none.
        config.privateKey = privateKey ?? []
        if let mtu = config.mtu, mtu < 1280, let v6 = config.addresses.first(where: { !$0.address.isV4 }) {
            throw error(mtuLine, InterfaceKey.mtu.rawValue,
                        "\(mtu) is below 1280, the IPv6 minimum, and the interface has the IPv6 address \(v6)")
        }
        return config
    }

    // MARK: [Peer]

    /// The peer, and the line of its PublicKey (for the duplicate-key error).
    private func peer(_ section: Section) throws(ConfigError) -> (PeerConfig, Int) {
        var publicKey: [UInt8]?
        var config = PeerConfig(publicKey: [], line: section.line)
        var seen: [String: Int] = [:]

        for entry in section.entries {
            guard let key = PeerKey.allCases.first(where: { $0.rawValue.lowercased() == entry.key.lowercased() }) else {
                throw unknownKey(entry, section: "Peer",
                                 valid: PeerKey.allCases.map(\.rawValue), other: ("Interface", InterfaceKey.allCases.map(\.rawValue)))
            }
            let name = key.rawValue
            try checkRepeat(entry, name, mayRepeat: key.mayRepeat, seen: &seen)
            // An empty AllowedIPs is a peer that routes nothing, as with `wg`.
            guard !entry.value.isEmpty || key == .allowedIPs else { throw error(entry.line, name, "has no value") }

            switch key {
            case .publicKey:
                publicKey = try value(entry, name) { text throws(ValueProblem) in try ConfigValue.key(text, secret: false) }
            case .presharedKey:
                config.presharedKey = try value(entry, name) { text throws(ValueProblem) in
                    try ConfigValue.key(text, secret: true)
                }
            case .endpoint:
                config.endpoint = try value(entry, name, ConfigValue.endpoint)
            case .allowedIPs:
                guard !entry.value.isEmpty else { continue }
                config.allowedIPs += try value(entry, name) { text throws(ValueProblem) in
                    try ConfigValue.list(text).map { item throws(ValueProblem) in
                        try ConfigValue.prefix(item, example: "10.0.0.2/32 or fd00::2/128")
                    }
                }
            case .persistentKeepalive:
                config.persistentKeepalive = try value(entry, name, ConfigValue.keepalive)
            }
        }

        guard let publicKey else {
            throw error(section.line, PeerKey.publicKey.rawValue,
                        "missing from this [Peer] section (the peer's key, as printed by `warren pubkey` or `wg pubkey`)")
        }
        config.publicKey = publicKey
        return (config, seen[PeerKey.publicKey.rawValue] ?? section.line)
    }

    // MARK: Shared checks

    private func value<T>(
        _ entry: Entry, _ key: String, _ parse: (Substring) throws(ValueProblem) -> T
    ) throws(ConfigError) -> T {
        do throws(ValueProblem) {
            return try parse(entry.value)
        } catch {
            throw self.error(entry.line, key, error.message)
        }
    }

    private func checkRepeat(_ entry: Entry, _ key: String, mayRepeat: Bool, seen: inout [String: Int]) throws(ConfigError) {
        if let first = seen[key], !mayRepeat {
            throw error(entry.line, key, "appears twice in this section (first on line \(first))")
        }
        if seen[key] == nil { seen[key] = entry.line }
    }

    private func unknownKey(
        _ entry: Entry, section: String, valid: [String], other: (section: String, keys: [String])
    ) -> ConfigError {
        let written = entry.key.lowercased()
        var message = "unknown key in [\(section)]"
        if other.keys.contains(where: { $0.lowercased() == written }) {
            message = "belongs in [\(other.section)], not [\(section)]"
        } else if let close = valid.first(where: { Self.editDistance($0.lowercased(), written, limit: 2) <= 2 }) {
            message += "; did you mean \(close)?"
        }
        return error(entry.line, String(entry.key), message + " (valid keys: \(valid.joined(separator: ", ")))")
    }

    /// Levenshtein distance, giving up (returning `limit + 1`) for very different lengths.
    static func editDistance(_ a: String, _ b: String, limit: Int) -> Int {
        let a = Array(a), b = Array(b)
        if abs(a.count - b.count) > limit || a.count > 64 || b.count > 64 { return limit + 1 }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                row[j] = Swift.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = row
        }
        return previous[b.count]
    }

    private func error(_ line: Int?, _ key: String?, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, key: key, message: message)
    }
}
