import Glibc

/// One event a line on stderr, for syslog, procd or journald.
///
/// Events caused by the network (bad packets, unreachable peers) go through
/// `limited`, so a flood cannot fill a flash-backed log.
public final class EventLog: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var lastByKey: [String: (at: UInt64, suppressed: Int)] = [:]
    public let prefix: String
    static let limitInterval: UInt64 = 5_000_000_000

    public init(prefix: String) {
        self.prefix = prefix
        pthread_mutex_init(&lock, nil)
    }

    public func info(_ message: String) { write("info", message) }
    public func warning(_ message: String) { write("warning", message) }
    public func error(_ message: String) { write("error", message) }

    /// Logs at most one `key` event per five seconds, saying how many were suppressed.
    public func limited(_ key: String, _ message: @autoclosure () -> String) {
        let now = AgentClock.now().monotonic
        pthread_mutex_lock(&lock)
        var suppressed = 0
        if let last = lastByKey[key], now &- last.at < EventLog.limitInterval {
            lastByKey[key] = (last.at, last.suppressed + 1)
            pthread_mutex_unlock(&lock)
            return
        } else if let last = lastByKey[key] {
            suppressed = last.suppressed
        }
        lastByKey[key] = (now, 0)
        pthread_mutex_unlock(&lock)
        write("warning", message() + (suppressed > 0 ? " (\(suppressed) similar suppressed)" : ""))
    }

    private func write(_ level: String, _ message: String) {
        let line = "warren[\(prefix)] \(level): \(message)\n"
        // One write(2) per line keeps lines whole when threads log at once.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
