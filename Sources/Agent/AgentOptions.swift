import Configuration

/// Where an agent keeps its files; one agent per interface.
public struct AgentOptions: Sendable {
    public var configPath: String
    public var interface: InterfaceName
    public var stateDirectory: String
    public var runDirectory: String

    public static let defaultStateDirectory = StandardPaths.stateDirectory
    public static let defaultRunDirectory = StandardPaths.runDirectory

    public init(configPath: String, interface: InterfaceName,
                stateDirectory: String = AgentOptions.defaultStateDirectory, runDirectory: String = AgentOptions.defaultRunDirectory) {
        self.configPath = configPath
        self.interface = interface
        self.stateDirectory = stateDirectory
        self.runDirectory = runDirectory
    }

    public var interfaceName: String { interface.text }

    public static func controlSocketPath(runDirectory: String = defaultRunDirectory, interface: String) -> String {
        "\(runDirectory)/\(interface).sock"
    }

    /// Held by the agent of `interface` for its whole life (see `InstanceLock`).
    public static func lockPath(runDirectory: String = defaultRunDirectory, interface: String) -> String {
        "\(runDirectory)/\(interface).lock"
    }
}
