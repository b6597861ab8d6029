/// A domain name read from a DNS message (RFC 1035 section 3.1 and 4.1.4).
///
/// `wire` is the name uncompressed and with its case as sent, for echoing a question back
/// (resolvers that randomise case check it). `text` is the form names are compared in:
/// lowercase ASCII labels joined by `.`, no trailing dot, "" for the root. A label byte
/// outside letters, digits, `-` and `_` is written `\DDD`, so a label holding a dot can never
/// pass for two labels.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public static let maximumWireLength = 255
    /// Compression pointers followed in one name before it counts as a loop.
    public static let maximumPointers = 32

    public let wire: [UInt8]
    public let text: String

    public var description: String { text.isEmpty ? "." : text }

    /// Reads the name at `offset` in `message`, following compression pointers.
    /// Returns the name and the offset just past it where it was written.
    ///
    /// A pointer must point before the start of the labels that led to it and into the
    /// message body (past the header), so each jump moves strictly backwards and no chain of
    /// pointers can loop.
    static func read(from message: UnsafeRawBufferPointer, at offset: Int) throws(DNSError) -> (name: DNSName, end: Int) {
        var wire: [UInt8] = []
        var text: [UInt8] = []
        var position = offset
        var segmentStart = offset
        var end: Int?
        var pointers = 0
        while true {
            guard position < message.count else { throw .truncated }
            let length = Int(message[position])
            switch length & 0xc0 {
            case 0xc0:
                guard position + 1 < message.count else { throw .truncated }
                let target = (length & 0x3f) << 8 | Int(message[position + 1])
                guard target >= DNSMessage.headerLength else { throw .badPointer }
                guard target < segmentStart, pointers < maximumPointers else { throw .pointerLoop }
                if end == nil { end = position + 2 }
                pointers += 1
                segmentStart = target
                position = target
            case 0x00:
                if length == 0 {
                    wire.append(0)
                    let name = DNSName(wire: wire, text: String(decoding: text, as: UTF8.self))
                    return (name, end ?? position + 1)
                }
                guard position + 1 + length <= message.count else { throw .truncated }
                guard wire.count + 1 + length + 1 <= maximumWireLength else { throw .nameTooLong }
                wire.append(UInt8(length))
                if !text.isEmpty { text.append(UInt8(ascii: ".")) }
                for index in (position + 1)..<(position + 1 + length) {
                    let byte = message[index]
                    wire.append(byte)
                    appendText(byte, to: &text)
                }
                position += 1 + length
            default:
                throw .unsupportedLabelType        // 0x40 and 0x80: extended and reserved label types
            }
        }
    }

    private static func appendText(_ byte: UInt8, to text: inout [UInt8]) {
        let lower = HostName.lowercased(byte)
        switch lower {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"):
            text.append(lower)
        default:
            text.append(UInt8(ascii: "\\"))
            text.append(UInt8(ascii: "0") + lower / 100)
            text.append(UInt8(ascii: "0") + lower / 10 % 10)
            text.append(UInt8(ascii: "0") + lower % 10)
        }
    }
}
