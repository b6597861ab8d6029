import Glibc
import LinuxPlatform
import Session
import WireGuard

/// The node's Ed25519 identity in the state directory (`identity`, mode 0600),
/// created on first start. Its X25519 form is the node's WireGuard key.
public enum IdentityStore {
    public static func path(stateDirectory: String) -> String { "\(stateDirectory)/identity" }

    public static func loadOrCreate(stateDirectory: String) throws(AgentError) -> NodeIdentity {
        try StateDirectory.create(stateDirectory)
        let file = path(stateDirectory: stateDirectory)
        if let bytes = StateFile.read(file, limit: 4096) {
            // A torn or foreign file is never replaced silently: the identity is what consumers know us by.
            guard let identity = NodeIdentity(serialized: bytes) else {
                throw .platform(step: "loading the node identity", PlatformError(call: "read", errno: 0,
                    message: "\(file) is damaged (checksum or format): restore it from a backup, or delete it to make a new identity (consumers will need the new `warren id`)"))
            }
            return identity
        }
        if access(file, F_OK) == 0 {
            throw .platform(step: "loading the node identity", PlatformError(call: "open", errno: EACCES, message: "\(file) exists but cannot be read: run as root"))
        }
        let identity = NodeIdentity.generate(entropy: SystemEntropy())
        guard StateFile.write(file, identity.serialized()) else {
            throw .platform(step: "saving the node identity", PlatformError(call: "write", errno: errno,
                message: "cannot write \(file): check that --state-dir is writable"))
        }
        return identity
    }
}
