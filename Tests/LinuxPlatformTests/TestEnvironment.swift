import Glibc
@testable import LinuxPlatform

/// What the host lets these tests do.
enum TestEnvironment {
    /// Root with a working /dev/net/tun: TUN and netlink tests can run.
    static let canCreateTUN: Bool = {
        guard getuid() == 0, access("/dev/net/tun", F_OK) == 0 else { return false }
        guard let probe = try? TUNDevice.create(name: "wprb\(getpid())") else { return false }
        probe.close()
        return true
    }()

    /// Runs a command (for reading state with `ip`) and returns its stdout.
    static func run(_ command: String) -> String {
        guard let pipe = popen(command, "r") else { return "" }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, pipe)
            if count == 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        pclose(pipe)
        return String(decoding: output, as: UTF8.self)
    }

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = fread(&buffer, 1, buffer.count, file)
        return String(decoding: buffer[0..<count], as: UTF8.self).trimmingWhitespace
    }

    /// A fresh directory under /tmp for this test.
    static func temporaryDirectory(_ tag: String) -> String {
        "/tmp/warren-lp-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    }
}

extension String {
    var trimmingWhitespace: String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
