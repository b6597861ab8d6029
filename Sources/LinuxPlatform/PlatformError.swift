import Glibc

/// The one error type of LinuxPlatform: names the failing call, keeps the
/// system errno (0 when there is none, e.g. a resolver or parse failure) and
/// carries a message that says what failed, where, and what to do about it.
public struct PlatformError: Error, CustomStringConvertible, Sendable {
    /// The failing system or library call, e.g. "ioctl(TUNSETIFF)", "rtnl_addr_add".
    public let call: String
    /// The errno the call reported, or 0 when it reported none.
    public let errno: Int32
    /// What failed, on which interface/path/address, and what to do.
    public let message: String

    public init(call: String, errno: Int32, message: String) {
        self.call = call
        self.errno = errno
        self.message = message
    }

    /// The message for a person: what failed and what to do, then the system's reason in
    /// words when the message does not already say it. The call name and the errno number are
    /// for code (and tests), not printed: "rtnl_addr_add: … (errno 1)" tells an owner nothing.
    public var description: String {
        guard errno != 0 else { return message }
        let reason = systemErrorText(errno)
        if message.lowercased().contains(reason) { return message }
        return "\(message) (\(reason))"
    }
}

/// The C library's words for an errno value, lower-cased to sit inside a sentence
/// ("operation not permitted"); glibc's strerror is thread-safe for known codes.
func systemErrorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "system error \(code)" }
    return String(cString: text).lowercased()
}

extension PlatformError {
    /// Advice for errno values that mean the same thing whatever the call.
    static func commonAdvice(for code: Int32) -> String? {
        switch code {
        case EPERM, EACCES:
            // Callers whose step needs a capability name it themselves (TUN, netlink, SO_MARK,
            // bind below 1024, nft); for the rest (creating a socket, listening) only a security
            // module, seccomp or a cgroup BPF hook refuses root.
            return "permission denied: run as root; if it is root already, a security module (SELinux, AppArmor), a seccomp filter or a cgroup BPF hook refused it: check its log"
        case ENOMEM, ENOBUFS:
            return "the system is out of memory or buffer space: free memory and retry"
        case EMFILE, ENFILE:
            return "too many open files: raise the file descriptor limit (ulimit -n)"
        default:
            return nil
        }
    }
}
