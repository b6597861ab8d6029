/// Where warren keeps its files unless told otherwise; the config's defaults and the agent's
/// options both start from here, so a default ledger is always inside the default state directory.
public enum StandardPaths {
    /// Keys, channel files, host-change journals, the local ledger.
    public static let stateDirectory = "/var/lib/warren"
    /// Control sockets and instance locks (tmpfs: gone at boot, as the agents are).
    public static let runDirectory = "/run/warren"
    /// Where `warren up NAME` looks for NAME.conf (as wg-quick looks in /etc/wireguard).
    public static let configDirectory = "/etc/warren"
}
