// libFuzzer target for everything the payment code parses from the tunnel or from disk.
//
// Built like the other targets (swiftc -sanitize=fuzzer,address; see scripts/fuzz). Each input
// is offered
//   - as it is, to the voucher and invoice parsers, the wallet key file reader, the ledger
//     file reader and the address, channel id and hex text parsers;
//   - framed with each payment type at the exact lengths, so the field checks behind the
//     length check see hostile bytes. A message that parses must serialise to the same
//     bytes (one encoding per message), and recovering its signer must not trap;
//   - as an invoice's fields and the consumer's own counts to `InvoiceCheck`, and as a
//     voucher to a ledger with one open channel, whose money must stay conserved.

import WarrenCrypto
import Payment
import Session

final class PaymentFuzzFixture {
    let consumer: WalletKey
    let provider: WalletKey
    let domain = LocalLedger.defaultDomain
    let channel: Channel
    var ledger: LedgerState

    init() {
        consumer = WalletKey.generate(entropy: SeededEntropy(seed: [1]))
        provider = WalletKey.generate(entropy: SeededEntropy(seed: [2]))
        ledger = LedgerState(domain: domain)
        guard let channel = try? Channel(consumer: consumer.address, provider: provider.address,
                                         salt: [UInt8](repeating: 7, count: 32), deposit: 1_000_000, expiry: 2_000),
              (try? ledger.fund(consumer.address, amount: 5_000_000)) != nil,
              (try? ledger.open(channel, now: 1_000)) != nil else {
            fatalError("fuzz fixture failed to build")
        }
        self.channel = channel
    }
}

nonisolated(unsafe) let paymentFixture = PaymentFuzzFixture()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let fixture = paymentFixture

    // Raw messages and files.
    if let voucher = try? SignedVoucher(parsing: bytes), voucher.serialized(closing: SignedVoucher.isClosing(bytes)) != bytes {
        fatalError("voucher has two encodings")
    }
    if let invoice = try? SignedInvoice(parsing: bytes), invoice.serialized() != bytes {
        fatalError("invoice has two encodings")
    }
    _ = WalletKey(serialized: bytes)
    if let state = try? LedgerState(encoded: bytes), state.encoded() != bytes {
        fatalError("ledger file has two encodings")
    }
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? EthereumAddress(parsing: text)
    _ = try? ChannelID(parsing: text)
    _ = Hex.decode(text)
    _ = try? Signature(bytes: bytes)

    // Each type at its exact length, so the parsers get past the length check.
    for (type, length) in [(PaymentMessageType.voucher, PaymentLayout.voucherLength),
                           (.invoice, PaymentLayout.invoiceLength)] {
        let framed = Array(([type.rawValue, 0, 0, 0] + bytes + [UInt8](repeating: 0, count: length)).prefix(length))
        if let voucher = try? SignedVoucher(parsing: framed) {
            if voucher.serialized(closing: SignedVoucher.isClosing(framed)) != framed { fatalError("framed voucher has two encodings") }
            _ = voucher.signer(domain: fixture.domain)
        }
        if let invoice = try? SignedInvoice(parsing: framed) {
            if invoice.serialized() != framed { fatalError("framed invoice has two encodings") }
            _ = invoice.signer(domain: fixture.domain)
        }
    }

    // Hostile invoice fields and counts: the check's integer arithmetic must never trap.
    if size >= 64 {
        var reader = bytes[...]
        func word<T: FixedWidthInteger>(_: T.Type) -> T {
            defer { reader = reader.dropFirst(T.bitWidth / 8) }
            return reader.prefix(T.bitWidth / 8).reduce(T(0)) { $0 << 8 | T($1) }
        }
        let tariff = Tariff(perGiB: UInt128(word(UInt64.self)) << (size % 64), perMinute: UInt128(word(UInt64.self)))
        let invoice = Invoice(channelID: fixture.channel.id, sessionID: 1, sequence: word(UInt64.self),
                              bytesFromConsumer: word(UInt64.self), bytesToConsumer: word(UInt64.self),
                              secondsConnected: word(UInt64.self), amountDue: UInt128(word(UInt64.self)) << 40)
            .sign(with: fixture.provider, domain: fixture.domain)
        let check = InvoiceCheck(domain: fixture.domain, provider: fixture.provider.address, channelID: fixture.channel.id,
                                 sessionID: 1, tariff: tariff, tolerance: InvoiceTolerance(percent: UInt64(bytes[0]) * 1_000_000_000_000_000),
                                 sessionBase: UInt128(bytes[1]) << 120, spendingCap: .max, lastVoucherAmount: 0)
        _ = check.evaluate(invoice, bytesSent: word(UInt64.self), bytesReceived: .max, secondsConnected: UInt64(size))
    }

    // Vouchers against the ledger: hostile ones (which cannot carry the consumer's signature)
    // and a few real ones for amounts and times taken from the input. However they come,
    // the provider never gets more than the deposit and no base unit appears or vanishes.
    var ledger = fixture.ledger
    let framed = Array(([PaymentMessageType.voucher.rawValue, 0, 0, 0] + fixture.channel.id.bytes + bytes
                        + [UInt8](repeating: 0, count: PaymentLayout.voucherLength)).prefix(PaymentLayout.voucherLength))
    if let voucher = try? SignedVoucher(parsing: framed) {
        _ = try? ledger.claim(voucher, now: 1_500)
    }
    for chunk in stride(from: 0, to: min(size, 20), by: 10) where chunk + 10 <= size {
        let amount = bytes[chunk..<(chunk + 8)].reduce(UInt128(0)) { $0 << 8 | UInt128($1) } >> UInt128(bytes[chunk] % 48)
        let now = 1_000 + UInt64(bytes[chunk + 8]) * 8 + UInt64(bytes[chunk + 9] % 8)
        let voucher = Voucher(channelID: fixture.channel.id, cumulativeAmount: amount).sign(with: fixture.consumer, domain: fixture.domain)
        if bytes[chunk + 9] & 0x80 != 0 {
            _ = try? ledger.reclaim(fixture.channel.id, now: now)
        } else {
            _ = try? ledger.claim(voucher, now: now)
        }
    }
    let paid = ledger.balance(of: fixture.provider.address)
    let claimed = ledger.channels[fixture.channel.id]?.claimed ?? 0
    let reclaimed = ledger.channels[fixture.channel.id]?.reclaimed ?? true
    let locked = reclaimed ? 0 : fixture.channel.deposit - claimed
    if paid != claimed || paid > fixture.channel.deposit
        || ledger.balance(of: fixture.consumer.address) + paid + locked != 5_000_000 {
        fatalError("ledger paid beyond the deposit or lost money")
    }
    return 0
}
