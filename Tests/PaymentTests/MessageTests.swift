import Testing
@testable import Payment

/// Voucher and invoice wire forms: exact layouts, round trips, and that no changed byte
/// yields a message the original signer signed.
@Suite struct MessageTests {
    let domain = PaymentFixture.domain

    var voucher: SignedVoucher {
        Voucher(channelID: PaymentFixture.channel().id, cumulativeAmount: 0x0102_0304_0506_0708_090A_0B0C_0D0E_0F10)
            .sign(with: PaymentFixture.consumer, domain: domain)
    }

    var invoice: SignedInvoice {
        Invoice(channelID: PaymentFixture.channel().id, sessionID: 0xA1B2_C3D4, sequence: 7,
                bytesFromConsumer: 1_000_000, bytesToConsumer: 20_000_000, secondsConnected: 95,
                amountDue: 3_000_000_000_000_000).sign(with: PaymentFixture.provider, domain: domain)
    }

    @Test func voucherLayout() {
        let signed = voucher
        let bytes = signed.serialized()
        #expect(bytes.count == 133 && PaymentLayout.voucherLength == 133)
        #expect(Array(bytes[0..<4]) == [8, 0, 0, 0])
        #expect(Array(bytes[4..<36]) == signed.channelID.bytes)
        #expect(Array(bytes[36..<52]) == [UInt8](repeating: 0, count: 16))
        #expect(Array(bytes[52..<68]) == (1...16).map { UInt8($0) })
        #expect(Array(bytes[68..<133]) == signed.signature.bytes)
    }

    @Test func invoiceLayout() {
        let signed = invoice
        let bytes = signed.serialized()
        #expect(bytes.count == 169 && PaymentLayout.invoiceLength == 169)
        #expect(Array(bytes[0..<4]) == [9, 0, 0, 0])
        #expect(Array(bytes[4..<36]) == signed.invoice.channelID.bytes)
        #expect(Array(bytes[36..<40]) == [0xA1, 0xB2, 0xC3, 0xD4])
        #expect(Array(bytes[40..<48]) == [0, 0, 0, 0, 0, 0, 0, 7])
        #expect(Array(bytes[48..<56]) == [0, 0, 0, 0, 0, 0x0F, 0x42, 0x40])
        #expect(Array(bytes[56..<64]) == [0, 0, 0, 0, 0x01, 0x31, 0x2D, 0x00])
        #expect(Array(bytes[64..<72]) == [0, 0, 0, 0, 0, 0, 0, 95])
        #expect(Array(bytes[72..<104]) == UInt256.encode(UInt128(3_000_000_000_000_000)))
        #expect(Array(bytes[104..<169]) == signed.signature.bytes)
    }

    @Test func roundTrips() throws {
        let v = voucher
        let parsedVoucher = try SignedVoucher(parsing: v.serialized())
        #expect(parsedVoucher == v)
        #expect(parsedVoucher.serialized() == v.serialized())
        #expect(parsedVoucher.signer(domain: domain) == PaymentFixture.consumer.address)
        let i = invoice
        let parsedInvoice = try SignedInvoice(parsing: i.serialized())
        #expect(parsedInvoice == i)
        #expect(parsedInvoice.serialized() == i.serialized())
        #expect(parsedInvoice.signer(domain: domain) == PaymentFixture.provider.address)
    }

    @Test func everyChangedByteIsRefusedOrNotTheSigners() {
        let cases: [([UInt8], EthereumAddress, ([UInt8]) -> EthereumAddress??)] = [
            (voucher.serialized(), PaymentFixture.consumer.address, { (try? SignedVoucher(parsing: $0)).map { $0.signer(domain: domain) } }),
            (invoice.serialized(), PaymentFixture.provider.address, { (try? SignedInvoice(parsing: $0)).map { $0.signer(domain: domain) } }),
        ]
        for (original, signer, open) in cases {
            for index in original.indices {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    // The voucher's closing flag (byte 1, bit 0) is deliberately outside the signature.
                    if original[0] == PaymentMessageType.voucher.rawValue && index == 1 && mask == SignedVoucher.closingFlag { continue }
                    var changed = original
                    changed[index] ^= mask
                    if let recovered = open(changed) {
                        #expect(recovered != signer, "byte \(index) ^ \(mask) still verifies")
                    }
                }
            }
        }
    }

    @Test func lengthsTypesAndReservedBytesAreCheckedFirst() throws {
        let v = voucher.serialized()
        #expect(throws: PaymentError.wrongLength(expected: 133, actual: 0)) { try SignedVoucher(parsing: []) }
        #expect(throws: PaymentError.wrongLength(expected: 133, actual: 132)) { try SignedVoucher(parsing: Array(v.dropLast())) }
        #expect(throws: PaymentError.wrongLength(expected: 133, actual: 134)) { try SignedVoucher(parsing: v + [0]) }
        #expect(throws: PaymentError.wrongType(9)) { try SignedVoucher(parsing: [9] + v.dropFirst()) }
        var reserved = v
        reserved[2] = 1
        #expect(throws: PaymentError.nonZeroReserved) { try SignedVoucher(parsing: reserved) }
        // Byte 1 carries flags: only "closing" (bit 0) is defined; it is not part of what is signed.
        var closing = v
        closing[1] = SignedVoucher.closingFlag
        #expect(try SignedVoucher(parsing: closing) == SignedVoucher(parsing: v))
        #expect(SignedVoucher.isClosing(closing) && !SignedVoucher.isClosing(v))
        #expect(try SignedVoucher(parsing: v).serialized(closing: true) == closing)
        var unknownFlag = v
        unknownFlag[1] = 0x02
        #expect(throws: PaymentError.nonZeroReserved) { try SignedVoucher(parsing: unknownFlag) }
        var large = v
        large[36] = 1
        #expect(throws: PaymentError.amountTooLarge) { try SignedVoucher(parsing: large) }

        let i = invoice.serialized()
        #expect(throws: PaymentError.wrongLength(expected: 169, actual: 168)) { try SignedInvoice(parsing: Array(i.dropLast())) }
        #expect(throws: PaymentError.wrongType(8)) { try SignedInvoice(parsing: [8] + i.dropFirst()) }
        var largeDue = i
        largeDue[72] = 0x80
        #expect(throws: PaymentError.amountTooLarge) { try SignedInvoice(parsing: largeDue) }
        // Random lengths around the real ones never crash and never parse.
        for length in 0..<300 where length != 133 && length != 169 {
            let junk = [UInt8](repeating: 8, count: length)
            #expect((try? SignedVoucher(parsing: junk)) == nil)
            #expect((try? SignedInvoice(parsing: [9] + junk.dropFirst())) == nil)
        }
    }

    @Test func largestAmountFitsAndRoundTrips() throws {
        let signed = Voucher(channelID: PaymentFixture.channel().id, cumulativeAmount: .max)
            .sign(with: PaymentFixture.consumer, domain: domain)
        let parsed = try SignedVoucher(parsing: signed.serialized())
        #expect(parsed.cumulativeAmount == .max)
        #expect(parsed.signer(domain: domain) == PaymentFixture.consumer.address)
    }
}
