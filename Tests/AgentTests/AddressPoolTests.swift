import Testing
@testable import Agent
import WireGuard

@Suite struct AddressPoolTests {
    @Test func providerTakesTheFirstHostAndConsumersTheNext() throws {
        var pool = AddressPool(prefixes: [IPPrefix(parsing: "10.99.0.0/24")!, IPPrefix(parsing: "fd99::/64")!])
        #expect(pool.providerAddresses.map(\.description) == ["10.99.0.1/24", "fd99::1/64"])
        let firstAllocation = pool.allocate(), secondAllocation = pool.allocate()
        let first = try #require(firstAllocation)
        let second = try #require(secondAllocation)
        #expect(first.addresses.map(\.description) == ["10.99.0.2/32", "fd99::2/128"])
        #expect(second.addresses.map(\.description) == ["10.99.0.3/32", "fd99::3/128"])
        pool.release(slot: first.slot)
        let again = pool.allocate()
        #expect(again?.addresses.first?.description == "10.99.0.2/32")
    }

    @Test func aSmallPoolRunsOutWithoutWrapping() {
        var pool = AddressPool(prefixes: [IPPrefix(parsing: "10.99.0.0/29")!])
        #expect(pool.capacity == 5)   // .2 ... .6; .0 network, .1 provider, .7 broadcast
        var got: [String] = []
        while let next = pool.allocate() { got.append(next.addresses[0].description) }
        #expect(got == ["10.99.0.2/32", "10.99.0.3/32", "10.99.0.4/32", "10.99.0.5/32", "10.99.0.6/32"])
    }
}
