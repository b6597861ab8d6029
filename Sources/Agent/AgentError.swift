import Configuration
import LinuxPlatform

/// Everything that can stop `warren up`, each saying what, where and what to do.
public enum AgentError: Error, CustomStringConvertible {
    case config(ConfigError)
    case platform(step: String, PlatformError)
    case endpoint(file: String, line: Int, host: String, PlatformError)
    case session(String)
    /// A command used wrongly (a bad name, an ambiguous target): the text says what to type.
    case usage(String)
    /// The command lacks a privilege; the text names the capability.
    case privilege(String)
    /// A consumer at today's spending cap (MaxSpend) asks for no session.
    case spendingCap(String)

    /// `warren up`'s exit status for the error, so that a service manager restarts the agent
    /// only when a restart can help (init/warren@.service: RestartPreventExitStatus=).
    /// 78 (EX_CONFIG): the config is wrong, every restart would fail the same way. 3: the
    /// consumer stops paying (as at its cap in a session) until 00:00 UTC or a higher
    /// MaxSpend. 1: everything else, which may pass (no network yet, the provider not
    /// answering, a missing module).
    public var exitStatus: Int32 {
        switch self {
        case .config: return Self.configExitStatus
        case .spendingCap: return 3
        case .usage: return 64          // EX_USAGE: a bad name, another agent on the interface
        case .privilege: return 77      // EX_NOPERM: the capability is missing, a restart will not grant it
        case .platform, .endpoint, .session: return 1
        }
    }

    /// EX_CONFIG of sysexits.h; systemd shows it as status=78/CONFIG.
    public static let configExitStatus: Int32 = 78

    public var description: String {
        switch self {
        case .config(let error):
            return "\(error)"
        case .platform(let step, let error):
            return "\(step): \(error)"
        case .endpoint(let file, let line, let host, let error):
            return "\(file):\(line): Endpoint: \(host): \(error)"
        case .session(let message), .usage(let message), .privilege(let message), .spendingCap(let message):
            return message
        }
    }
}

/// `warren up`: a WireGuard interface in the foreground until SIGINT/SIGTERM.
