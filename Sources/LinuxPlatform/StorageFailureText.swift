import Glibc

/// A storage failure (`call` is "OPERATION PATH", as the stores record it) as a sentence:
/// `mkdir /var/lib/warren/channels` and EACCES read "cannot create the directory
/// /var/lib/warren/channels: permission denied (run as root: the state and ledger directories
/// are 0700)". Platform text: the words for an errno come from the C library.
public enum StorageFailureText {
    public static func text(call: String, errno code: Int32) -> String {
        let parts = call.split(separator: " ", maxSplits: 1)
        let path = parts.count == 2 ? String(parts[1]) : ""
        let what: String
        switch parts.first.map(String.init) ?? "" {
        case "mkdir": what = "cannot create the directory \(path)"
        case "opendir": what = "cannot list \(path)"
        case "open", "read": what = "cannot read \(path)"
        case "rename", "fsync", "write": what = "cannot write \(path)"
        case "flock": what = "cannot lock \(path)"
        case "unlink": what = "cannot remove \(path)"
        case "stat": what = "cannot look at \(path)"
        default: what = path.isEmpty ? "a file operation failed" : "cannot use \(path)"
        }
        let reason = strerror(code).map { String(cString: $0).lowercased() } ?? "unknown system error"
        let advice: String
        switch code {
        case EACCES, EPERM: advice = " (run as root: the state and ledger directories are 0700)"
        case ENOENT: advice = " (check the path)"
        case ENOTDIR: advice = " (a part of the path is a file, not a directory)"
        case ENOSPC, EDQUOT: advice = " (free some space)"
        case EROFS: advice = " (the filesystem is read-only)"
        default: advice = ""
        }
        return "\(what): \(reason)\(advice)"
    }
}
