import Glibc
import LinuxPlatform

/// A secret key kept in the state directory (mode 0600), created on first use.
///
/// A damaged file is never replaced silently: consumers know a node by its
/// identity, and money may be bound to a wallet address.
enum KeyFile {
    static func loadOrCreate<Key>(
        _ name: String, in stateDirectory: String, what: String, ifDamaged advice: String,
        decode: ([UInt8]) -> Key?, generate: () -> Key, encode: (Key) -> [UInt8]
    ) throws(AgentError) -> Key {
        try StateDirectory.create(stateDirectory)
        let file = "\(stateDirectory)/\(name)"
        if let bytes = StateFile.read(file, limit: 4096) {
            guard let key = decode(bytes) else {
                throw .platform(step: "loading the \(what)", PlatformError(call: "read", errno: 0,
                    message: "\(file) is damaged (checksum or format): \(advice)"))
            }
            return key
        }
        if access(file, F_OK) == 0 {
            throw .platform(step: "loading the \(what)", PlatformError(call: "open", errno: EACCES, message: "\(file) exists but cannot be read: run as root"))
        }
        let key = generate()
        guard StateFile.write(file, encode(key)) else {
            throw .platform(step: "saving the \(what)", PlatformError(call: "write", errno: errno,
                message: "cannot write \(file): check that --state-dir is writable"))
        }
        return key
    }
}
