/// A problem in a config file, located as precisely as the parser can:
/// `/etc/warren/wg0.conf:7: AllowedIPs: '10.0.0.300/32' is not an IP prefix (…)`.
///
/// `line` is nil only for problems of the whole file (unreadable, no [Interface]);
/// `key` is the canonical key name for known keys, as written for unknown ones.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String

    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: KEY: MESSAGE`, leaving out the parts that are nil. The file, key and message
    /// quote the config (and its path), so control characters in them are escaped: an error
    /// message must not be able to drive the terminal or split a log line.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return (text + message).escapingControlCharacters
    }
}
