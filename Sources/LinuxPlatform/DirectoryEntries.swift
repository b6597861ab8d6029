import Glibc

/// The names in a directory and absolute paths: the one place that reads directories.
public enum DirectoryEntries {
    /// The entry names of `path` (not `.` and `..`), sorted; throws the errno of `opendir`.
    public static func names(_ path: String) throws(DurableFile.Failure) -> [String] {
        guard let stream = opendir(path) else { throw DurableFile.Failure(call: "opendir \(path)", errno: errno) }
        defer { _ = closedir(stream) }
        var out: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    /// `path` made absolute with links resolved, or `path` itself if it cannot be resolved.
    public static func absolute(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
