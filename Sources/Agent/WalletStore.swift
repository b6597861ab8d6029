import Glibc
import LinuxPlatform
import Payment
import WireGuard

/// The node's secp256k1 payment key in the state directory (`wallet`, mode 0600),
/// separate from the Ed25519 identity, created on first use.
public enum WalletStore {
    public static func path(stateDirectory: String) -> String { "\(stateDirectory)/wallet" }

    public static func loadOrCreate(stateDirectory: String) throws(AgentError) -> WalletKey {
        try StateDirectory.create(stateDirectory)
        let file = path(stateDirectory: stateDirectory)
        if let bytes = StateFile.read(file, limit: 4096) {
            // A damaged key file is never replaced: money may be bound to the old address.
            guard let key = WalletKey(serialized: bytes) else {
                throw .platform(step: "loading the wallet key", PlatformError(call: "read", errno: 0,
                    message: "\(file) is damaged (checksum or format): restore it from a backup; do not delete it while channels are open"))
            }
            return key
        }
        if access(file, F_OK) == 0 {
            throw .platform(step: "loading the wallet key", PlatformError(call: "open", errno: EACCES, message: "\(file) exists but cannot be read: run as root"))
        }
        let key = WalletKey.generate(entropy: SystemEntropy())
        guard StateFile.write(file, key.serialized()) else {
            throw .platform(step: "saving the wallet key", PlatformError(call: "write", errno: errno,
                message: "cannot write \(file): check that --state-dir is writable"))
        }
        return key
    }
}
