import Glibc
import LinuxPlatform

/// Small files in the state directory, written so a power cut leaves either
/// the old or the new version: temp file, fsync, rename, fsync the directory.
enum StateFile {
    static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        guard let bytes = try? DurableFile.read(path, limit: limit) else { return nil }
        return bytes.count > limit ? Array(bytes.prefix(limit)) : bytes
    }

    /// Replaces `path` atomically and durably with `bytes` (mode 0600).
    static func write(_ path: String, _ bytes: [UInt8]) -> Bool {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return (try? DurableFile.replace(path, in: path.hasPrefix("/") && directory.isEmpty ? "/" : directory, with: bytes)) != nil
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }
}

/// The state directory: created 0700 on first use (keys and money live there).
enum StateDirectory {
    static func create(_ directory: String, mode: mode_t = 0o700) throws(AgentError) {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, mode) != 0 && errno != EEXIST {
                let code = errno
                throw .platform(step: "creating state directory \(directory)",
                                PlatformError(call: "mkdir", errno: code,
                                              message: "cannot create \(path): choose another directory with --state-dir or fix its permissions"))
            }
        }
    }
}

/// The run directory (/run/warren): control sockets, interface locks and the host lock. Made
/// 0755 if missing (the systemd unit makes it 0700); the sockets and locks are root-only, so
/// a user without privilege is told so rather than "nothing runs".
enum RunDirectory {
    static func create(_ directory: String) throws(AgentError) {
        try StateDirectory.create(directory, mode: 0o755)
    }
}
