@testable import Configuration
@testable import Policy
import Testing
@testable import Agent
import WireGuard

/// The payment keys of [Provider] and [Exit]: values, defaults, and errors that name file,
/// line and key.
@Suite struct PaymentConfigTests {
    static let file = "/etc/warren/pay.conf"
    static let token: UInt128 = 1_000_000_000_000_000_000

    func provider(_ extra: String) throws(ConfigError) -> ProviderConfig? {
        let text = "[Interface]\nListenPort = 51820\n\n[Provider]\nWAN = eth0\nPool = 10.99.0.0/24\nExit = open\n" + extra
        return try ProviderConfig.from(try TunnelConfig.parse(text, file: Self.file), file: Self.file)
    }

    func exit(_ extra: String) throws(ConfigError) -> ExitConfig? {
        let text = "[Interface]\n\n[Exit]\nProvider = wr1x@192.0.2.1:51820\n" + extra
        return try ExitConfig.from(try TunnelConfig.parse(text, file: Self.file), file: Self.file)
    }

    func message(_ body: () throws(ConfigError) -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }

    @Test func providerKeys() throws {
        let config = try #require(try provider("""
            Price = 0.5/GiB, 0.01/min
            CreditWindow = 8MiB
            SettleThreshold = 0.25
            PaymentGrace = 45
            ExpiryMargin = 600
            PersistInterval = 5
            Ledger = /srv/ledger
            StrangerWindows = 4
            """))
        #expect(config.price.perGiB == Self.token / 2)
        #expect(config.payment.strangerWindows == 4)
        #expect(config.payment.creditWindow == 8 << 20)
        #expect(config.payment.settleThreshold.baseUnits == Self.token / 4)
        #expect(config.payment.graceSeconds == 45)
        #expect(config.payment.expiryMarginSeconds == 600)
        #expect(config.payment.persistInterval == 5)
        #expect(config.payment.ledger == "/srv/ledger")
    }

    @Test func providerDefaults() throws {
        let payment = try #require(try provider("")).payment
        #expect(payment == ProviderPaymentConfig())
        #expect(payment.creditWindow == 256 << 20)
        #expect(payment.persistInterval == 10)
        #expect(payment.ledger == "/var/lib/warren/ledger")
        #expect(payment.strangerWindows == 16)
    }

    @Test func sizesTakeUnits() throws {
        #expect(try provider("CreditWindow = 65536")?.payment.creditWindow == 65536)
        #expect(try provider("CreditWindow = 512KiB")?.payment.creditWindow == 512 << 10)
        #expect(try provider("CreditWindow = 1GiB")?.payment.creditWindow == 1 << 30)
    }

    @Test func exitKeys() throws {
        let config = try #require(try exit("""
            Deposit = 2.5
            MaxSpend = 1
            MaxPrice = 1/GiB
            ChannelLifetime = 86400
            PersistInterval = 3
            Ledger = /srv/ledger
            """))
        #expect(config.payment.deposit?.baseUnits == 5 * Self.token / 2)
        #expect(config.payment.depositLine == 5)
        #expect(config.payment.maxSpendPerDay?.baseUnits == Self.token)
        #expect(config.payment.channelLifetimeSeconds == 86400)
        #expect(config.payment.persistInterval == 3)
        #expect(config.payment.ledger == "/srv/ledger")
        let plain = try #require(try exit(""))
        #expect(plain.payment.deposit == nil && plain.payment.maxSpendPerDay == nil)
    }

    @Test func badValuesNameFileLineAndKey() {
        let cases: [(() throws(ConfigError) -> Void, String)] = [
            ({ () throws(ConfigError) in _ = try self.provider("CreditWindow = 1KiB") },
             "/etc/warren/pay.conf:8: CreditWindow: '1KiB' is not a size of at least 65536 bytes (e.g. 16MiB, 512KiB)"),
            ({ () throws(ConfigError) in _ = try self.provider("SettleThreshold = 0.1.2") },
             "/etc/warren/pay.conf:8: SettleThreshold: '0.1.2' is not an amount of tokens (a decimal number with at most 18 decimals, e.g. 0.25)"),
            ({ () throws(ConfigError) in _ = try self.provider("PersistInterval = 0") },
             "/etc/warren/pay.conf:8: PersistInterval: '0' is not a number of seconds from 1 to 3600"),
            ({ () throws(ConfigError) in _ = try self.provider("Ledger = ledger") },
             "/etc/warren/pay.conf:8: Ledger: 'ledger' is not an absolute directory path"),
            ({ () throws(ConfigError) in _ = try self.provider("StrangerWindows = 0") },
             "/etc/warren/pay.conf:8: StrangerWindows: '0' is not a number from 1 to 65536"),
            ({ () throws(ConfigError) in _ = try self.exit("Deposit = 0") },
             "/etc/warren/pay.conf:5: Deposit: a deposit must be more than 0"),
            ({ () throws(ConfigError) in _ = try self.exit("ChannelLifetime = 5") },
             "/etc/warren/pay.conf:5: ChannelLifetime: '5' is not a number of seconds from 60 to 31536000"),
        ]
        for (body, expected) in cases {
            #expect(message(body) == expected)
        }
    }
}

/// Which inner packets are payment datagrams: UDP to (or from) port 4747 of the provider's
/// tunnel address, nothing else — they pass a paused session and are not billed.
@Suite struct PaymentPortTests {
    let provider = IPAddress(parsing: "10.99.0.1")!

    func udp4(source: String, destination: String, sourcePort: UInt16, destinationPort: UInt16, fragmentOffset: UInt16 = 0) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: 28)
        packet[0] = 0x45
        packet[3] = 28                  // total length: PaymentPort reads the header as Policy does
        packet[6] = UInt8(fragmentOffset >> 8)
        packet[7] = UInt8(fragmentOffset & 0xFF)
        packet[9] = 17
        for (offset, text) in [(12, source), (16, destination)] {
            let parts = text.split(separator: ".").compactMap { UInt8($0) }
            packet.replaceSubrange(offset..<(offset + 4), with: parts)
        }
        packet[20] = UInt8(sourcePort >> 8); packet[21] = UInt8(sourcePort & 0xFF)
        packet[22] = UInt8(destinationPort >> 8); packet[23] = UInt8(destinationPort & 0xFF)
        return packet
    }

    func matches(_ packet: [UInt8], destination: Bool) -> Bool {
        packet.withUnsafeBytes { PaymentPort.matches($0, destination: destination, addresses: [provider]) }
    }

    @Test func voucherToTheProviderMatches() {
        #expect(matches(udp4(source: "10.99.0.2", destination: "10.99.0.1", sourcePort: 4747, destinationPort: 4747), destination: true))
        #expect(matches(udp4(source: "10.99.0.1", destination: "10.99.0.2", sourcePort: 4747, destinationPort: 4747), destination: false))
    }

    @Test func otherTrafficDoesNot() {
        // The port on another address is Internet traffic, billed and paused like any other.
        #expect(!matches(udp4(source: "10.99.0.2", destination: "203.0.113.9", sourcePort: 4747, destinationPort: 4747), destination: true))
        #expect(!matches(udp4(source: "10.99.0.2", destination: "10.99.0.1", sourcePort: 4747, destinationPort: 53), destination: true))
        var tcp = udp4(source: "10.99.0.2", destination: "10.99.0.1", sourcePort: 1, destinationPort: 4747)
        tcp[9] = 6
        #expect(!matches(tcp, destination: true))
        // A later fragment carries no UDP header where the port would be.
        #expect(!matches(udp4(source: "10.99.0.2", destination: "10.99.0.1", sourcePort: 4747, destinationPort: 4747, fragmentOffset: 3), destination: true))
        #expect(!matches([0x45, 0, 0], destination: true))
        #expect(!matches([], destination: true))
    }
}
