import Glibc
import Synchronization

/// One event a line on stderr, for syslog, procd or journald.
///
/// When stderr is not a terminal (a service manager or a file reads it), each line starts with
/// its syslog priority as sd-daemon(3) defines it (`<3>` error, `<4>` warning, `<6>` info), so
/// journald files the line under that level instead of all at one. On a terminal the prefix
/// is left out. Control characters in messages are escaped: one event stays one line.
///
/// Events caused by the network (bad packets, unreachable peers) go through
/// `limited`, so a flood cannot fill a flash-backed log.
public final class EventLog: @unchecked Sendable {
    private let lastByKey = Mutex<[String: (at: UInt64, suppressed: Int)]>([:])
    public let prefix: String
    /// Whether lines carry the `<N>` priority prefix.
    public let priorityPrefix: Bool
    static let limitInterval: UInt64 = 5_000_000_000

    /// A message's level, with its syslog priority (RFC 5424 severity).
    public enum Level: Sendable {
        case error, warning, info

        public var priority: Int {
            switch self {
            case .error: return 3
            case .warning: return 4
            case .info: return 6
            }
        }

        public var name: String {
            switch self {
            case .error: return "error"
            case .warning: return "warning"
            case .info: return "info"
            }
        }
    }

    /// `priorityPrefix` defaults to whether stderr is something other than a terminal.
    public init(prefix: String, priorityPrefix: Bool? = nil) {
        self.prefix = prefix
        self.priorityPrefix = priorityPrefix ?? (isatty(2) == 0)
    }

    public func info(_ message: String) { write(.info, message) }
    public func warning(_ message: String) { write(.warning, message) }
    public func error(_ message: String) { write(.error, message) }

    /// The line written for one event, newline included:
    /// `<6>warren[wg0] info: interface wg0 up…` (without `<6>` when `priorityPrefix` is off).
    public static func line(_ level: Level, prefix: String, message: String, priorityPrefix: Bool) -> String {
        let text = "warren[\(prefix)] \(level.name): \(message)".escapingControlCharacters
        return (priorityPrefix ? "<\(level.priority)>" : "") + text + "\n"
    }

    /// Logs at most one `key` event per five seconds, saying how many were suppressed.
    /// Keys must come from a fixed set (never from packet contents): the table is never pruned.
    public func limited(_ key: String, _ message: @autoclosure () -> String) {
        // The rate limit runs on the real monotonic clock whatever clock the agent is given:
        // it protects a real log from a real flood.
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let now = UInt64(clock.tv_sec) &* 1_000_000_000 &+ UInt64(clock.tv_nsec)
        let suppressed: Int? = lastByKey.withLock { table in
            if let last = table[key], now &- last.at < EventLog.limitInterval {
                table[key] = (last.at, last.suppressed + 1)
                return nil
            }
            let count = table[key]?.suppressed ?? 0
            table[key] = (now, 0)
            return count
        }
        guard let suppressed else { return }
        write(.warning, message() + (suppressed > 0 ? " (\(suppressed) similar suppressed)" : ""))
    }

    /// The CLI's last line before it exits non-zero: `<3>warren: MESSAGE`.
    public static func failureLine(_ message: String, priorityPrefix: Bool) -> String {
        (priorityPrefix ? "<\(Level.error.priority)>" : "") + "warren: " + message.escapingControlCharacters + "\n"
    }

    private func write(_ level: Level, _ message: String) {
        let line = Self.line(level, prefix: prefix, message: message, priorityPrefix: priorityPrefix)
        // One write(2) per line keeps lines whole when threads log at once.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
