import Testing
import WarrenCrypto
import WireGuard
@testable import Agent

@Suite struct VersionTests {
    @Test func statusCarriesTheVersion() throws {
        let status = AgentStatus.snapshot(of: Tunnel(privateKey: Array(repeating: 1, count: 32), mtu: 1420, entropy: SystemEntropy()), interface: "wg0",
                                          listenPort: 1, addresses: [], presharedKeys: [])
        #expect(status.version == WarrenVersion.current)
        let json = String(decoding: status.jsonBytes(), as: UTF8.self)
        #expect(json.contains("\"version\":\"\(WarrenVersion.current)\""))
    }
}
