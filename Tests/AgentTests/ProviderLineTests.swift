@testable import Configuration
import Session
import Testing
@testable import Agent

// `warren id --endpoint`: only lines a consumer accepts.

@Suite struct ProviderLineTests {
    private let identity: PublicIdentity? = NodeIdentity(seed: (0..<32).map { UInt8($0) })?.publicIdentity

    @Test(arguments: [
        ("203.0.113.7:51820", "203.0.113.7:51820"),
        ("[2001:db8::1]:51820", "[2001:db8::1]:51820"),
        ("vpn.example.com:4500", "vpn.example.com:4500"),
    ])
    func aGoodEndpointGivesALineTheConsumerAccepts(endpoint: String, shown: String) throws {
        let identity = try #require(identity)
        let line = try ProviderLine.make(identity: identity, endpoint: endpoint)
        #expect(line == "\(identity)@\(shown)")
        let parsed = try ProviderAddress(parsing: line)
        #expect(parsed.identity == identity)
    }

    @Test(arguments: [
        ("bad:port", "port 'port' is not 1...65535"),
        ("203.0.113.7", "has no port"),
        ("203.0.113.7:0", "port '0' is not 1...65535"),
        ("203.0.113.7:65536", "port '65536' is not 1...65535"),
        ("2001:db8::1:51820", "needs brackets"),
        ("300.1.2.3:51820", "is not an IPv4 address"),
        ("0.0.0.0:51820", "unspecified address"),
        ("[::]:51820", "unspecified address"),
        ("bad_host:51820", "bad host"),
        ("-x.example:51820", "not a host name"),
    ])
    func aBadEndpointIsRefusedSayingWhy(endpoint: String, why: String) throws {
        let identity = try #require(identity)
        do {
            let line = try ProviderLine.make(identity: identity, endpoint: endpoint)
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.description.hasPrefix("--endpoint '\(endpoint)': "))
            #expect(error.description.contains(why), "\(error)")
            #expect(error.description.contains("e.g. 203.0.113.7:51820"))
        }
    }

    @Test func theCheckWithoutAnIdentityRefusesWhatTheConsumerWould() {
        #expect(throws: ProviderLineError.self) { try ProviderLine.endpoint("bad_host:51820") }
        #expect(throws: ProviderLineError.self) { try ProviderLine.endpoint("bad:port") }
        #expect((try? ProviderLine.endpoint("vpn.example.com:51820")) == EndpointSpec(host: "vpn.example.com", port: 51820))
    }
}
