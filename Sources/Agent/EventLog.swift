import Glibc
import Synchronization

/// One event a line on stderr, for syslog, procd or journald.
///
/// Events caused by the network (bad packets, unreachable peers) go through
/// `limited`, so a flood cannot fill a flash-backed log.
public final class EventLog: @unchecked Sendable {
    private let lastByKey = Mutex<[String: (at: UInt64, suppressed: Int)]>([:])
    public let prefix: String
    static let limitInterval: UInt64 = 5_000_000_000

    public init(prefix: String) {
        self.prefix = prefix
    }

    public func info(_ message: String) { write("info", message) }
    public func warning(_ message: String) { write("warning", message) }
    public func error(_ message: String) { write("error", message) }

    /// Logs at most one `key` event per five seconds, saying how many were suppressed.
    /// Keys must come from a fixed set (never from packet contents): the table is never pruned.
    public func limited(_ key: String, _ message: @autoclosure () -> String) {
        let now = AgentClock.now().monotonic
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
        write("warning", message() + (suppressed > 0 ? " (\(suppressed) similar suppressed)" : ""))
    }

    private func write(_ level: String, _ message: String) {
        let line = "warren[\(prefix)] \(level): \(message)\n"
        // One write(2) per line keeps lines whole when threads log at once.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
