#if canImport(Glibc)
import Glibc
import LinuxPlatform
#elseif canImport(Musl)
import Musl
#endif

/// Reads a config file as UTF-8 text, turning every failure into a `ConfigError` naming the path.
enum ConfigFile {
    /// Config files are a few kilobytes; anything this large is the wrong file.
    static let maximumSize = 1 << 20

    static func readText(path: String) throws(ConfigError) -> String {
        let bytes = try readBytes(path: path)
        var lineNumber = 1
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if String(validating: line, as: UTF8.self) == nil {
                throw ConfigError(file: path, line: lineNumber, key: nil, message: "is not valid UTF-8 text")
            }
            lineNumber += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func readBytes(path: String) throws(ConfigError) -> [UInt8] {
        let read: [UInt8]?
        do { read = try DurableFile.read(path, limit: maximumSize) } catch { throw failure(path, error.errno) }
        guard let bytes = read else { throw failure(path, ENOENT) }
        guard bytes.count <= maximumSize else {
            throw ConfigError(file: path, line: nil, key: nil,
                              message: "is larger than \(maximumSize / 1024) KiB; is this really a config file?")
        }
        return bytes
    }

    private static func failure(_ path: String, _ code: Int32) -> ConfigError {
        let advice: String
        switch code {
        case ENOENT, ENOTDIR: advice = "check the path"
        case EACCES, EPERM: advice = "run as root (a config holds a private key and is usually 0600)"
        case EISDIR: advice = "give the config file, not its directory"
        default: advice = "check the file"
        }
        return ConfigError(file: path, line: nil, key: nil,
                           message: "cannot read: \(String(cString: strerror(code)).lowercased()): \(advice)")
    }
}
