import Glibc
import Testing
@testable import LinuxPlatform

/// Creates a TUN device of its own (named after the test process), configures
/// it through RouteNetlink and reads the result back with `ip`. Traffic only
/// goes to addresses on that device.
@Suite(.serialized, .enabled(if: TestEnvironment.canCreateTUN, "needs root and /dev/net/tun (TUN and netlink tests skipped)"))
struct TUNAndRouteNetlinkTests {
    let name = "wtst\(getpid())"
    let subnet = Int(getpid() % 250) + 1

    @Test func configuresAndRemovesATUNDevice() throws {
        let device = try TUNDevice.create(name: name)
        defer { device.close() }
        #expect(device.name == name)
        let netlink = try RouteNetlink()
        let index = try netlink.interfaceIndex(named: name)
        #expect(index > 0)

        try netlink.setLink(index: index, up: true, mtu: 1380)
        #expect(TestEnvironment.readFile("/sys/class/net/\(name)/mtu") == "1380")
        #expect(TestEnvironment.run("ip -o link show dev \(name)").contains(",UP"))

        let v4 = "10.213.\(subnet).1/24"
        try netlink.addAddress(v4, interfaceIndex: index)
        try netlink.addAddress(v4, interfaceIndex: index)  // already there: not an error
        try netlink.addAddress("fd13::1/64", interfaceIndex: index)
        try netlink.addRoute("10.214.0.0/16", interfaceIndex: index)
        try netlink.addRoute("10.214.0.0/16", interfaceIndex: index)
        try netlink.addRoute("fd14::/48", interfaceIndex: index)

        let addresses = TestEnvironment.run("ip -o addr show dev \(name)")
        #expect(addresses.contains("inet \(v4)"))
        #expect(addresses.contains("inet6 fd13::1/64"))
        let routes = TestEnvironment.run("ip route show dev \(name)")
        // `ip` leaves out "proto boot", its default.
        #expect(routes.contains("10.214.0.0/16 scope link"), "\(routes)")
        #expect(TestEnvironment.run("ip -6 route show dev \(name)").contains("fd14::/48"))

        try packetsFlowThrough(device)

        try netlink.removeRoute("10.214.0.0/16", interfaceIndex: index)
        try netlink.removeRoute("10.214.0.0/16", interfaceIndex: index)  // already gone: not an error
        try netlink.removeRoute("fd14::/48", interfaceIndex: index)
        #expect(!TestEnvironment.run("ip route show dev \(name)").contains("10.214.0.0/16"))
        try netlink.removeAddress(v4, interfaceIndex: index)
        try netlink.removeAddress(v4, interfaceIndex: index)
        try netlink.removeAddress("fd13::1/64", interfaceIndex: index)
        let remaining = TestEnvironment.run("ip -o addr show dev \(name)")
        #expect(!remaining.contains("10.213."))
        #expect(!remaining.contains("fd13::1"))
        try netlink.setLink(index: index, up: false, mtu: nil)
        #expect(!TestEnvironment.run("ip -o link show dev \(name)").contains(",UP"))

        device.close()
        device.close()
        var stillThere = true
        for _ in 0..<50 where stillThere {
            stillThere = access("/sys/class/net/\(name)", F_OK) == 0
            if stillThere { usleep(20_000) }
        }
        #expect(!stillThere, "closing the TUN device should remove \(name)")
        #expect(throws: PlatformError.self) { try netlink.interfaceIndex(named: name) }
    }

    /// One packet out through the TUN device, one packet in.
    func packetsFlowThrough(_ device: TUNDevice) throws {
        let socket = try UDPSocket(port: 0)
        defer { socket.close() }
        try socket.setReceiveTimeout(milliseconds: 2000)

        // Outbound: a datagram routed to 10.214.0.0/16 arrives as a raw IPv4 packet.
        let outside = try #require(SocketAddress(ipBytes: [10, 214, 3, 3], port: 9))
        try [0x77, 0x61].withUnsafeBytes { try socket.send($0, to: outside) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
        defer { buffer.deallocate() }
        var sawPacket = false
        for _ in 0..<20 where !sawPacket {
            // Other packets (IPv6 router solicitations, MLD) may come first.
            let length = try device.read(into: buffer, timeoutMilliseconds: 1000)
            guard length >= 28 else { continue }
            sawPacket = buffer[0] >> 4 == 4 && Array(buffer[16..<20]) == [10, 214, 3, 3] && buffer[9] == 17
        }
        #expect(sawPacket, "the UDP datagram to 10.214.3.3 never came out of \(name)")

        // Inbound: a packet written to the device reaches the local socket.
        let packet = Self.udpPacket(
            from: [10, 214, 0, 5], sourcePort: 4000, to: [10, 213, UInt8(subnet), 1],
            destinationPort: socket.localPort, payload: Array("hello".utf8))
        try packet.withUnsafeBytes { try device.write($0) }
        var batch = ReceiveBatch(count: 4, bufferSize: 2048, headroom: 0)
        let count = try socket.receive(into: &batch)
        try #require(count == 1, "the packet written to \(name) did not reach the socket")
        #expect(Array(batch.buffer(0)[0..<batch.length(0)]) == Array("hello".utf8))
        #expect(batch.source(0).description == "10.214.0.5:4000")
    }

    /// An IPv4/UDP packet with a valid header checksum and no UDP checksum.
    static func udpPacket(from source: [UInt8], sourcePort: UInt16, to destination: [UInt8], destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        let total = 28 + payload.count
        var packet: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0, 0, 64, 17, 0, 0]
        packet += source + destination
        var sum: UInt32 = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(packet[i]) << 8 | UInt32(packet[i + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        let checksum = ~UInt16(sum)
        packet[10] = UInt8(checksum >> 8)
        packet[11] = UInt8(checksum & 0xff)
        let udpLength = 8 + payload.count
        packet += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff)]
        packet += [UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0]
        return packet + payload
    }

    @Test func reportsMissingInterfacesClearly() throws {
        let netlink = try RouteNetlink()
        let error = #expect(throws: PlatformError.self) { try netlink.interfaceIndex(named: "wnone\(getpid())") }
        #expect(error?.description.contains("there is no interface named wnone\(getpid())") == true)
        let invalid = #expect(throws: PlatformError.self) { try netlink.addRoute("10.214.1.0/16", interfaceIndex: 1) }
        #expect(invalid?.description.contains("write it as 10.214.0.0/16") == true)
    }

    @Test func rejectsInvalidInterfaceNames() {
        #expect(throws: PlatformError.self) { try TUNDevice.create(name: "a-name-far-too-long") }
        #expect(throws: PlatformError.self) { try TUNDevice.create(name: "bad/name") }
    }

    /// wg-quick's two rules, on a table of our own that stays empty, so the
    /// host's routing is unchanged while they exist.
    @Test func addsAndRemovesPolicyRules() throws {
        let netlink = try RouteNetlink()
        let table = UInt32(52000 + getpid() % 1000)
        let markPriority = UInt32(31000 + getpid() % 400) * 2
        let suppressPriority = markPriority + 1
        for (family, flag) in [(AF_INET, "-4"), (AF_INET6, "-6")] {
            for _ in 0..<2 {
                try netlink.addRule(family: family, fwmarkNot: 0xCA6C, table: table, priority: markPriority, suppressPrefixLength: nil)
                try netlink.addRule(family: family, fwmarkNot: nil, table: table, priority: suppressPriority, suppressPrefixLength: 0)
            }
            let rules = TestEnvironment.run("ip \(flag) rule show").split(separator: "\n").map(String.init)
            let markRules = rules.filter { $0.hasPrefix("\(markPriority):") }
            let suppressRules = rules.filter { $0.hasPrefix("\(suppressPriority):") }
            #expect(markRules.count == 1, "\(flag) rules: \(rules)")
            #expect(markRules.first?.contains("not from all fwmark 0xca6c lookup \(table)") == true, "\(markRules)")
            #expect(suppressRules.count == 1)
            #expect(suppressRules.first?.contains("from all lookup \(table) suppress_prefixlength 0") == true, "\(suppressRules)")

            for _ in 0..<2 {
                try netlink.removeRule(family: family, fwmarkNot: 0xCA6C, table: table, priority: markPriority, suppressPrefixLength: nil)
                try netlink.removeRule(family: family, fwmarkNot: nil, table: table, priority: suppressPriority, suppressPrefixLength: 0)
            }
            let after = TestEnvironment.run("ip \(flag) rule show")
            #expect(!after.contains("lookup \(table)"), "\(after)")
        }
    }
}
