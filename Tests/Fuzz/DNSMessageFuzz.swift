// libFuzzer target for everything the provider's exit parses from a consumer or a resolver.
//
// Built by scripts/fuzz (swiftc -sanitize=fuzzer,address). Each input is offered as
// a DNS query (and refused), as an upstream response to a fixed query and to the
// query the input itself asks, as a decrypted packet to a whitelist exit that has
// learned addresses, and as the text of a whitelist file.

import Policy
import WireGuard

final class ExitFixture {
    let fixedQuery: DNSQuery
    let policy: ExitPolicy
    let now: UInt64 = 1_000 * 1_000_000_000

    init() {
        // www.netflix.com A IN, id 0x1234, recursion desired.
        let query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                              3, 0x77, 0x77, 0x77, 7, 0x6e, 0x65, 0x74, 0x66, 0x6c, 0x69, 0x78, 3, 0x63, 0x6f, 0x6d, 0,
                              0, 1, 0, 1]
        guard let parsed = try? DNSQuery(parsing: query),
              let whitelist = try? ExitWhitelist(parsing: "netflix.com\n198.51.100.0/24\n2001:db8::/32\n", file: "fuzz"),
              let resolver = IPAddress(parsing: "10.99.0.1"), let pool = IPPrefix(parsing: "10.99.0.0/24")
        else { fatalError("fuzz fixture does not parse") }
        fixedQuery = parsed
        var policy = ExitPolicy(mode: .whitelist(whitelist),
                                protection: HostProtection(hostAddresses: [.v4(0xCB00_710A)], allowedLocalDNS: [resolver]),
                                consumerPools: [pool])
        policy.learn(.v4(0xC000_022C), ttlSeconds: 300, now: now)
        self.policy = policy
    }
}

nonisolated(unsafe) let fixture = ExitFixture()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    bytes.withUnsafeBytes { raw in
        if let query = try? DNSQuery(parsing: raw) {
            let refused = query.refusedResponse()
            // A refusal must always parse as the answer to its own query.
            guard let response = try? DNSResponse(parsing: refused, answering: query), response.addresses.isEmpty else {
                fatalError("refusedResponse does not answer its query")
            }
            _ = fixture.policy.allowsName(query.question.name.text)
        }
        _ = try? DNSMessage.refusedResponse(to: bytes)
        if let response = try? DNSResponse(parsing: raw, answering: fixture.fixedQuery) {
            var policy = fixture.policy
            policy.learn(response, now: fixture.now)
        }
        _ = fixture.policy.verdict(packet: raw, now: fixture.now)
        _ = InnerPacketHeader(parsing: raw)
    }
    // The same bytes read as a response to the question they ask themselves, so answer parsing
    // is reached without the fuzzer having to guess the fixed question.
    if size >= 3 {
        var asQuery = bytes
        asQuery[2] &= 0x7f
        if let query = try? DNSQuery(parsing: asQuery) {
            var asResponse = bytes
            asResponse[2] |= 0x80
            _ = try? DNSResponse(parsing: asResponse, answering: query)
        }
    }
    _ = try? ExitWhitelist(parsing: String(decoding: bytes, as: UTF8.self), file: "fuzz")
    return 0
}
