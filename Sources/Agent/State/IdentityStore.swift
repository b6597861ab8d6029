import Session
import WarrenCrypto
import WireGuard

/// The node's Ed25519 identity in the state directory (`identity`, mode 0600),
/// created on first start. Its X25519 form is the node's WireGuard key.
public enum IdentityStore {
    public static func loadOrCreate(stateDirectory: String) throws(AgentError) -> NodeIdentity {
        try KeyFile.loadOrCreate(
            "identity", in: stateDirectory, what: "node identity",
            ifDamaged: "restore it from a backup, or delete it to make a new identity (consumers will need the new `warren id`)",
            decode: NodeIdentity.init(serialized:), generate: { NodeIdentity.generate(entropy: SystemEntropy()) },
            encode: { $0.serialized() })
    }
}
