import Glibc

/// The CLI's end of the control socket: one request line, one response.
public enum ControlSocketClient {
    /// Largest response read back; a bigger one is cut.
    public static let maximumResponseLength = 16 * 1024 * 1024

    /// Connects to the agent at `path`, sends `line` (a newline is added if
    /// missing), and returns everything the agent writes before closing.
    public static func request(path: String, line: String, timeoutSeconds: Int = 5) throws(PlatformError) -> [UInt8] {
        let socketPath = try UnixSocketPath(path)
        let interface = socketPath.interfaceName
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            let code = Glibc.errno
            throw PlatformError(call: "socket(AF_UNIX)", errno: code, message: "creating a socket to reach \(path) failed: " + (PlatformError.commonAdvice(for: code) ?? "retry"))
        }
        defer { _ = Glibc.close(fd) }
        let timeout = max(1, timeoutSeconds) * 1000
        _ = setSocketTimeout(fd, option: SO_SNDTIMEO, milliseconds: timeout)
        _ = setSocketTimeout(fd, option: SO_RCVTIMEO, milliseconds: timeout)

        let connected = retryingInterrupts { socketPath.withSocketAddress { connect(fd, $0, $1) } }
        if case .failure(let code) = connected {
            let message: String
            switch code {
            case ENOENT, ECONNREFUSED, ENOTDIR:
                message = "no warren agent is running for interface \(interface) (no socket at \(path)): start it with `warren up --interface \(interface) CONFIG`"
            case EACCES, EPERM:
                message = "permission denied on \(path): the control socket is root-only, run as root"
            case EAGAIN:
                message = "the warren agent for interface \(interface) is not accepting connections at \(path): it may be busy, retry"
            default:
                message = "connecting to the warren agent at \(path) failed: " + (PlatformError.commonAdvice(for: code) ?? "check that the agent is running")
            }
            throw PlatformError(call: "connect", errno: code, message: message)
        }

        var request = Array(line.utf8)
        if request.last != UInt8(ascii: "\n") { request.append(UInt8(ascii: "\n")) }
        var offset = 0
        while offset < request.count {
            let sent = request.withUnsafeBytes { bytes in
                retryingInterrupts { send(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            switch sent {
            case .success(let count):
                offset += count
            case .failure(let code):
                throw PlatformError(
                    call: "send", errno: code,
                    message: code == EAGAIN
                        ? "the warren agent for interface \(interface) did not take the request within \(timeoutSeconds) s: it may be stuck, check its log"
                        : "sending the request to the warren agent at \(path) failed: the agent closed the connection, check its log")
            }
        }
        _ = shutdown(fd, Int32(SHUT_WR))

        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while response.count < maximumResponseLength {
            let received = chunk.withUnsafeMutableBytes { buffer in
                retryingInterrupts { recv(fd, buffer.baseAddress, buffer.count, 0) }
            }
            switch received {
            case .success(0):
                return response
            case .success(let count):
                response.append(contentsOf: chunk[0..<count])
            case .failure(let code):
                throw PlatformError(
                    call: "recv", errno: code,
                    message: code == EAGAIN
                        ? "the warren agent for interface \(interface) did not answer within \(timeoutSeconds) s: it may be stuck, check its log"
                        : "reading the answer from the warren agent at \(path) failed: check its log")
            }
        }
        return response
    }
}
