import Glibc

/// What this process may do, read from the kernel (`/proc/self/status`), so a command that
/// would fail half-way can say up front which capability it lacks.
public enum ProcessPrivilege {
    /// Capability numbers from <linux/capability.h> that warren's roles use.
    public static let netBindService = 10
    public static let netAdmin = 12
    public static let netRaw = 13

    /// Whether the effective set holds capability `number` (root normally holds all).
    public static func hasEffective(_ number: Int) -> Bool {
        guard let mask = effectiveMask() else { return geteuid() == 0 }
        return number < 64 && mask & (UInt64(1) << UInt64(number)) != 0
    }

    /// The effective capability mask, nil if /proc is not readable.
    static func effectiveMask() -> UInt64? {
        guard let bytes = try? DurableFile.read("/proc/self/status", limit: 64 * 1024) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).drop { $0 == " " || $0 == "\t" }, radix: 16)
        }
        return nil
    }
}

/// An exclusive `flock` on a file, held for the life of the process that took it: the kernel
/// drops it when the process dies, so a crash never leaves a stale lock behind.
public final class InstanceLock: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Takes the lock, or returns nil when another process holds it. The file records our pid
    /// and `note` (one line), for `holder`.
    public static func acquire(_ path: String, note: String = "") throws(PlatformError) -> InstanceLock? {
        // The holder unlinks the file as it lets go; a lock taken on a file that was unlinked
        // meanwhile is worth nothing, so check that the path still names the locked file.
        for _ in 0..<10 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let code = errno
                throw PlatformError(call: "open", errno: code, message: "cannot open the lock file \(path): "
                    + (code == EACCES || code == EPERM ? "run as root" : "check that its directory exists and is writable"))
            }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                if errno == EINTR { continue }
                let code = errno
                _ = close(fd)
                if code == EWOULDBLOCK { return nil }
                throw PlatformError(call: "flock", errno: code, message: "cannot lock \(path): check the filesystem")
            }
            var held = stat(), named = stat()
            guard fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev else {
                _ = close(fd)
                continue
            }
            _ = ftruncate(fd, 0)
            let text = Array("\(getpid())\n\(note)\n".utf8)
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            return InstanceLock(path: path, fd: fd)
        }
        throw PlatformError(call: "flock", errno: EAGAIN, message: "cannot lock \(path): it keeps being replaced, retry")
    }

    /// The pid of the live process holding the lock at `path`, or nil when nobody does.
    public static func holder(_ path: String) -> Int32? { holderAndNote(path)?.pid }

    /// Whether the lock file at `path` exists but this process may not read it (an
    /// unprivileged user asking about root's agents).
    public static func isUnreadable(_ path: String) -> Bool {
        access(path, F_OK) == 0 && access(path, R_OK) != 0
    }

    /// The holder's pid and note, or nil when nobody holds the lock.
    public static func holderAndNote(_ path: String) -> (pid: Int32, note: String)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            _ = flock(fd, LOCK_UN)
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let lines = String(decoding: buffer.prefix(max(0, n)), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return (lines.first.flatMap { Int32($0) } ?? -1, lines.count > 1 ? String(lines[1]) : "")
    }

    /// Takes the lock, waiting up to `seconds` for its holder to let go (for short critical
    /// sections shared by every agent); nil if it is still held then.
    public static func acquire(_ path: String, waitingUpTo seconds: Int) throws(PlatformError) -> InstanceLock? {
        for _ in 0..<max(1, seconds * 50) {
            if let lock = try acquire(path) { return lock }
            usleep(20_000)
        }
        return nil
    }

    /// Removes the file and releases the lock, in that order: a process that opened the file
    /// just before sees, once it gets the lock, that the path no longer names it (`acquire`).
    public func release() {
        _ = unlink(path)
        _ = close(fd)
    }
}

/// File permissions, for warnings about secrets others can read.
public enum FilePermissions {
    /// The permission bits of `path` (following links), nil if it cannot be read.
    public static func mode(of path: String) -> UInt32? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return UInt32(status.st_mode) & 0o7777
    }
}

/// The network namespace this process runs in: routes, rules, nftables and net sysctls are
/// per namespace, so state of agents in other namespaces never counts as shared with ours.
public enum NetworkNamespace {
    /// The inode of /proc/self/ns/net, the namespace's identity on this host.
    public static func current() -> UInt64? {
        var status = stat()
        guard stat("/proc/self/ns/net", &status) == 0 else { return nil }
        return UInt64(status.st_ino)
    }
}
