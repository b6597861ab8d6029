import Session
import WireGuard

/// `warren id --endpoint HOST:PORT`: the `Provider =` line a provider hands to its consumers.
///
/// The endpoint is checked twice before anything is printed: by the config's `Endpoint` rules
/// (precise messages: brackets for IPv6, the port range) and by the parser the consumer runs
/// on the pasted line (`ProviderAddress`), so a line this prints is a line a consumer accepts.
/// An unspecified address (`0.0.0.0`, `::`) is refused too: no consumer can reach it.
public enum ProviderLine {
    /// `IDENTITY@ENDPOINT`, or why the endpoint is not one a consumer can use.
    public static func make(identity: PublicIdentity, endpoint: String) throws(ProviderLineError) -> String {
        let spec = try self.endpoint(endpoint)
        let line = "\(identity)@\(spec)"
        do throws(ProviderAddressError) {
            return try ProviderAddress(parsing: line).description
        } catch {
            throw ProviderLineError(endpoint: endpoint, problem: "\(error)")
        }
    }

    /// The endpoint checked by the config's `Endpoint` rules, without an identity (so the CLI
    /// can refuse a typo before it creates one).
    public static func endpoint(_ text: String) throws(ProviderLineError) -> EndpointSpec {
        let spec: EndpointSpec
        do throws(ValueProblem) {
            spec = try ConfigValue.endpoint(Substring(text))
        } catch {
            throw ProviderLineError(endpoint: text, problem: error.message)
        }
        if let address = IPAddress(parsing: spec.host), address.bytes.allSatisfy({ $0 == 0 }) {
            throw ProviderLineError(endpoint: text, problem: "\(spec.host) is the unspecified address, which no consumer can reach")
        }
        // The consumer's parser is stricter about host names (no `_`); what it accepts does not
        // depend on the identity, so a fixed one stands in until the real one exists.
        if let placeholder = placeholderIdentity {
            do throws(ProviderAddressError) {
                _ = try ProviderAddress(parsing: "\(placeholder)@\(spec)")
            } catch {
                throw ProviderLineError(endpoint: text, problem: "\(error)")
            }
        }
        return spec
    }

    private static let placeholderIdentity = NodeIdentity(seed: Array(repeating: 1, count: 32))?.publicIdentity
}

/// Why `--endpoint` was refused, and what to give instead.
public struct ProviderLineError: Error, Equatable, Sendable, CustomStringConvertible {
    public var endpoint: String
    /// What is wrong with it, as the endpoint parser said.
    public var problem: String

    public var description: String {
        "--endpoint '\(endpoint)': \(problem); give the address (or host name) and UDP port at which consumers reach "
            + "this provider, e.g. 203.0.113.7:51820, [2001:db8::1]:51820 or vpn.example.com:51820"
    }
}
