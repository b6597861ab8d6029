import Payment
import WarrenCrypto
import WireGuard

/// The node's secp256k1 payment key in the state directory (`wallet`, mode 0600),
/// separate from the Ed25519 identity, created on first use.
public enum WalletStore {
    public static func loadOrCreate(stateDirectory: String) throws(AgentError) -> WalletKey {
        try KeyFile.loadOrCreate(
            "wallet", in: stateDirectory, what: "wallet key",
            ifDamaged: "restore it from a backup; do not delete it while channels are open",
            decode: WalletKey.init(serialized:), generate: { WalletKey.generate(entropy: SystemEntropy()) },
            encode: { $0.serialized() })
    }
}
