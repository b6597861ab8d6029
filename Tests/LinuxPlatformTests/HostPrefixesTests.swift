import Glibc
import Testing
@testable import LinuxPlatform

@Suite struct HostPrefixesTests {
    /// Every host has loopback: its address with the prefix length, and the local table's routes.
    @Test func readsAddressesAndRoutesOfEveryTable() throws {
        let prefixes = try RouteNetlink().hostPrefixes()
        let loopback = prefixes.filter { $0.bytes == [127, 0, 0, 1] }
        #expect(loopback.contains { $0.length == 8 && $0.origin.hasPrefix("address on interface index ") }, "\(prefixes)")
        #expect(prefixes.contains { $0.bytes == [127, 0, 0, 0] && $0.length == 8 && $0.origin == "route in table 255" }, "\(prefixes)")
        #expect(prefixes.allSatisfy { ($0.bytes.count == 4 && $0.length <= 32) || ($0.bytes.count == 16 && $0.length <= 128) })
    }
}
