#if canImport(Glibc)
import Glibc
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
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw failure(path, code)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > maximumSize {
                throw ConfigError(file: path, line: nil, key: nil,
                                  message: "is larger than \(maximumSize / 1024) KiB; is this really a config file?")
            }
        }
    }

    private static func failure(_ path: String, _ code: Int32) -> ConfigError {
        ConfigError(file: path, line: nil, key: nil, message: "cannot read: \(String(cString: strerror(code)))")
    }
}
