import Testing
import WarrenTestSupport
import WireGuard
@testable import Policy

@Suite struct DNSMessageTests {
    typealias M = DNSTestMessage

    // MARK: Queries

    @Test func parsesAQuery() throws {
        let query = try DNSQuery(parsing: M.query(id: 0x1234, name: "WWW.Netflix.com", type: 28, edns: true))
        #expect(query.id == 0x1234)
        #expect(query.opcode == 0)
        #expect(query.recursionDesired)
        #expect(query.question.name.text == "www.netflix.com")
        #expect(query.question.name.wire == M.labels("WWW.Netflix.com"))
        #expect(query.question.type == DNSMessage.typeAAAA)
        #expect(query.question.class == DNSMessage.classIN)
        #expect(query.question.name.description == "www.netflix.com")
    }

    @Test func rootAndOddLabels() throws {
        var root = DNSTestMessage(id: 1, flags: 0)
        root.bytes.append(0); root.u16(2); root.u16(1)
        let rootQuery = try DNSQuery(parsing: root.bytes)
        #expect(rootQuery.question.name.text == "")
        #expect(rootQuery.question.name.description == ".")
        // A label holding a dot must not read as two labels.
        var dotted = DNSTestMessage(id: 1, flags: 0)
        dotted.bytes += [11] + Array("evi.netflix".utf8) + [3] + Array("com".utf8) + [0]
        dotted.u16(1); dotted.u16(1)
        let query = try DNSQuery(parsing: dotted.bytes)
        #expect(query.question.name.text == "evi\\046netflix.com")
        let list = try ExitWhitelist(parsing: "netflix.com", file: "t")
        #expect(!list.allowsName(query.question.name.text))
        var wild = DNSTestMessage(id: 1, flags: 0)
        wild.question("*.Under_Score.Example")
        #expect(try DNSQuery(parsing: wild.bytes).question.name.text == "\\042.under_score.example")
    }

    @Test func refusedResponseBytesAreExact() throws {
        let query = M.query(id: 0xbeef, name: "Www.Example.COM", type: 1, edns: true)
        let expected: [UInt8] = [0xbe, 0xef, 0x81, 0x85, 0, 1, 0, 0, 0, 0, 0, 0,
                                 3, 0x57, 0x77, 0x77, 7, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 3, 0x43, 0x4f, 0x4d, 0,
                                 0, 1, 0, 1]
        #expect(try DNSMessage.refusedResponse(to: query) == expected)
        let noRecursion = M.query(id: 7, name: "a.b", type: 28, recursionDesired: false)
        #expect(try DNSMessage.refusedResponse(to: noRecursion)
                == [0, 7, 0x80, 0x85, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 1, 0x62, 0, 0, 28, 0, 1])
        // The refusal parses as a response to its own query, with no addresses.
        let parsed = try DNSQuery(parsing: query)
        let response = try DNSResponse(parsing: parsed.refusedResponse(), answering: parsed)
        #expect(response.rcode == .refused)
        #expect(response.addresses.isEmpty)
        #expect(parsed.response(rcode: .serverFailure)[3] == 0x82)
    }

    @Test func questionNamePointingAtItselfIsRefused() {
        // The question is the first name in a message: a pointer there can only aim at itself
        // or the header, so a compressed question never parses.
        var message = DNSTestMessage(id: 3, flags: 0)
        message.bytes += M.pointer(12)
        message.u16(1); message.u16(1)
        #expect(throws: DNSError.pointerLoop) { try DNSQuery(parsing: message.bytes) }
    }

    @Test func queryErrors() {
        func error(_ bytes: [UInt8]) -> DNSError? {
            do { _ = try DNSQuery(parsing: bytes); return nil } catch { return error }
        }
        let good = M.query(id: 1, name: "netflix.com", type: 1)
        #expect(error(good) == nil)
        #expect(error([]) == .truncated)
        #expect(error(Array(good.prefix(11))) == .truncated)
        for cut in 12..<good.count { #expect(error(Array(good.prefix(cut))) == .truncated, "cut at \(cut)") }
        #expect(error(good + [UInt8](repeating: 0, count: 4096 - good.count)) == nil)
        #expect(error(good + [UInt8](repeating: 0, count: 4097 - good.count)) == .tooLarge)
        var response = good; response[2] |= 0x80
        #expect(error(response) == .notAQuery)
        var none = good; none[5] = 0
        #expect(error(none) == .questionCount(0))
        var two = good; two[5] = 2
        #expect(error(two) == .questionCount(2))
        var extended = good; extended[12] = 0x41
        #expect(error(extended) == .unsupportedLabelType)
        var reserved = good; reserved[12] = 0x81
        #expect(error(reserved) == .unsupportedLabelType)
        var intoHeader = DNSTestMessage(id: 1, flags: 0)
        intoHeader.bytes += [3, 0x77, 0x77, 0x77] + M.pointer(4)
        intoHeader.u16(1); intoHeader.u16(1)
        #expect(error(intoHeader.bytes) == .badPointer)
        var forward = DNSTestMessage(id: 1, flags: 0)
        forward.bytes += M.pointer(20) + [0, 1, 0, 1, 0, 0, 3, 0x63, 0x6f, 0x6d, 0]
        #expect(error(forward.bytes) == .pointerLoop)
        var cutPointer = DNSTestMessage(id: 1, flags: 0)
        cutPointer.bytes += [3, 0x77, 0x77, 0x77, 0xc0]
        #expect(error(cutPointer.bytes) == .truncated)
        var long = DNSTestMessage(id: 1, flags: 0)
        long.question(Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: "."))
        #expect(error(long.bytes) == .nameTooLong)
        var longest = DNSTestMessage(id: 1, flags: 0)       // 3 × 64 + 62 + root = 255 bytes exactly
        longest.question(Array(repeating: String(repeating: "a", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "b", count: 61))
        #expect(error(longest.bytes) == nil)
    }

    // MARK: Responses

    @Test func followsCNAMEChainAcrossCompression() throws {
        let query = try DNSQuery(parsing: M.query(id: 77, name: "www.netflix.com", type: 1))
        let response = try DNSResponse(parsing: M.cnameChainResponse(id: 77), answering: query)
        #expect(response.rcode == .noError)
        #expect(!response.truncated)
        #expect(response.addresses.map(\.address) == [address("192.0.2.44"), address("2001:db8:44::1")])
        #expect(response.addresses.map(\.ttl) == [20, 300])
    }

    @Test func questionMatchIgnoresCase() throws {
        let query = try DNSQuery(parsing: M.query(id: 77, name: "wWw.NetFlix.cOm", type: 1))
        let response = try DNSResponse(parsing: M.cnameChainResponse(id: 77, question: "WWW.netflix.COM"), answering: query)
        #expect(response.addresses.count == 2)
    }

    @Test func recordsOutsideTheChainAreIgnored() throws {
        let query = try DNSQuery(parsing: M.query(id: 5, name: "netflix.com", type: 1))
        var message = DNSTestMessage(id: 5, flags: 0x8180, answers: 4)
        message.question("netflix.com")
        message.record(owner: M.pointer(12), type: 1, ttl: 60, data: [198, 51, 100, 1])
        message.record(owner: M.labels("other.example"), type: 1, ttl: 60, data: [198, 51, 100, 2])
        message.record(owner: M.labels("other.example"), type: 5, ttl: 60, data: M.pointer(12))   // CNAME into the chain, not out of it
        message.record(owner: M.pointer(12), type: 1, class: 3, ttl: 60, data: [198, 51, 100, 3])  // class CH
        let response = try DNSResponse(parsing: message.bytes, answering: query)
        #expect(response.addresses.map(\.address) == [address("198.51.100.1")])
    }

    @Test func ttlWithTheTopBitSetCountsAsZero() throws {
        let query = try DNSQuery(parsing: M.query(id: 5, name: "netflix.com", type: 1))
        var message = DNSTestMessage(id: 5, flags: 0x8380, answers: 1)
        message.question("netflix.com")
        message.record(owner: M.pointer(12), type: 1, ttl: 0x8000_0001, data: [198, 51, 100, 1])
        let response = try DNSResponse(parsing: message.bytes, answering: query)
        #expect(response.addresses.first?.ttl == 0)
        #expect(response.truncated)
    }

    @Test func nameErrorHasNoAddresses() throws {
        let query = try DNSQuery(parsing: M.query(id: 5, name: "nope.netflix.com", type: 1))
        var message = DNSTestMessage(id: 5, flags: 0x8183)
        message.question("nope.netflix.com")
        let response = try DNSResponse(parsing: message.bytes, answering: query)
        #expect(response.rcode == .nameError)
        #expect(response.addresses.isEmpty)
    }

    @Test func responseErrors() throws {
        let query = try DNSQuery(parsing: M.query(id: 77, name: "www.netflix.com", type: 1))
        func error(_ bytes: [UInt8], _ query: DNSQuery) -> DNSError? {
            do { _ = try DNSResponse(parsing: bytes, answering: query); return nil } catch { return error }
        }
        let good = M.cnameChainResponse(id: 77)
        #expect(error(good, query) == nil)
        for cut in 0..<good.count { #expect(error(Array(good.prefix(cut)), query) == .truncated, "cut at \(cut)") }
        #expect(error(M.cnameChainResponse(id: 78), query) == .idMismatch)
        #expect(error(M.cnameChainResponse(id: 77, question: "www.netflix.co"), query) == .questionMismatch)
        let aaaaQuery = try DNSQuery(parsing: M.query(id: 77, name: "www.netflix.com", type: 28))
        #expect(error(good, aaaaQuery) == .questionMismatch)
        var notResponse = good; notResponse[2] &= 0x7f
        #expect(error(notResponse, query) == .notAResponse)
        var moreAnswers = good; moreAnswers[7] += 1
        #expect(error(moreAnswers, query) == .truncated)
        var noQuestion = good; noQuestion[5] = 0
        #expect(error(noQuestion, query) == .questionCount(0))
        #expect(error(good + [UInt8](repeating: 0, count: 4097 - good.count), query) == .tooLarge)

        var badA = DNSTestMessage(id: 77, flags: 0x8180, answers: 1)
        badA.question("www.netflix.com")
        badA.record(owner: M.pointer(12), type: 1, ttl: 60, data: [1, 2, 3, 4, 5])
        #expect(error(badA.bytes, query) == .badRecordData)
        var badAAAA = DNSTestMessage(id: 77, flags: 0x8180, answers: 1)
        badAAAA.question("www.netflix.com")
        badAAAA.record(owner: M.pointer(12), type: 28, ttl: 60, data: [1, 2, 3, 4])
        #expect(error(badAAAA.bytes, query) == .badRecordData)
        var cnameOverrun = DNSTestMessage(id: 77, flags: 0x8180, answers: 1)
        cnameOverrun.question("www.netflix.com")
        cnameOverrun.record(owner: M.pointer(12), type: 5, ttl: 60, data: [3, 0x61, 0x62])     // name runs past RDATA...
        cnameOverrun.bytes += [0x63, 0]                                                        // ...into bytes after it
        #expect(error(cnameOverrun.bytes, query) == .badRecordData)
        var dataOverrun = DNSTestMessage(id: 77, flags: 0x8180, answers: 1)
        dataOverrun.question("www.netflix.com")
        dataOverrun.bytes += M.pointer(12) + [0, 1, 0, 1, 0, 0, 0, 60, 0, 8, 1, 2, 3, 4]
        #expect(error(dataOverrun.bytes, query) == .truncated)
    }

    @Test func loopingPointersInAnswersAreErrors() throws {
        let query = try DNSQuery(parsing: M.query(id: 1, name: "netflix.com", type: 1))
        // An owner name that is a label followed by a pointer back to that label.
        var selfLoop = DNSTestMessage(id: 1, flags: 0x8180, answers: 1)
        selfLoop.question("netflix.com")
        let start = selfLoop.offset
        selfLoop.bytes += [1, 0x61] + M.pointer(start)
        selfLoop.bytes += [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]
        #expect(throws: DNSError.pointerLoop) { try DNSResponse(parsing: selfLoop.bytes, answering: query) }
        // Two names pointing at each other.
        var mutual = DNSTestMessage(id: 1, flags: 0x8180, answers: 2)
        mutual.question("netflix.com")
        let first = mutual.offset
        mutual.record(owner: [1, 0x61] + M.pointer(first + 18), type: 1, ttl: 60, data: [1, 2, 3, 4])
        #expect(mutual.offset == first + 18)
        mutual.record(owner: [1, 0x62] + M.pointer(first), type: 1, ttl: 60, data: [1, 2, 3, 4])
        #expect(throws: DNSError.pointerLoop) { try DNSResponse(parsing: mutual.bytes, answering: query) }
        // A CNAME whose target points at itself.
        var cnameLoop = DNSTestMessage(id: 1, flags: 0x8180, answers: 1)
        cnameLoop.question("netflix.com")
        let dataStart = cnameLoop.offset + 2 + 10
        cnameLoop.record(owner: M.pointer(12), type: 5, ttl: 60, data: M.pointer(dataStart))
        #expect(throws: DNSError.pointerLoop) { try DNSResponse(parsing: cnameLoop.bytes, answering: query) }
    }

    @Test func pointerChainsCannotBuildAnOverlongName() throws {
        // Each name adds a 63-byte label in front of the previous one: the fifth passes 255 bytes.
        let query = try DNSQuery(parsing: M.query(id: 1, name: "a.b", type: 1))
        var message = DNSTestMessage(id: 1, flags: 0x8180, answers: 5)
        message.question("a.b")
        var previous = 12
        let label = [UInt8(63)] + [UInt8](repeating: 0x78, count: 63)
        for _ in 0..<5 {
            let owner = message.offset
            message.record(owner: label + M.pointer(previous), type: 16, ttl: 0, data: [])
            previous = owner
        }
        #expect(throws: DNSError.nameTooLong) { try DNSResponse(parsing: message.bytes, answering: query) }
    }

    @Test func cnameChainLoopTerminates() throws {
        // a CNAME b, b CNAME a: a loop in the data, not in the pointers.
        let query = try DNSQuery(parsing: M.query(id: 1, name: "a.example", type: 1))
        var message = DNSTestMessage(id: 1, flags: 0x8180, answers: 3)
        message.question("a.example")
        message.record(owner: M.pointer(12), type: 5, ttl: 60, data: M.labels("b.example"))
        message.record(owner: M.labels("b.example"), type: 5, ttl: 60, data: M.pointer(12))
        message.record(owner: M.labels("b.example"), type: 1, ttl: 60, data: [198, 51, 100, 9])
        let response = try DNSResponse(parsing: message.bytes, answering: query)
        #expect(response.addresses.map(\.address) == [address("198.51.100.9")])
    }

    @Test func mutatedMessagesNeverTrap() throws {
        var generator = SeededGenerator(seed: 1035)
        let query = try DNSQuery(parsing: M.query(id: 77, name: "www.netflix.com", type: 1))
        let seeds = [M.cnameChainResponse(id: 77), M.query(id: 77, name: "www.netflix.com", type: 1, edns: true)]
        for _ in 0..<20_000 {
            guard var message = seeds.randomElement(using: &generator) else { continue }
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<message.count, using: &generator)
                message[index] = UInt8.random(in: 0...255, using: &generator)
            }
            message.removeLast(Int.random(in: 0...min(6, message.count), using: &generator))
            _ = try? DNSResponse(parsing: message, answering: query)
            _ = try? DNSQuery(parsing: message)
            _ = try? DNSMessage.refusedResponse(to: message)
        }
    }
}
