import Glibc
import LinuxPlatform

/// `warren down`: stop the interface's agent if it runs, then remove whatever
/// it left behind (the kill switch, rules, sysctls), also after a crash.
public enum Down {
    public struct Result: Sendable {
        public var stoppedAgent: Bool
        public var removed: [String]
    }

    public static func run(interface: String, stateDirectory: String, runDirectory: String = AgentOptions.defaultRunDirectory) -> Result {
        let path = AgentOptions.controlSocketPath(runDirectory: runDirectory, interface: interface)
        var stopped = false
        if (try? ControlSocketClient.request(path: path, line: "down", timeoutSeconds: 5)) != nil {
            stopped = true
            // The agent removes its socket last; wait for it (bounded) before cleaning after it.
            for _ in 0..<100 where access(path, F_OK) == 0 { usleep(100_000) }
        }
        let removed = Gateway.removeEverything(stateDirectory: stateDirectory, interface: interface, netlink: try? RouteNetlink())
        return Result(stoppedAgent: stopped, removed: removed)
    }
}
