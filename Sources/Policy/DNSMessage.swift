import WireGuard

/// DNS wire format (RFC 1035) as far as the provider's forwarder needs it: read a consumer's
/// query, refuse it, and read the upstream answer for the addresses to learn.
///
/// Pure: bytes in, values or bytes out. Every read is bounds-checked; messages larger than
/// `maximumSize` (the EDNS payload size resolvers commonly use) are refused outright.
public enum DNSMessage {
    public static let headerLength = 12
    public static let maximumSize = 4096

    /// Record types the forwarder cares about.
    public static let typeA: UInt16 = 1
    public static let typeCNAME: UInt16 = 5
    public static let typeAAAA: UInt16 = 28
    public static let classIN: UInt16 = 1

    /// The REFUSED answer to the query in `bytes`: same id, the question echoed, no records.
    public static func refusedResponse(to query: [UInt8]) throws(DNSError) -> [UInt8] {
        try DNSQuery(parsing: query).refusedResponse()
    }

    static func readU16(_ message: UnsafeRawBufferPointer, at offset: Int) throws(DNSError) -> UInt16 {
        guard offset >= 0, offset + 2 <= message.count else { throw .truncated }
        return UInt16(message[offset]) << 8 | UInt16(message[offset + 1])
    }

    static func readU32(_ message: UnsafeRawBufferPointer, at offset: Int) throws(DNSError) -> UInt32 {
        guard offset >= 0, offset + 4 <= message.count else { throw .truncated }
        var value: UInt32 = 0
        for index in offset..<(offset + 4) { value = value << 8 | UInt32(message[index]) }
        return value
    }

    static func checkSize(_ message: UnsafeRawBufferPointer) throws(DNSError) {
        guard message.count >= headerLength else { throw .truncated }
        guard message.count <= maximumSize else { throw .tooLarge }
    }
}

/// Why a DNS message was not accepted.
public enum DNSError: Error, Sendable, Equatable {
    /// The message ends inside its header, a name or a record.
    case truncated
    /// Larger than `DNSMessage.maximumSize`.
    case tooLarge
    /// QR is set on what should be a query.
    case notAQuery
    /// QR is clear on what should be a response.
    case notAResponse
    /// The question count is not exactly one.
    case questionCount(Int)
    /// A name longer than 255 bytes on the wire.
    case nameTooLong
    /// A compression pointer into the header.
    case badPointer
    /// A compression pointer that does not move strictly backwards, or too many of them.
    case pointerLoop
    /// A label type other than a plain label or a pointer (RFC 6891 section 5).
    case unsupportedLabelType
    /// A response whose id is not the query's.
    case idMismatch
    /// A response whose question is not the query's.
    case questionMismatch
    /// A record whose data does not fit its type (an A record that is not 4 bytes…).
    case badRecordData
}

/// A response code (RCODE, RFC 1035 section 4.1.1).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0f }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formatError = DNSResponseCode(rawValue: 1)
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    public static let nameError = DNSResponseCode(rawValue: 3)
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)
}

/// The one question of a query: the name, QTYPE and QCLASS.
public struct DNSQuestion: Hashable, Sendable {
    public var name: DNSName
    public var type: UInt16
    public var `class`: UInt16

    /// Same name (ignoring case), type and class.
    public func matches(_ other: DNSQuestion) -> Bool {
        name.text == other.name.text && type == other.type && `class` == other.class
    }
}

/// A query from a consumer to the provider's resolver.
public struct DNSQuery: Sendable, Equatable {
    public var id: UInt16
    public var opcode: UInt8
    public var recursionDesired: Bool
    public var question: DNSQuestion

    /// Parses a query: a header with QR clear and exactly one question. Other sections
    /// (an EDNS OPT record) are not read.
    public init(parsing message: UnsafeRawBufferPointer) throws(DNSError) {
        try DNSMessage.checkSize(message)
        id = try DNSMessage.readU16(message, at: 0)
        let flags = try DNSMessage.readU16(message, at: 2)
        guard flags & 0x8000 == 0 else { throw .notAQuery }
        opcode = UInt8(truncatingIfNeeded: flags >> 11) & 0x0f
        recursionDesired = flags & 0x0100 != 0
        let questions = try DNSMessage.readU16(message, at: 4)
        guard questions == 1 else { throw .questionCount(Int(questions)) }
        question = try DNSQuery.readQuestion(message, at: DNSMessage.headerLength).question
    }

    public init(parsing message: [UInt8]) throws(DNSError) {
        let result = message.withUnsafeBytes { raw in Result { () throws(DNSError) in try DNSQuery(parsing: raw) } }
        self = try result.get()
    }

    /// An answer with no records and `rcode`: same id and opcode, QR and RA set, RD copied,
    /// the question echoed as asked.
    public func response(rcode: DNSResponseCode) -> [UInt8] {
        var flags: UInt16 = 0x8000 | UInt16(opcode & 0x0f) << 11 | 0x0080 | UInt16(rcode.rawValue)
        if recursionDesired { flags |= 0x0100 }
        var out: [UInt8] = []
        out.reserveCapacity(DNSMessage.headerLength + question.name.wire.count + 4)
        for value in [id, flags, 1, 0, 0, 0] {
            out.append(UInt8(value >> 8))
            out.append(UInt8(truncatingIfNeeded: value))
        }
        out += question.name.wire
        for value in [question.type, question.class] {
            out.append(UInt8(value >> 8))
            out.append(UInt8(truncatingIfNeeded: value))
        }
        return out
    }

    /// The REFUSED answer the forwarder gives for a name off the whitelist.
    public func refusedResponse() -> [UInt8] { response(rcode: .refused) }

    static func readQuestion(_ message: UnsafeRawBufferPointer, at offset: Int) throws(DNSError) -> (question: DNSQuestion, end: Int) {
        let (name, nameEnd) = try DNSName.read(from: message, at: offset)
        let type = try DNSMessage.readU16(message, at: nameEnd)
        let `class` = try DNSMessage.readU16(message, at: nameEnd + 2)
        return (DNSQuestion(name: name, type: type, class: `class`), nameEnd + 4)
    }
}

/// An upstream resolver's answer to a forwarded query, reduced to what the exit learns from it.
public struct DNSResponse: Sendable {
    public var id: UInt16
    public var rcode: DNSResponseCode
    public var truncated: Bool
    public var question: DNSQuestion
    /// The A and AAAA records for the question's name or a name it is an alias of (following
    /// CNAMEs from the question, in any order), class IN. Other records are skipped.
    public var addresses: [(address: IPAddress, ttl: UInt32)]

    /// Parses `message` as the answer to `query`: QR set, same id, same question.
    public init(parsing message: UnsafeRawBufferPointer, answering query: DNSQuery) throws(DNSError) {
        try DNSMessage.checkSize(message)
        id = try DNSMessage.readU16(message, at: 0)
        let flags = try DNSMessage.readU16(message, at: 2)
        guard flags & 0x8000 != 0 else { throw .notAResponse }
        guard id == query.id else { throw .idMismatch }
        rcode = DNSResponseCode(rawValue: UInt8(truncatingIfNeeded: flags))
        truncated = flags & 0x0200 != 0
        let questions = try DNSMessage.readU16(message, at: 4)
        guard questions == 1 else { throw .questionCount(Int(questions)) }
        let answerCount = Int(try DNSMessage.readU16(message, at: 6))
        let (question, questionEnd) = try DNSQuery.readQuestion(message, at: DNSMessage.headerLength)
        guard question.matches(query.question) else { throw .questionMismatch }
        self.question = question

        var aliases: [(owner: String, target: String)] = []
        var records: [(owner: String, address: IPAddress, ttl: UInt32)] = []
        var offset = questionEnd
        for _ in 0..<answerCount {
            let (owner, nameEnd) = try DNSName.read(from: message, at: offset)
            let type = try DNSMessage.readU16(message, at: nameEnd)
            let `class` = try DNSMessage.readU16(message, at: nameEnd + 2)
            let rawTTL = try DNSMessage.readU32(message, at: nameEnd + 4)
            let dataLength = Int(try DNSMessage.readU16(message, at: nameEnd + 8))
            let dataStart = nameEnd + 10
            guard dataStart + dataLength <= message.count else { throw .truncated }
            offset = dataStart + dataLength
            guard `class` == DNSMessage.classIN else { continue }
            let ttl = rawTTL > 0x7fff_ffff ? 0 : rawTTL          // RFC 2181 section 8
            switch type {
            case DNSMessage.typeA, DNSMessage.typeAAAA:
                let expected = type == DNSMessage.typeA ? 4 : 16
                guard dataLength == expected,
                      let address = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: message[dataStart..<offset]))
                else { throw .badRecordData }
                records.append((owner.text, address, ttl))
            case DNSMessage.typeCNAME:
                let (target, targetEnd) = try DNSName.read(from: message, at: dataStart)
                guard targetEnd == offset else { throw .badRecordData }
                aliases.append((owner.text, target.text))
            default:
                continue
            }
        }

        // The names that stand for the question: itself and every CNAME target reached from it.
        var names: Set<String> = [question.name.text]
        var grew = true
        while grew {
            grew = false
            for alias in aliases where names.contains(alias.owner) && !names.contains(alias.target) {
                names.insert(alias.target)
                grew = true
            }
        }
        addresses = records.filter { names.contains($0.owner) }.map { ($0.address, $0.ttl) }
    }

    public init(parsing message: [UInt8], answering query: DNSQuery) throws(DNSError) {
        let result = message.withUnsafeBytes { raw in Result { () throws(DNSError) in try DNSResponse(parsing: raw, answering: query) } }
        self = try result.get()
    }
}
