import Glibc

/// nftables through the `nft` program: a whole ruleset file applied in one
/// transaction (`nft -f -`), so a table is replaced atomically or not at all.
public enum Nftables {
    /// Where Debian installs nft; PATH is searched if it is not there.
    static let candidates = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]

    /// Applies `ruleset` (nft syntax) in one transaction.
    public static func apply(_ ruleset: String) throws(PlatformError) {
        let result = try run(["-f", "-"], input: ruleset)
        guard result.status == 0 else {
            let output = result.output.trimmingTrailingNewlines()
            // nft runs with the agent's capabilities: without CAP_NET_ADMIN the kernel says EPERM.
            if output.contains("Operation not permitted") {
                throw PlatformError(call: "nft -f", errno: EPERM,
                                    message: "nftables refused the ruleset: \(output): changing nftables needs CAP_NET_ADMIN: run as root or grant the capability (nft inherits it from the agent)")
            }
            throw PlatformError(call: "nft -f", errno: 0,
                                message: "nftables refused the ruleset: \(output) (is the nf_tables module available? try `nft list tables`)")
        }
    }

    /// `nft -j list …` output, or nil when the object does not exist.
    public static func listJSON(_ arguments: [String]) throws(PlatformError) -> String? {
        let result = try run(["-j", "list"] + arguments, input: nil)
        return result.status == 0 ? result.output : nil
    }

    /// Whether `table` (e.g. "inet warren") exists.
    public static func tableExists(_ table: String) throws(PlatformError) -> Bool {
        try run(["list", "table"] + table.split(separator: " ").map(String.init), input: nil).status == 0
    }

    /// Deletes `table` if it exists.
    public static func deleteTable(_ table: String) throws(PlatformError) {
        // "add" then "delete" in one transaction never fails on a missing table.
        try apply("add table \(table)\ndelete table \(table)\n")
    }

    static func executable() throws(PlatformError) -> String {
        for path in candidates where access(path, X_OK) == 0 { return path }
        if let pathVariable = getenv("PATH").map({ String(cString: $0) }) {
            for directory in pathVariable.split(separator: ":") where access("\(directory)/nft", X_OK) == 0 {
                return "\(directory)/nft"
            }
        }
        throw PlatformError(call: "nft", errno: ENOENT,
                            message: "the nft program is missing: install nftables (apt-get install nftables)")
    }

    /// Runs nft with `arguments`, feeding `input` on stdin; returns its exit status and combined output.
    static func run(_ arguments: [String], input: String?) throws(PlatformError) -> (status: Int32, output: String) {
        let path = try executable()
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else {
            throw PlatformError(call: "pipe", errno: errno, message: "cannot run nft: out of file descriptors")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 2)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        _ = close(toChild[0])
        _ = close(fromChild[1])
        guard spawned == 0 else {
            _ = close(toChild[1]); _ = close(fromChild[0])
            throw PlatformError(call: "posix_spawn(nft)", errno: spawned, message: "cannot start \(path): check that it is an executable nft program (reinstall nftables)")
        }
        if let input {
            var bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(toChild[1], $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 { break }
                offset += n
            }
        }
        _ = close(toChild[1])
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fromChild[0], $0.baseAddress, $0.count) }
            if n > 0 { output += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        _ = close(fromChild[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitCode, String(decoding: output, as: UTF8.self))
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
