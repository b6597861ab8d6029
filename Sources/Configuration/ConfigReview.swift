import WireGuard

/// What `warren up` says about a parsed config before it touches the system.
///
/// warren reads every wg-quick key, but some it does not act on; a stock config that relies on
/// them would break without a word (a server's NAT in `PostUp`, a full tunnel's `DNS`). So:
///
/// - each such key present gets one warning (however many lines repeat it), naming the file,
///   its first line and what to do instead;
/// - `DNS` naming a resolver, with a full tunnel (a peer with `0.0.0.0/0` or `::/0`) and no
///   `[Gateway]`, is refused: warren does not change the host's resolver, so the queries would
///   leave outside the tunnel, the leak the user wrote `DNS` to prevent. Search domains alone
///   leak nothing and are only warned about.
///
/// With `[Gateway]`, `DNS` is applied (LAN DNS is redirected through the tunnel) and gets no
/// warning. With `[Exit]`, the provider names the resolver; with `[Provider]`, consumers use
/// the provider's own forwarder: in both the key is ignored, with a warning.
public enum ConfigReview {
    /// The warnings for `config` (read from `file`), in file order; throws for a config that
    /// warren refuses to run as written. Warnings are `ConfigError`s only for their
    /// `FILE:LINE: KEY: message` form: they are logged, not thrown.
    public static func warnings(for config: TunnelConfig, file: String) throws(ConfigError) -> [ConfigError] {
        let interface = config.interface
        let sections = Set(config.extraSections.map(\.name))
        var found: [ConfigError] = []

        func lines(_ key: InterfaceKey) -> [Int] { interface.keyLines[key.rawValue] ?? [] }
        func add(_ key: InterfaceKey, _ message: String) {
            let at = lines(key)
            let more = at.count > 1 ? " (also on line\(at.count > 2 ? "s" : "") \(at.dropFirst().map(String.init).joined(separator: ", ")))" : ""
            found.append(ConfigError(file: file, line: at.first, key: key.rawValue, message: message + more))
        }

        for hook in [InterfaceKey.preUp, .postUp, .preDown, .postDown] where !(interface.hooks[hook.rawValue] ?? []).isEmpty {
            add(hook, "ignored: warren never runs hook commands, so what they set up (NAT, firewall rules, routes) is not "
                + "in place; do it outside warren (e.g. ExecStartPre=/ExecStartPost= in the service unit), use [Provider] "
                + "for an exit (it sets up its own NAT), and remove \(hook.rawValue) to silence this")
        }
        if interface.saveConfig {
            add(.saveConfig, "ignored: warren never writes the config back; remove it or set it to false")
        }
        if !interface.dns.isEmpty {
            if sections.contains("Exit") {
                add(.dns, sections.contains("Gateway")
                    ? "ignored: with [Exit] the provider names the resolver, and [Gateway] redirects the LAN's DNS to "
                        + "it; remove DNS"
                    : "ignored: with [Exit] the provider names the resolver inside the tunnel, and this host's resolver "
                        + "is not changed; remove DNS, and point /etc/resolv.conf at the provider's resolver (warren "
                        + "status shows it) or add [Gateway] to redirect a LAN's DNS to it")
            } else if sections.contains("Gateway") {
                // Applied: the LAN's DNS is redirected to it through the tunnel.
            } else if sections.contains("Provider") {
                add(.dns, "ignored: a provider's consumers use its own DNS forwarder, and this host's resolver is not "
                    + "changed; remove DNS")
            } else if interface.dns.contains(where: { IPAddress(parsing: $0) != nil }),
                      let peer = config.peers.first(where: { $0.allowedIPs.contains { $0.length == 0 } }) {
                // Search domains alone leak nothing; a resolver address left unapplied does.
                let route = peer.allowedIPs.first { $0.length == 0 }.map { $0.network.description } ?? "a default route"
                let at = lines(.dns)
                throw ConfigError(
                    file: file, line: at.first, key: InterfaceKey.dns.rawValue,
                    message: "refusing to start: the [Peer] on line \(peer.line) routes \(route) through the tunnel, but "
                        + "without [Gateway] warren does not change this host's resolver, so DNS queries would leave "
                        + "outside the tunnel. Point /etc/resolv.conf at \(interface.dns.joined(separator: ", ")) yourself "
                        + "(e.g. with resolvconf) and remove DNS from this file")
            } else {
                add(.dns, "ignored without [Gateway]: this host's resolver is not changed, so queries go where "
                    + "/etc/resolv.conf says; set the resolver yourself (and route its address through the tunnel with "
                    + "AllowedIPs) and remove DNS, or add [Gateway] to redirect a LAN's DNS through the tunnel")
            }
        }
        return found.sorted { ($0.line ?? 0) < ($1.line ?? 0) }
    }
}
