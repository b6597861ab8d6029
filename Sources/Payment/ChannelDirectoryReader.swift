import Glibc

/// Read-only access to a channel directory for `ChannelStore.snapshot(directory:)`: a CLI
/// looks while an agent writes, so it creates nothing and removes nothing (a temporary file
/// it deleted could be the agent's write in progress).
extension ChannelDirectory {
    /// Names a directory without creating it.
    init(existing path: String) {
        self.path = path
    }

    /// The entries' names, or nil when the directory does not exist.
    func namesIfPresent() throws(ChannelStoreError) -> [String]? {
        do { return try names() } catch .storage(_, let code) where code == ENOENT || code == ENOTDIR {
            return nil
        }
    }
}
