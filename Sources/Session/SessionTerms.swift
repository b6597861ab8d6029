import WireGuard

/// A provider's price in base units: per GiB carried (both directions) and per minute
/// connected. The one price type: the config's `Price` and `MaxPrice`, the session's terms on
/// the wire and the invoices checked against them are all a `Tariff`.
///
/// Integers only: no floating point touches money. 128 bits because base units are tiny (18
/// decimals for an ERC-20 token): a price of a few tokens per GiB already needs more than 64 bits.
public struct Tariff: Hashable, Sendable {
    public var perGiB: UInt128
    public var perMinute: UInt128

    public init(perGiB: UInt128, perMinute: UInt128) {
        self.perGiB = perGiB
        self.perMinute = perMinute
    }

    public static let free = Tariff(perGiB: 0, perMinute: 0)

    /// No limit: what a consumer without `MaxPrice` accepts.
    public static let unlimited = Tariff(perGiB: .max, perMinute: .max)

    /// Whether these prices are no higher than `limit` on both meters: what a provider checks
    /// its own prices against the consumer's maximum with.
    public func fit(within limit: Tariff) -> Bool {
        perGiB <= limit.perGiB && perMinute <= limit.perMinute
    }

    /// floor(bytes × perGiB / 2^30) + floor(seconds × perMinute / 60); nil when the result
    /// does not fit in 128 bits. Each part rounds down, so the provider never bills a
    /// fraction of a base unit it cannot account for.
    public func cost(bytes: UInt128, seconds: UInt64) -> UInt128? {
        let (high, low) = bytes.multipliedFullWidth(by: perGiB)
        // The quotient of the 256-bit product by 2^30 fits in 128 bits iff high < 2^30.
        guard high >> 30 == 0 else { return nil }
        let volume = (high << 98) | (low >> 30)
        let (timeHigh, timeLow) = UInt128(seconds).multipliedFullWidth(by: perMinute)
        guard timeHigh < 60 else { return nil }
        let time = UInt128(60).dividingFullWidth((timeHigh, timeLow)).quotient
        let (sum, overflow) = volume.addingReportingOverflow(time)
        return overflow ? nil : sum
    }
}

/// What a provider grants an admitted consumer: the tunnel's addresses, its DNS, its MTU
/// and the payment terms the session runs under.
///
/// The initialiser enforces what the wire encoding can carry, so sealing never fails and a
/// parsed grant satisfies the same rules as a built one.
public struct SessionGrant: Hashable, Sendable {
    /// The provider's handle for this session; `SessionClose` names it.
    public let sessionID: UInt32
    public let consumerIPv4: IPPrefix?
    public let consumerIPv6: IPPrefix?
    public let mtu: UInt16
    public let dnsIPv4: IPAddress?
    public let dnsIPv6: IPAddress?
    /// The provider's own tunnel addresses, where vouchers and metering reports go.
    public let providerTunnelIPv4: IPAddress?
    public let providerTunnelIPv6: IPAddress?
    public let prices: Tariff
    /// Bytes the provider carries beyond the best voucher before it pauses the session.
    public let creditWindowBytes: UInt64
    /// How many bytes the consumer should let pass between vouchers.
    public let voucherIntervalBytes: UInt64
    /// Seconds without traffic after which the provider ends the session.
    public let idleTimeoutSeconds: UInt32
    /// The provider's payment address (20 bytes, an Ethereum address), the other end of the
    /// consumer's channel; nil when the provider takes no payment.
    public let providerWallet: [UInt8]?

    public static let walletLength = 20

    /// Smallest MTUs the address families allow (RFC 791 and RFC 8200).
    public static let minimumIPv4MTU: UInt16 = 576
    public static let minimumIPv6MTU: UInt16 = 1280

    public init(sessionID: UInt32, consumerIPv4: IPPrefix?, consumerIPv6: IPPrefix?, mtu: UInt16,
                dnsIPv4: IPAddress? = nil, dnsIPv6: IPAddress? = nil,
                providerTunnelIPv4: IPAddress? = nil, providerTunnelIPv6: IPAddress? = nil,
                prices: Tariff, creditWindowBytes: UInt64, voucherIntervalBytes: UInt64,
                idleTimeoutSeconds: UInt32, providerWallet: [UInt8]? = nil) throws(SessionError) {
        // A zero address or length is the wire's "none", so it cannot also be a value.
        if let prefix = consumerIPv4 {
            guard prefix.address.isV4, prefix.length > 0, prefix.address != .v4(0) else { throw .invalidField("consumer IPv4") }
        }
        if let prefix = consumerIPv6 {
            guard !prefix.address.isV4, prefix.length > 0, prefix.address != .v6(0, 0) else { throw .invalidField("consumer IPv6") }
        }
        guard consumerIPv4 != nil || consumerIPv6 != nil else { throw .invalidField("consumer address") }
        let minimumMTU = consumerIPv6 != nil ? Self.minimumIPv6MTU : Self.minimumIPv4MTU
        guard mtu >= minimumMTU else { throw .invalidField("MTU") }
        for (address, v4, name) in [(dnsIPv4, true, "DNS IPv4"), (dnsIPv6, false, "DNS IPv6"),
                                    (providerTunnelIPv4, true, "provider tunnel IPv4"),
                                    (providerTunnelIPv6, false, "provider tunnel IPv6")] {
            if let address {
                guard address.isV4 == v4, address != .v4(0), address != .v6(0, 0) else { throw .invalidField(name) }
            }
        }
        // All zero is the wire's "no wallet", so it cannot also be an address.
        if let wallet = providerWallet {
            guard wallet.count == Self.walletLength, wallet.contains(where: { $0 != 0 }) else { throw .invalidField("provider wallet") }
        }
        self.providerWallet = providerWallet
        self.sessionID = sessionID
        self.consumerIPv4 = consumerIPv4
        self.consumerIPv6 = consumerIPv6
        self.mtu = mtu
        self.dnsIPv4 = dnsIPv4
        self.dnsIPv6 = dnsIPv6
        self.providerTunnelIPv4 = providerTunnelIPv4
        self.providerTunnelIPv6 = providerTunnelIPv6
        self.prices = prices
        self.creditWindowBytes = creditWindowBytes
        self.voucherIntervalBytes = voucherIntervalBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

/// Why a provider turned a request down (the response's status byte, 1–5).
public enum SessionRefusalReason: UInt8, Sendable, CaseIterable {
    /// No free addresses or session slots.
    case full = 1
    /// The consumer's maximum is below the provider's prices (which the refusal carries).
    case priceTooLow = 2
    /// The provider's policy does not serve this consumer.
    case policyRefused = 3
    /// The consumer asks too often; retry later.
    case rateLimited = 4
    /// A malformed request, or any other reason the text explains.
    case other = 5
}

/// A refusal: the reason, the provider's current prices (so a consumer refused for price
/// knows what would be accepted) and a short text for the user.
public struct SessionRefusal: Hashable, Sendable {
    public let reason: SessionRefusalReason
    public let prices: Tariff
    /// At most 64 bytes of UTF-8 without control characters: it ends up in logs and terminals,
    /// where a provider must not be able to forge lines or move the cursor.
    public let text: String

    /// Keeps `text` within the wire's rules: control characters dropped, cut to 64 bytes at a
    /// character boundary.
    public init(reason: SessionRefusalReason, prices: Tariff = .free, text: String = "") {
        self.reason = reason
        self.prices = prices
        self.text = Self.sanitized(text)
    }

    static func sanitized(_ text: String) -> String {
        var result = ""
        var length = 0
        for character in text where !character.unicodeScalars.contains(where: isControl) {
            let size = character.utf8.count
            guard length + size <= SessionLayout.reasonLength else { break }
            result.append(character)
            length += size
        }
        return result
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
    }
}

/// The provider's answer to a session request.
public enum SessionAnswer: Hashable, Sendable {
    case accepted(SessionGrant)
    case refused(SessionRefusal)
}
