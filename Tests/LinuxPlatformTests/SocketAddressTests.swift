import Glibc
import Testing
@testable import LinuxPlatform

@Suite struct SocketAddressTests {
    @Test func ipv4RoundTripsAsV4Mapped() throws {
        let address = try #require(SocketAddress(ipBytes: [192, 0, 2, 7], port: 51820))
        #expect(address.isIPv4)
        #expect(address.ipBytes == [192, 0, 2, 7])
        #expect(address.port == 51820)
        #expect(address.description == "192.0.2.7:51820")
        address.withIPBytes { bytes in
            #expect(Array(bytes) == [192, 0, 2, 7])
        }
        // Stored v4-mapped, so the same value serves a dual-stack socket.
        let mapped = withUnsafeBytes(of: address.storage.sin6_addr) { Array($0) }
        #expect(mapped == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7])
        #expect(Int32(address.storage.sin6_family) == AF_INET6)
    }

    @Test func ipv6RoundTripsWithBrackets() throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes[0] = 0xfd
        bytes[15] = 1
        let address = try #require(SocketAddress(ipBytes: bytes, port: 443))
        #expect(!address.isIPv4)
        #expect(address.ipBytes == bytes)
        #expect(address.port == 443)
        #expect(address.description == "[fd00::1]:443")
    }

    @Test func rejectsOtherLengths() {
        #expect(SocketAddress(ipBytes: [], port: 1) == nil)
        #expect(SocketAddress(ipBytes: [1, 2, 3], port: 1) == nil)
        #expect(SocketAddress(ipBytes: [UInt8](repeating: 0, count: 5), port: 1) == nil)
    }

    @Test func equalityAndHashing() throws {
        let a = try #require(SocketAddress(ipBytes: [10, 0, 0, 1], port: 1))
        let b = try #require(SocketAddress(ipBytes: [10, 0, 0, 1], port: 1))
        let c = try #require(SocketAddress(ipBytes: [10, 0, 0, 1], port: 2))
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }

    @Test func resolvesNumericAddresses() throws {
        let v4 = try SocketAddress.resolve(host: "127.0.0.1", port: 51820)
        #expect(v4.map(\.description) == ["127.0.0.1:51820"])
        let v6 = try SocketAddress.resolve(host: "fd00::1", port: 9)
        #expect(v6.map(\.description) == ["[fd00::1]:9"])
        let bracketed = try SocketAddress.resolve(host: "[::1]", port: 9)
        #expect(bracketed.map(\.description) == ["[::1]:9"])
    }

    @Test func resolvesLocalhostFromHostsFile() throws {
        let addresses = try SocketAddress.resolve(host: "localhost", port: 7)
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0.port == 7 })
    }

    @Test func emptyHostIsATypedError() {
        #expect(throws: PlatformError.self) { try SocketAddress.resolve(host: "", port: 1) }
    }
}

@Suite struct NetworkPrefixTests {
    @Test func parsesAddressesWithAndWithoutPrefix() throws {
        let v4 = try NetworkPrefix(parsing: "10.0.0.1/24", purpose: "address")
        #expect(v4.family == AF_INET && v4.bytes == [10, 0, 0, 1] && v4.length == 24)
        let host = try NetworkPrefix(parsing: "fd00::1", purpose: "address")
        #expect(host.family == AF_INET6 && host.length == 128)
    }

    @Test func rejectsMalformedPrefixes() {
        for text in ["10.0.0.1/33", "fd00::1/129", "10.0.0/8", "default", "10.0.0.1/", "10.0.0.1/x", "/24"] {
            #expect(throws: PlatformError.self, "\(text)") { try NetworkPrefix(parsing: text, purpose: "address") }
        }
    }

    @Test func detectsHostBits() throws {
        #expect(try NetworkPrefix(parsing: "10.214.0.0/16", purpose: "route").hasOnlyNetworkBits)
        let messy = try NetworkPrefix(parsing: "10.214.1.0/16", purpose: "route")
        #expect(!messy.hasOnlyNetworkBits)
        #expect(messy.networkText == "10.214.0.0/16")
        #expect(try NetworkPrefix(parsing: "::/0", purpose: "route").hasOnlyNetworkBits)
    }
}
