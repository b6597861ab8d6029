import Testing
@testable import Payment

/// EIP-712 hashing: the specification's own "Mail" example, built from the field encoders,
/// and warren's voucher against eth-account's `encode_typed_data`.
@Suite struct EIP712Tests {
    static let personType = "Person(string name,address wallet)"
    static let mailType = "Mail(Person from,Person to,string contents)Person(string name,address wallet)"

    func person(_ name: String, _ wallet: String) -> [UInt8] {
        EIP712.hashStruct(typeHash: EIP712.typeHash(Self.personType),
                          fields: [EIP712.word(string: name), EIP712.word(address: PaymentFixture.address(wallet))])
    }

    @Test func specificationMailExample() {
        let domain = EIP712Domain(name: "Ether Mail", version: "1", chainID: 1,
                                  verifyingContract: PaymentFixture.address("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"))
        #expect(PaymentFixture.hex(domain.separator) == "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f")
        let mail = EIP712.hashStruct(typeHash: EIP712.typeHash(Self.mailType), fields: [
            person("Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"),
            person("Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"),
            EIP712.word(string: "Hello, Bob!"),
        ])
        #expect(PaymentFixture.hex(EIP712.typeHash(Self.mailType)) == "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2")
        #expect(PaymentFixture.hex(mail) == "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e")
        #expect(PaymentFixture.hex(EIP712.digest(domainSeparator: domain.separator, structHash: mail))
                == "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
    }

    @Test func voucherDigestMatchesEthAccount() throws {
        // eth-account 0.14: encode_typed_data(domain {warren, 1, 31337, 0xCcCc…}, Voucher
        // {channelId: bytes 0..<32, cumulativeAmount: 1234567890123456789012345}).
        #expect(PaymentFixture.hex(Voucher.typeHash) == "5e172d4a19b08b5b7f0354399a080f05a28476f34f987f7cd87e69a4065d4ec0")
        let channelID = try #require(ChannelID(bytes: (0..<32).map { UInt8($0) }))
        let voucher = Voucher(channelID: channelID, cumulativeAmount: 1_234_567_890_123_456_789_012_345)
        #expect(PaymentFixture.hex(voucher.digest(domain: PaymentFixture.domain)) == "a83ee41095382309acdf2dc7d23ceef647a7800e0d00f65d13e5ae24390295cc")
    }

    @Test func domainBindsTheSignature() throws {
        let voucher = Voucher(channelID: PaymentFixture.channel().id, cumulativeAmount: 77)
        let signed = voucher.sign(with: PaymentFixture.consumer, domain: PaymentFixture.domain)
        #expect(signed.signer(domain: PaymentFixture.domain) == PaymentFixture.consumer.address)
        let d = PaymentFixture.domain
        for other in [EIP712Domain(name: "warren2", version: d.version, chainID: d.chainID, verifyingContract: d.verifyingContract),
                      EIP712Domain(name: d.name, version: "2", chainID: d.chainID, verifyingContract: d.verifyingContract),
                      EIP712Domain(name: d.name, version: d.version, chainID: 1, verifyingContract: d.verifyingContract),
                      EIP712Domain(name: d.name, version: d.version, chainID: d.chainID, verifyingContract: PaymentFixture.provider.address)] {
            #expect(signed.signer(domain: other) != PaymentFixture.consumer.address)
        }
    }

    @Test func channelIDIsPackedKeccak() throws {
        let consumer = PaymentFixture.consumer.address
        let provider = PaymentFixture.provider.address
        let salt = PaymentFixture.salt
        let id = try ChannelID.derive(consumer: consumer, provider: provider, salt: salt)
        #expect(id.bytes == Keccak256.hash(consumer.bytes + provider.bytes + salt))
        #expect(try ChannelID.derive(consumer: provider, provider: consumer, salt: salt) != id)
        #expect(throws: PaymentError.wrongLength(expected: 32, actual: 31)) {
            try ChannelID.derive(consumer: consumer, provider: provider, salt: Array(salt.dropLast()))
        }
        #expect(try ChannelID(parsing: id.description) == id)
    }
}
