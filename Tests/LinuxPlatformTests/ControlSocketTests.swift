import Glibc
import Testing
@testable import LinuxPlatform

@Suite struct ControlSocketTests {
    @Test func requestAndResponse() throws {
        let directory = TestEnvironment.temporaryDirectory("ctl")
        let path = directory + "/run/wg7.sock"
        defer { _ = TestEnvironment.run("rm -rf \(directory)") }
        let listener = try ControlSocketListener(path: path)
        listener.serve { line in Array("got \(line)\n".utf8) }

        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(stat(directory + "/run", &status) == 0)
        #expect(status.st_mode & 0o777 == 0o755)

        let first = try ControlSocketClient.request(path: path, line: "status")
        #expect(String(decoding: first, as: UTF8.self) == "got status\n")
        let second = try ControlSocketClient.request(path: path, line: "down wg7\r\n")
        #expect(String(decoding: second, as: UTF8.self) == "got down wg7\n")

        // A second agent on the same path is refused while the first answers.
        let error = #expect(throws: PlatformError.self) { try ControlSocketListener(path: path) }
        #expect(error?.description.contains("another warren agent is already running for interface wg7") == true)

        listener.close()
        #expect(access(path, F_OK) != 0)
        listener.close()
        let gone = #expect(throws: PlatformError.self) { try ControlSocketClient.request(path: path, line: "status") }
        #expect(gone?.description.contains("no warren agent is running for interface wg7 (no socket at \(path))") == true)
    }

    @Test func oversizedRequestGetsNoAnswer() throws {
        let directory = TestEnvironment.temporaryDirectory("big")
        let path = directory + "/big.sock"
        defer { _ = TestEnvironment.run("rm -rf \(directory)") }
        let listener = try ControlSocketListener(path: path)
        defer { listener.close() }
        listener.serve { _ in Array("answered".utf8) }
        let huge = String(repeating: "x", count: ControlSocketListener.maximumRequestLength + 10)
        #expect(try ControlSocketClient.request(path: path, line: huge).isEmpty)
        #expect(try ControlSocketClient.request(path: path, line: "ok") == Array("answered".utf8))
    }

    @Test func replacesAStaleSocketFile() throws {
        let directory = TestEnvironment.temporaryDirectory("stale")
        let path = directory + "/stale.sock"
        defer { _ = TestEnvironment.run("rm -rf \(directory)") }
        #expect(mkdir(directory, 0o755) == 0)
        // A socket file left behind by a crashed agent: bound, never unlinked.
        let crashed = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let socketPath = try UnixSocketPath(path)
        #expect(socketPath.withSocketAddress { bind(crashed, $0, $1) } == 0)
        close(crashed)
        #expect(access(path, F_OK) == 0)

        let listener = try ControlSocketListener(path: path)
        defer { listener.close() }
        listener.serve { _ in [1, 2, 3] }
        #expect(try ControlSocketClient.request(path: path, line: "x") == [1, 2, 3])
    }

    @Test func refusesAPathThatIsNotASocket() throws {
        let directory = TestEnvironment.temporaryDirectory("file")
        let path = directory + "/plain.sock"
        defer { _ = TestEnvironment.run("rm -rf \(directory)") }
        #expect(mkdir(directory, 0o755) == 0)
        let file = fopen(path, "w")
        fclose(file)
        let error = #expect(throws: PlatformError.self) { try ControlSocketListener(path: path) }
        #expect(error?.description.contains("exists and is not a socket") == true)
        #expect(access(path, F_OK) == 0)
    }

    @Test func closingFromTheHandlerDoesNotDeadlock() throws {
        let directory = TestEnvironment.temporaryDirectory("self")
        let path = directory + "/self.sock"
        defer { _ = TestEnvironment.run("rm -rf \(directory)") }
        let listener = try ControlSocketListener(path: path)
        listener.serve { [listener] _ in
            listener.close()
            return Array("bye".utf8)
        }
        #expect(try ControlSocketClient.request(path: path, line: "down") == Array("bye".utf8))
        #expect(access(path, F_OK) != 0)
    }

    @Test func rejectsOverlongPaths() {
        let path = "/tmp/" + String(repeating: "p", count: 120) + ".sock"
        #expect(throws: PlatformError.self) { try ControlSocketListener(path: path) }
    }
}
