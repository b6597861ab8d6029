import Configuration
import FoundationEssentials
import WireGuard

/// What `warren status` shows, as sent over the control socket (JSON).
public struct AgentStatus: Codable, Sendable, Equatable {
    /// The agent's `WarrenVersion` (absent from agents before 0.9.0).
    public var version: String?
    public var interface: String
    public var publicKey: String
    public var listenPort: Int
    public var mtu: Int
    public var addresses: [String]
    public var peers: [PeerStatus]
    /// Dropped input by reason (malformed, invalidMac, replayed, …).
    public var drops: [String: UInt64]
    public var cookieRepliesSent: UInt64
    /// DNS servers from the config (applied by gateway mode).
    public var dns: [String] = []
    /// Local I/O failures: packets the kernel refused to take.
    public var tunWriteErrors: UInt64 = 0
    public var udpSendErrors: UInt64 = 0
    /// Present when the agent runs as a LAN gateway.
    public var gateway: GatewayStatus?
    /// The node identity (`warren id`), for provider and consumer roles.
    public var identity: String?
    public var provider: ProviderStatus?
    public var exit: ExitStatus?
    public var payment: ConsumerPaymentStatus?
}

/// A consumer's session with its provider.
public struct ExitStatus: Codable, Sendable, Equatable {
    public var provider: String
    public var sessionID: UInt32
    public var addresses: [String]
}

public struct PeerStatus: Codable, Sendable, Equatable {
    public var publicKey: String
    public var presharedKey: Bool
    public var endpoint: String?
    public var allowedIPs: [String]
    /// Unix seconds of the latest completed handshake; 0 if none yet.
    public var latestHandshake: UInt64
    public var rxBytes: UInt64
    public var txBytes: UInt64
    /// Seconds; 0 when off.
    public var persistentKeepalive: Int
}

extension AgentStatus {
    static func snapshot(of tunnel: Tunnel, interface: String, listenPort: Int, addresses: [IPPrefix], presharedKeys: Set<[UInt8]>) -> AgentStatus {
        var drops: [String: UInt64] = [:]
        for reason in DropReason.allCases { drops[reason.rawValue] = tunnel.drops[reason] }
        let peers = tunnel.peers.map { peer in
            PeerStatus(
                publicKey: Base64Key.encode(peer.publicKey),
                presharedKey: presharedKeys.contains(peer.publicKey),
                endpoint: peer.endpoint?.description,
                allowedIPs: tunnel.allowedPrefixes(of: peer).map(\.description),
                latestHandshake: peer.latestHandshakeWall / 1_000_000_000,
                rxBytes: peer.receivedBytes,
                txBytes: peer.sentBytes,
                persistentKeepalive: Int(peer.persistentKeepalive / 1_000_000_000))
        }
        return AgentStatus(version: WarrenVersion.current, interface: interface, publicKey: Base64Key.encode(tunnel.publicKey), listenPort: listenPort,
                           mtu: tunnel.mtu, addresses: addresses.map(\.description), peers: peers, drops: drops,
                           cookieRepliesSent: tunnel.cookieRepliesSent)
    }

    public func jsonBytes() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? Array("{}".utf8)
    }

    public static func decode(_ bytes: [UInt8]) -> AgentStatus? {
        try? JSONDecoder().decode(AgentStatus.self, from: Data(bytes))
    }

    /// The `wg show`-like text rendering.
    public func text(nowUnixSeconds: UInt64) -> String {
        var out = "interface: \(interface)\n"
        out += "  public key: \(publicKey)\n"
        out += "  private key: (hidden)\n"
        out += "  listening port: \(listenPort)\n"
        if !addresses.isEmpty { out += "  addresses: \(addresses.joined(separator: ", "))\n" }
        if !dns.isEmpty { out += "  dns: \(dns.joined(separator: ", "))\n" }
        out += "  mtu: \(mtu)\n"
        let dropped = drops.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        out += "  dropped: " + (dropped.isEmpty ? "none" : dropped.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) + "\n"
        if tunWriteErrors + udpSendErrors > 0 { out += "  i/o errors: \(tunWriteErrors) tun write, \(udpSendErrors) udp send\n" }
        if let gateway {
            out += "\ngateway:\n"
            out += "  lan: \(gateway.lan.joined(separator: ", "))\n"
            out += "  kill switch: " + (gateway.killSwitch ? (gateway.killSwitchArmed ? "armed" : "configured but NOT armed") : "off") + "\n"
            out += "  dropped by kill switch: \(gateway.killSwitchDropped) packets\n"
            out += "  ipv6: \(gateway.ipv6)" + (gateway.ipv6 == "block" ? " (\(gateway.ipv6Blocked) packets dropped)" : "") + "\n"
            out += "  dns: " + (gateway.dns.isEmpty ? "not redirected (no DNS = in [Interface])" : gateway.dns.joined(separator: ", ") + " through the tunnel") + "\n"
            out += "  bypass: " + (gateway.bypass.isEmpty ? "none" : gateway.bypass.joined(separator: ", ")) + "\n"
            out += "  routing: fwmark 0x\(String(gateway.firewallMark, radix: 16)), table \(gateway.table)\n"
        }
        if let identity { out += "\nidentity: \(identity)\n" }
        if let exit {
            out += "\nexit:\n  provider: \(exit.provider)\n  session: \(exit.sessionID)\n  addresses: \(exit.addresses.joined(separator: ", "))\n"
        }
        if let payment {
            out += "\npayment:\n  channel: \(payment.channel) to \(payment.providerWallet)\n"
            out += "  deposit: \(AgentStatus.tokens(payment.deposit)), paid on the channel \(AgentStatus.tokens(payment.paid))\n"
            out += "  this session: spent \(AgentStatus.tokens(payment.paidThisSession)), last invoice \(AgentStatus.tokens(payment.due)) (\(payment.invoices) invoices, \(payment.vouchers) vouchers)\n"
            out += "  today: \(AgentStatus.tokens(payment.spentToday))" + (payment.dailyCap.map { " of \(AgentStatus.tokens($0)) (MaxSpend)" } ?? "") + "\n"
        }
        if let provider {
            out += "\nprovider:\n  exit: \(provider.exit) via \(provider.wan)\n  pool: \(provider.pool.joined(separator: ", "))\n"
            out += "  sessions: \(provider.sessions.count) of \(provider.maxSessions) (refused \(provider.refused), bad requests \(provider.requestsDropped))\n"
            out += "  learned whitelist addresses: \(provider.learnedAddresses)\n"
            if let networks = provider.hostNetworks {
                out += "  host networks (never reached): \(networks.isEmpty ? "none" : networks.joined(separator: ", "))\n"
            }
            if let listeners = provider.dnsForwarder, !listeners.isEmpty {
                out += "  DNS forwarder: \(listeners.joined(separator: ", ")) (port 53 redirected)\n"
            }
            for session in provider.sessions {
                out += "  session \(session.id): \(session.consumer) at \(session.addresses.joined(separator: ", "))\n"
                out += "    bytes: \(AgentStatus.bytes(session.bytesFromConsumer)) from, \(AgentStatus.bytes(session.bytesToConsumer)) to the consumer\n"
                if let channel = session.channel {
                    out += "    channel \(channel): earned \(AgentStatus.tokens(session.earned ?? "0")), due \(AgentStatus.tokens(session.due ?? "0"))\(session.paused == true ? ", PAUSED (behind on payment)" : ""), credit window \(AgentStatus.bytes(session.creditWindow ?? 0))\n"
                } else if session.due != nil {
                    out += "    no payment channel yet: due \(AgentStatus.tokens(session.due ?? "0"))\(session.paused == true ? ", PAUSED" : "")\n"
                }
                out += "    whitelist hits \(session.whitelistHits), dropped \(session.dropped) (not whitelisted \(session.droppedNotWhitelisted), local \(session.droppedLocal), smtp \(session.droppedSMTP)), names refused \(session.namesRefused)\n"
            }
        }
        for peer in peers {
            out += "\npeer: \(peer.publicKey)\n"
            if peer.presharedKey { out += "  preshared key: (hidden)\n" }
            if let endpoint = peer.endpoint { out += "  endpoint: \(endpoint)\n" }
            out += "  allowed ips: \(peer.allowedIPs.isEmpty ? "(none)" : peer.allowedIPs.joined(separator: ", "))\n"
            if peer.latestHandshake > 0 {
                out += "  latest handshake: \(AgentStatus.ago(nowUnixSeconds > peer.latestHandshake ? nowUnixSeconds - peer.latestHandshake : 0))\n"
            } else {
                out += "  latest handshake: (none)\n"
            }
            out += "  transfer: \(AgentStatus.bytes(peer.rxBytes)) received, \(AgentStatus.bytes(peer.txBytes)) sent\n"
            if peer.persistentKeepalive > 0 { out += "  persistent keepalive: every \(peer.persistentKeepalive) seconds\n" }
        }
        return out
    }

    static func ago(_ seconds: UInt64) -> String {
        if seconds == 0 { return "now" }
        var parts: [String] = []
        let units: [(UInt64, String)] = [(86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]
        var left = seconds
        for (size, name) in units where left >= size {
            let n = left / size
            left %= size
            parts.append("\(n) \(name)\(n == 1 ? "" : "s")")
        }
        return parts.joined(separator: ", ") + " ago"
    }

    /// Base units (a decimal string, as in the JSON) as a person reads them (`TokenAmount.shown`).
    static func tokens(_ baseUnits: String) -> String {
        TokenAmount(baseUnits: UInt128(baseUnits) ?? 0).shown
    }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(count) B" }
        let rounded = (value * 100).rounded() / 100
        return "\(rounded) \(units[unit])"
    }
}
