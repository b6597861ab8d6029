import Glibc

/// Replacing a small file so that a power cut at any instant leaves either the
/// old or the new content: write a temporary file, fsync it, rename it over the
/// target, fsync the directory. Keys, channel state and the ledger use it.
/// `append` adds whole lines to a log (the ledger's journal) durably.
public enum DurableFile {
    /// Why a durable write failed: the call and its errno.
    public struct Failure: Error, Sendable {
        public let call: String
        public let errno: Int32
    }

    public static func replace(_ target: String, in directory: String, with bytes: [UInt8], mode: mode_t = 0o600,
                               temporarySuffix: String = ".tmp") throws(Failure) {
        let temporary = target + temporarySuffix
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(call: "open \(temporary)", errno: Glibc.errno) }
        func abandon(_ call: String) -> Failure {
            let code = Glibc.errno
            _ = close(fd)
            _ = unlink(temporary)
            return Failure(call: call, errno: code)
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                Glibc.write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if n < 0 && Glibc.errno == EINTR { continue }
            if n <= 0 { throw abandon("write \(temporary)") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw abandon("fsync \(temporary)") }
        _ = close(fd)
        guard rename(temporary, target) == 0 else {
            let code = Glibc.errno
            _ = unlink(temporary)
            throw Failure(call: "rename \(temporary)", errno: code)
        }
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw Failure(call: "open \(directory)", errno: Glibc.errno) }
        defer { _ = close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw Failure(call: "fsync \(directory)", errno: Glibc.errno) }
    }

    /// A small file's bytes, or nil when it does not exist. Stops reading once past `limit`
    /// (returning a few KiB more), which is enough for a format's decoder to refuse a file that
    /// is too long without reading all of it. The one bounded reader of state files, channel
    /// files and the ledger's.
    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if Glibc.errno == ENOENT { return nil }
            throw Failure(call: "open \(path)", errno: Glibc.errno)
        }
        defer { _ = close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while out.count <= limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw Failure(call: "read \(path)", errno: Glibc.errno)
            }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Appends `bytes` (whole lines, each ending in a newline) to the log file `target`, made
    /// `mode` if missing, and fsyncs it before returning (and the directory when the file was
    /// empty, so a new file's name is durable too).
    ///
    /// A line is whole only once its newline is on disk, so readers drop an unterminated last
    /// line. Before writing, a tail after the last newline (a line a crash tore) is cut off:
    /// glued to the new line it would spoil both. A write that fails part-way is cut back the
    /// same way. Concurrent appenders must be serialised by the caller (the ledger's lock).
    public static func append(_ target: String, in directory: String, with bytes: [UInt8],
                              mode: mode_t = 0o600) throws(Failure) {
        // O_RDWR: the torn-tail check reads the file's last bytes.
        let fd = open(target, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(call: "open \(target)", errno: Glibc.errno) }
        defer { _ = close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure(call: "fstat \(target)", errno: Glibc.errno) }
        let size = Int(info.st_size)
        let keep = try wholeLinesLength(fd, size: size, path: target)
        if keep < size {
            guard ftruncate(fd, off_t(keep)) == 0 else { throw Failure(call: "ftruncate \(target)", errno: Glibc.errno) }
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                Glibc.write(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if n < 0 && Glibc.errno == EINTR { continue }
            if n <= 0 {
                let code = Glibc.errno
                _ = ftruncate(fd, off_t(keep))
                throw Failure(call: "write \(target)", errno: code)
            }
            offset += n
        }
        guard fsync(fd) == 0 else { throw Failure(call: "fsync \(target)", errno: Glibc.errno) }
        guard keep == 0 else { return }
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw Failure(call: "open \(directory)", errno: Glibc.errno) }
        defer { _ = close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw Failure(call: "fsync \(directory)", errno: Glibc.errno) }
    }

    /// The length of the file up to and including its last newline (0 when it has none).
    private static func wholeLinesLength(_ fd: Int32, size: Int, path: String) throws(Failure) -> Int {
        var end = size
        var chunk = [UInt8](repeating: 0, count: 4096)
        while end > 0 {
            let start = max(0, end - chunk.count)
            let want = end - start
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(start)) }
            if n < 0 && Glibc.errno == EINTR { continue }
            // A short read means the file shrank under us; the caller holds the only writer's lock.
            guard n == want else { throw Failure(call: "pread \(path)", errno: n < 0 ? Glibc.errno : EIO) }
            if let last = chunk[0..<want].lastIndex(of: UInt8(ascii: "\n")) { return start + last + 1 }
            end = start
        }
        return 0
    }
}
