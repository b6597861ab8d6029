import Dispatch
import Glibc
import Testing
@testable import LinuxPlatform

@Suite struct UDPSocketTests {
    /// Sends `payloads` from one socket to another on `host` and checks the
    /// batch receive returns them in order with the right source.
    func exchange(host: [UInt8]) throws {
        let sender = try UDPSocket(port: 0)
        let receiver = try UDPSocket(port: 0)
        defer { sender.close(); receiver.close() }
        try receiver.setReceiveTimeout(milliseconds: 2000)
        let destination = try #require(SocketAddress(ipBytes: host, port: receiver.localPort))
        let payloads: [[UInt8]] = [[1], [2, 2], Array(repeating: 3, count: 1400)]
        for payload in payloads {
            try payload.withUnsafeBytes { try sender.send($0, to: destination) }
        }
        var batch = ReceiveBatch(count: 8, bufferSize: 2048, headroom: 16)
        var received: [[UInt8]] = []
        var sources: [SocketAddress] = []
        while received.count < payloads.count {
            let count = try receiver.receive(into: &batch)
            try #require(count > 0, "timed out waiting for datagrams")
            for i in 0..<count {
                received.append(Array(batch.buffer(i)[0..<batch.length(i)]))
                sources.append(batch.source(i))
                let truncated = batch.isTruncated(i)
                #expect(!truncated)
            }
        }
        #expect(received == payloads)
        let expectedSource = try #require(SocketAddress(ipBytes: host, port: sender.localPort))
        #expect(sources.allSatisfy { $0 == expectedSource })
        // The headroom sits right in front of the buffer.
        let withHeadroom = batch.bufferWithHeadroom(0).baseAddress.map { $0 + 16 }
        let plain = batch.buffer(0).baseAddress
        #expect(withHeadroom == plain)
    }

    @Test func batchedReceiveOverIPv4Loopback() throws {
        try exchange(host: [127, 0, 0, 1])
    }

    @Test(.enabled(if: access("/proc/net/if_inet6", F_OK) == 0, "IPv6 is disabled on this host"))
    func batchedReceiveOverIPv6Loopback() throws {
        var loopback = [UInt8](repeating: 0, count: 16)
        loopback[15] = 1
        try exchange(host: loopback)
    }

    @Test func receiveTimeoutReturnsNoDatagrams() throws {
        let socket = try UDPSocket(port: 0)
        defer { socket.close() }
        #expect(socket.localPort != 0)
        try socket.setReceiveTimeout(milliseconds: 50)
        var batch = ReceiveBatch(count: 2, bufferSize: 64, headroom: 0)
        #expect(try socket.receive(into: &batch) == 0)
    }

    @Test func closeWakesABlockedReceiver() throws {
        let socket = try UDPSocket(port: 0)
        let done = DispatchSemaphore(value: 0)
        let result = ReceiveOutcome()
        DispatchQueue.global().async {
            var batch = ReceiveBatch(count: 2, bufferSize: 64, headroom: 0)
            result.count = (try? socket.receive(into: &batch)) ?? -1
            done.signal()
        }
        usleep(100_000)
        socket.close()
        #expect(done.wait(timeout: .now() + 5) == .success, "receive stayed blocked after close")
        #expect(result.count == 0)
        socket.close()
    }

    @Test func bindingABusyPortSaysWhatToDo() throws {
        let first = try UDPSocket(port: 0)
        defer { first.close() }
        let error = #expect(throws: PlatformError.self) { try UDPSocket(port: first.localPort) }
        #expect(error?.errno == EADDRINUSE)
        #expect(error?.description.contains("already uses UDP port \(first.localPort)") == true)
    }

    /// One address at port 0: the kernel's choice is read back, and it is a real, held port.
    @Test func bindingOneAddressAtPortZeroReportsThePort() throws {
        let loopback = try #require(SocketAddress(ipBytes: [127, 0, 0, 1], port: 0))
        let socket = try UDPSocket(binding: loopback)
        defer { socket.close() }
        #expect(socket.localPort != 0)
        let taken = try #require(SocketAddress(ipBytes: [127, 0, 0, 1], port: socket.localPort))
        let error = #expect(throws: PlatformError.self) { try UDPSocket(binding: taken) }
        #expect(error?.errno == EADDRINUSE)
        #expect(error?.description.contains("another program uses that port") == true)
    }

    @Test(.enabled(if: getuid() == 0, "SO_MARK needs root"))
    func setsFirewallMark() throws {
        let socket = try UDPSocket(port: 0)
        defer { socket.close() }
        try socket.setFirewallMark(0xCA6C)
        var mark: UInt32 = 0
        var length = socklen_t(4)
        #expect(getsockopt(socket.fileDescriptor, SOL_SOCKET, SO_MARK, &mark, &length) == 0)
        #expect(mark == 0xCA6C)
    }
}

final class ReceiveOutcome: @unchecked Sendable {
    var count = -2
}
