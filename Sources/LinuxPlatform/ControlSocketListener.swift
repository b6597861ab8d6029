import CLinuxShim
import Glibc
import Synchronization

/// The agent's end of its control socket: a Unix stream socket at a path
/// such as /run/warren/wg0.sock, mode 0600 and answering only root or the
/// agent's own user. Each connection carries one request line and gets one
/// response, then is closed.
public final class ControlSocketListener: @unchecked Sendable {
    /// Longest request line accepted, newline excluded.
    public static let maximumRequestLength = 64 * 1024
    /// How long a client may take to send its request.
    public static let requestTimeoutMilliseconds = 2000

    public let path: String
    private let fileDescriptor: Int32
    /// Device and inode of the socket file we created, so `close` never
    /// unlinks a socket that a newer agent put at the same path.
    private let socketFile: (device: UInt64, inode: UInt64)
    private let state = Mutex<ServingState>(ServingState())

    private struct ServingState {
        var closed = false
        var thread: pthread_t?
    }

    /// Creates the parent directory (0755) if needed, replaces a stale socket
    /// file, and refuses if a live agent still answers at `path`.
    public init(path: String) throws(PlatformError) {
        let socketPath = try UnixSocketPath(path)
        if let parent = socketPath.parentDirectory {
            try Self.makeDirectories(parent, for: path)
        }
        try Self.removeStaleSocket(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            let code = Glibc.errno
            throw PlatformError(
                call: "socket(AF_UNIX)", errno: code,
                message: "creating the control socket for \(path) failed: " + (PlatformError.commonAdvice(for: code) ?? "check kernel Unix socket support"))
        }
        do throws(PlatformError) {
            let bound = socketPath.withSocketAddress { Glibc.bind(fd, $0, $1) }
            guard bound == 0 else {
                let code = Glibc.errno
                throw PlatformError(
                    call: "bind", errno: code,
                    message: "binding the control socket at \(path) failed: "
                        + (code == EACCES || code == EROFS ? "the directory is not writable: run as root or choose another path" : "check the path"))
            }
            // Restrict before listen(): until then connects are refused, so
            // nobody can slip in while the mode is still the umask's.
            guard chmod(path, 0o600) == 0 else {
                let code = Glibc.errno
                _ = unlink(path)
                throw PlatformError(call: "chmod", errno: code, message: "making control socket \(path) root-only (0600) failed: check the filesystem")
            }
            var status = stat()
            guard stat(path, &status) == 0 else {
                let code = Glibc.errno
                throw PlatformError(call: "stat", errno: code, message: "control socket \(path) vanished right after it was created: is another process cleaning the directory?")
            }
            socketFile = (UInt64(status.st_dev), UInt64(status.st_ino))
            guard listen(fd, 16) == 0 else {
                let code = Glibc.errno
                _ = unlink(path)
                throw PlatformError(call: "listen", errno: code, message: "listening on control socket \(path) failed: " + (PlatformError.commonAdvice(for: code) ?? "recreate the socket"))
            }
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        self.path = path
        self.fileDescriptor = fd
    }

    deinit {
        close()
    }

    /// Starts a dedicated thread that accepts connections one at a time,
    /// reads one request line (at most 64 KiB, within 2 s), passes it without
    /// its newline to `handler` and writes back what the handler returns.
    /// Connections from users other than root and the agent's own are closed
    /// unanswered. Call once; `close()` stops it.
    public func serve(handler: @escaping @Sendable (String) -> [UInt8]) {
        state.withLock { state in
            guard !state.closed, state.thread == nil else { return }
            // The thread holds `self` until its loop ends, which `close()` causes.
            // If no thread can be started the socket stays silent and clients
            // time out; `close()` still cleans up.
            state.thread = try? startThread(name: "warren-control") { [self] in
                self.acceptLoop(handler: handler)
            }
        }
    }

    /// Stops serving, closes the socket and unlinks the path (if the file
    /// there is still ours). Waits for the serving thread unless called from it.
    public func close() {
        let thread: pthread_t?? = state.withLock { state in
            if state.closed { return nil }
            state.closed = true
            return .some(state.thread)
        }
        guard let thread else { return }
        // Wakes a blocked accept(2), which then fails with EINVAL.
        _ = shutdown(fileDescriptor, Int32(SHUT_RDWR))
        if let thread {
            if pthread_equal(thread, pthread_self()) != 0 {
                // Called by the handler: the loop exits after it returns.
                _ = pthread_detach(thread)
            } else {
                _ = pthread_join(thread, nil)
            }
        }
        _ = Glibc.close(fileDescriptor)
        var status = stat()
        if lstat(path, &status) == 0, UInt64(status.st_dev) == socketFile.device, UInt64(status.st_ino) == socketFile.inode {
            _ = unlink(path)
        }
    }

    private var isClosed: Bool {
        state.withLock { $0.closed }
    }

    private func acceptLoop(handler: @Sendable (String) -> [UInt8]) {
        while !isClosed {
            let client = CLinuxShim_accept_cloexec(fileDescriptor)
            if client < 0 {
                let code = Glibc.errno
                if isClosed { return }
                switch code {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: back off instead of spinning.
                    usleep(100_000)
                    continue
                default:
                    return
                }
            }
            answer(client, handler: handler)
            _ = Glibc.close(client)
        }
    }

    private func answer(_ client: Int32, handler: @Sendable (String) -> [UInt8]) {
        var peerUID: UInt32 = 0
        guard CLinuxShim_peer_uid(client, &peerUID) == 0, peerUID == 0 || peerUID == geteuid() else {
            return
        }
        _ = setSocketTimeout(client, option: SO_RCVTIMEO, milliseconds: Self.requestTimeoutMilliseconds)
        _ = setSocketTimeout(client, option: SO_SNDTIMEO, milliseconds: Self.requestTimeoutMilliseconds)
        guard let line = readRequestLine(client) else { return }
        let response = handler(line)
        response.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let sent = retryingInterrupts {
                    Glibc.send(client, bytes.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
                }
                guard case .success(let count) = sent, count > 0 else { return }
                offset += count
            }
        }
    }

    /// The bytes before the first newline (a trailing CR dropped), or what
    /// came before end of stream; nil on timeout, error, or an over-long line.
    private func readRequestLine(_ client: Int32) -> String? {
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let received = chunk.withUnsafeMutableBytes { buffer in
                retryingInterrupts { recv(client, buffer.baseAddress, buffer.count, 0) }
            }
            guard case .success(let count) = received else { return nil }
            if count == 0 { break }
            if let newline = chunk[0..<count].firstIndex(of: UInt8(ascii: "\n")) {
                request.append(contentsOf: chunk[0..<newline])
                break
            }
            request.append(contentsOf: chunk[0..<count])
            if request.count > Self.maximumRequestLength { return nil }
        }
        if request.count > Self.maximumRequestLength { return nil }
        if request.last == UInt8(ascii: "\r") { request.removeLast() }
        return String(decoding: request, as: UTF8.self)
    }

    private static func makeDirectories(_ directory: String, for socketPath: String) throws(PlatformError) {
        var status = stat()
        if stat(directory, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else {
                throw PlatformError(
                    call: "mkdir", errno: ENOTDIR,
                    message: "\(directory) (for control socket \(socketPath)) exists but is not a directory: remove it or choose another path")
            }
            return
        }
        if let parent = UnixSocketPath.parent(of: directory) {
            try makeDirectories(parent, for: socketPath)
        }
        if mkdir(directory, 0o755) != 0, Glibc.errno != EEXIST {
            let code = Glibc.errno
            throw PlatformError(
                call: "mkdir", errno: code,
                message: "creating directory \(directory) for control socket \(socketPath) failed: "
                    + (code == EACCES || code == EROFS ? "run as root or choose a writable path" : "check the path"))
        }
    }

    /// Unlinks a socket file nobody answers on; refuses if someone does, or
    /// if the path is not a socket at all.
    private static func removeStaleSocket(_ socketPath: UnixSocketPath) throws(PlatformError) {
        let path = socketPath.path
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw PlatformError(
                call: "lstat", errno: EEXIST,
                message: "\(path) exists and is not a socket: remove it or choose another control socket path")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { _ = Glibc.close(probe) }
        let connected = socketPath.withSocketAddress { connect(probe, $0, $1) }
        let code = Glibc.errno
        if connected == 0 || code == EAGAIN {
            throw PlatformError(
                call: "connect", errno: EADDRINUSE,
                message: "another warren agent is already running for interface \(socketPath.interfaceName) (it answers on \(path)): stop it first (send it SIGTERM) or choose another --interface")
        }
        guard code == ECONNREFUSED else {
            throw PlatformError(
                call: "connect", errno: code,
                message: "cannot tell whether an agent is still using \(path): check it, or remove the file if no warren agent is running")
        }
        guard unlink(path) == 0 || Glibc.errno == ENOENT else {
            let unlinkCode = Glibc.errno
            throw PlatformError(call: "unlink", errno: unlinkCode, message: "removing stale control socket \(path) failed: run as root or remove it by hand")
        }
    }
}
