import Glibc

/// Replacing a small file so that a power cut at any instant leaves either the
/// old or the new content: write a temporary file, fsync it, rename it over the
/// target, fsync the directory. Keys, channel state and the ledger use it.
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
}
