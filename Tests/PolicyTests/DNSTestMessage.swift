import WireGuard

/// Builds DNS messages byte by byte, remembering where each name starts so that
/// tests can point back at it the way real servers compress.
struct DNSTestMessage {
    var bytes: [UInt8] = []

    init(id: UInt16, flags: UInt16, questions: UInt16 = 1, answers: UInt16 = 0, authority: UInt16 = 0, additional: UInt16 = 0) {
        for value in [id, flags, questions, answers, authority, additional] { u16(value) }
    }

    var offset: Int { bytes.count }

    mutating func u16(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(value & 0xff)] }
    mutating func u32(_ value: UInt32) { u16(UInt16(value >> 16)); u16(UInt16(value & 0xffff)) }

    /// Writes `text`'s labels, then a pointer to `pointer` or the root label; returns where it starts.
    @discardableResult
    mutating func name(_ text: String, pointer: Int? = nil) -> Int {
        let start = offset
        bytes += DNSTestMessage.labels(text, pointer: pointer)
        return start
    }

    static func labels(_ text: String, pointer: Int? = nil) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") { out.append(UInt8(label.utf8.count)); out += Array(label.utf8) }
        if let pointer { out += [0xc0 | UInt8(pointer >> 8), UInt8(pointer & 0xff)] } else { out.append(0) }
        return out
    }

    static func pointer(_ target: Int) -> [UInt8] { [0xc0 | UInt8(target >> 8), UInt8(target & 0xff)] }

    mutating func question(_ text: String, type: UInt16 = 1, class: UInt16 = 1) {
        name(text)
        u16(type); u16(`class`)
    }

    /// A resource record whose owner is already encoded (labels or a pointer); returns where RDATA starts.
    @discardableResult
    mutating func record(owner: [UInt8], type: UInt16, class: UInt16 = 1, ttl: UInt32, data: [UInt8]) -> Int {
        bytes += owner
        u16(type); u16(`class`); u32(ttl); u16(UInt16(data.count))
        let start = offset
        bytes += data
        return start
    }

    static func query(id: UInt16, name: String, type: UInt16, recursionDesired: Bool = true, edns: Bool = false) -> [UInt8] {
        var message = DNSTestMessage(id: id, flags: recursionDesired ? 0x0100 : 0, additional: edns ? 1 : 0)
        message.question(name, type: type)
        if edns {
            message.bytes.append(0)                                   // root owner
            message.u16(41); message.u16(4096); message.u32(0); message.u16(0)
        }
        return message.bytes
    }

    /// www.netflix.com → CNAME www.geo.netflix.com → CNAME ipv4-c001.nflxvideo.net → A and AAAA,
    /// compressed the way resolvers write it, with an unrelated A record and a TXT mixed in.
    static func cnameChainResponse(id: UInt16, question: String = "www.netflix.com") -> [UInt8] {
        var message = DNSTestMessage(id: id, flags: 0x8180, answers: 6)
        message.question(question)
        let questionName = 12, netflixCom = 16
        let geo = message.record(owner: pointer(questionName), type: 5, ttl: 300, data: labels("www.geo", pointer: netflixCom))
        // The A record comes before the CNAME that leads to it: order must not matter.
        message.record(owner: labels("ipv4-c001.nflxvideo.net"), type: 1, ttl: 20, data: [192, 0, 2, 44])
        let cdnName = message.offset - 4 - 10 - labels("ipv4-c001.nflxvideo.net").count
        message.record(owner: pointer(geo), type: 5, ttl: 300, data: pointer(cdnName))
        message.record(owner: pointer(cdnName), type: 28, ttl: 300, data: address("2001:db8:44::1").bytes)
        message.record(owner: labels("evil.example"), type: 1, ttl: 300, data: [192, 0, 2, 66])
        message.record(owner: pointer(questionName), type: 16, ttl: 300, data: [2, 104, 105])
        return message.bytes
    }
}
