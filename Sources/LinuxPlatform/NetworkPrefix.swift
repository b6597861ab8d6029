import CNetlink
import Glibc

/// An address with a prefix length, parsed strictly from "10.0.0.1/24" or
/// "fd00::1/64" (no prefix: a host prefix, /32 or /128). Parsed here rather
/// than by nl_addr_parse, which also accepts names like "default" and hex.
struct NetworkPrefix: Equatable {
    let family: Int32
    let bytes: [UInt8]
    let length: Int

    init(parsing text: String, purpose: String) throws(PlatformError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, host, &buffer) == 1 {
            family = AF_INET
            bytes = Array(buffer[0..<4])
        } else if inet_pton(AF_INET6, host, &buffer) == 1 {
            family = AF_INET6
            bytes = buffer
        } else {
            throw Self.invalid(text, purpose: purpose, reason: "\"\(host)\" is not an IPv4 or IPv6 address")
        }
        let maximum = bytes.count * 8
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maximum).contains(parsed), parts[1].allSatisfy(\.isASCII) else {
                throw Self.invalid(text, purpose: purpose, reason: "the prefix length must be a number from 0 to \(maximum)")
            }
            length = parsed
        } else {
            length = maximum
        }
    }

    /// True if every bit after the prefix is zero (what a route needs).
    var hasOnlyNetworkBits: Bool {
        for bit in length..<(bytes.count * 8) where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 {
            return false
        }
        return true
    }

    /// The prefix with host bits cleared, as text ("10.214.0.0/16").
    var networkText: String {
        var network = bytes
        for bit in length..<(bytes.count * 8) {
            network[bit / 8] &= ~(0x80 >> UInt8(bit % 8))
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(family, network, &text, socklen_t(text.count))
        return "\(cString(text))/\(length)"
    }

    /// A new libnl address (caller releases it with nl_addr_put).
    func makeNetlinkAddress(call: String) throws(PlatformError) -> OpaquePointer {
        guard let address = nl_addr_build(family, bytes, bytes.count) else {
            throw PlatformError(call: "nl_addr_build", errno: ENOMEM, message: "\(call): out of memory building a netlink address")
        }
        nl_addr_set_prefixlen(address, Int32(length))
        return address
    }

    private static func invalid(_ text: String, purpose: String, reason: String) -> PlatformError {
        PlatformError(
            call: "parse \(purpose)", errno: EINVAL,
            message: "\"\(text)\" is not a valid \(purpose): \(reason); write it like 10.0.0.1/24 or fd00::1/64")
    }
}
