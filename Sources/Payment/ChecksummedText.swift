import WarrenCrypto

/// The envelope of the channel files and the ledger file: a text body of newline-ended lines,
/// then `blake2s <hex of BLAKE2s-256 over every byte before this line>`, so a torn, truncated
/// or edited file is refused before anything in it is interpreted.
enum ChecksummedText {
    static let checksumPrefix = "blake2s "
    /// The checksum line's length: the prefix, 64 hex digits, the newline.
    static let checksumLineLength = checksumPrefix.utf8.count + 64 + 1

    /// Why a file was refused, in the words the file errors use.
    enum Refusal: Error, Equatable {
        case longerThan(Int)
        case truncated
        case checksumMismatch

        var reason: String {
            switch self {
            case .longerThan(let limit): return "longer than \(limit) bytes"
            case .truncated: return "truncated"
            case .checksumMismatch: return "checksum does not match (torn or edited file)"
            }
        }
    }

    /// The lines, each ending in a newline, then their checksum line.
    static func seal(_ lines: [String]) -> [UInt8] {
        let body = Array((lines.joined(separator: "\n") + "\n").utf8)
        return body + Array((checksumPrefix + Hex.encode(BLAKE2s.hash(body)) + "\n").utf8)
    }

    /// The lines before the checksum line (without their newlines), once the checksum matches.
    static func open(_ bytes: [UInt8], maximumLength: Int) throws(Refusal) -> [Substring] {
        guard bytes.count <= maximumLength else { throw .longerThan(maximumLength) }
        guard bytes.count > checksumLineLength, bytes.last == UInt8(ascii: "\n") else { throw .truncated }
        let split = bytes.count - checksumLineLength
        let body = Array(bytes[..<split])
        let checksumLine = String(decoding: bytes[split..<(bytes.count - 1)], as: UTF8.self)
        guard checksumLine.hasPrefix(checksumPrefix), body.last == UInt8(ascii: "\n"),
              let stored = Hex.decode(String(checksumLine.dropFirst(checksumPrefix.utf8.count))), stored.count == 32,
              Sodium.constantTimeEqual(stored, BLAKE2s.hash(body)) else {
            throw .checksumMismatch
        }
        var lines = String(decoding: body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // after the final newline
        return lines
    }
}
