import Glibc
import Testing
@testable import LinuxPlatform

@Suite struct InstanceLockTests {
    func temporaryDirectory() -> String {
        var template = "/tmp/warren-lock-XXXXXX".utf8CString
        return template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
            return String(cString: made)
        }
    }

    @Test func oneHolderAtATimeAndTheFileGoesWithIt() throws {
        let directory = temporaryDirectory()
        defer { _ = rmdir(directory) }
        let path = directory + "/wg0.lock"
        guard let first = try InstanceLock.acquire(path, note: "netns=1 state=/x") else {
            Issue.record("a free lock was refused")
            return
        }
        #expect(try InstanceLock.acquire(path) == nil)                 // another open file description
        #expect(InstanceLock.holderAndNote(path)?.pid == getpid())
        #expect(InstanceLock.holderAndNote(path)?.note == "netns=1 state=/x")
        first.release()
        #expect(access(path, F_OK) != 0)
        #expect(InstanceLock.holder(path) == nil)
        let second = try InstanceLock.acquire(path)
        #expect(second != nil)
        second?.release()
    }
}
