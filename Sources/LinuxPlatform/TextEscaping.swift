/// Text from outside (a config file, a path, a peer) made safe to print on one line of a
/// terminal or a log: control characters become visible escapes, so a config line holding an
/// escape sequence cannot recolour or clear the terminal, and a newline cannot forge a second
/// log line.
///
/// Escaped: C0 controls and DEL (`\t`, `\n`, `\r` by name, the others as `\x1b`), C1 controls
/// (`\u{85}`), the Unicode line and paragraph separators and the bidirectional overrides and
/// isolates, which reorder what a reader sees. Everything else, backslashes included, is kept.
extension String {
    public var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: Self.needsEscape) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            guard Self.needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                let hex = String(scalar.value, radix: 16)
                if scalar.value < 0x80 {
                    out += "\\x" + (hex.count < 2 ? "0" + hex : hex)
                } else {
                    out += "\\u{\(hex)}"
                }
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x2028, 0x2029: return true                       // line and paragraph separators
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true   // bidi marks, embeddings, overrides, isolates
        default: return false
        }
    }
}
