import Glibc

/// Kernel settings under /proc/sys, read and written as text (per network namespace).
public enum Sysctl {
    /// Reads e.g. "net.ipv4.ip_forward"; nil if the key does not exist here.
    public static func read(_ key: String) -> String? {
        let fd = open(path(key), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingTrailingNewlines()
    }

    public static func write(_ key: String, _ value: String) throws(PlatformError) {
        let file = path(key)
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw PlatformError(call: "open", errno: code,
                                message: "cannot set \(key) (\(file)): " + (code == EACCES || code == EROFS || code == EPERM
                                    ? "needs root with a writable /proc/sys" : "the kernel has no such setting"))
        }
        defer { _ = close(fd) }
        var bytes = Array((value + "\n").utf8)
        let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else {
            let code = errno
            throw PlatformError(call: "write", errno: code, message: "setting \(key) to \(value) failed: "
                                    + (PlatformError.commonAdvice(for: code) ?? "the kernel refused the value; check it with `sysctl \(key)`"))
        }
    }

    static func path(_ key: String) -> String {
        "/proc/sys/" + key.split(separator: ".").joined(separator: "/")
    }
}
