import LinuxPlatform
import Testing
@testable import Agent
@testable import Configuration

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Config text in error messages and log lines: escaped, one line, with the syslog priority.

private let file = "/etc/warren/wg0.conf"
private let privateKey = "AAsWISw3Qk1YY255hI+apbC7xtHc5/L9CBMeKTQ/SlU="

@Suite struct EscapingTests {
    @Test func controlCharactersInAConfigAreEscapedInItsErrors() {
        let text = "[Interface]\nPrivateKey = \(privateKey)\nAddress = 10.0.0.1\u{1B}[2J\u{7}\n"
        do {
            _ = try TunnelConfig.parse(text, file: "/tmp/a\u{1B}]0;x.conf")
            Issue.record("parsed")
        } catch {
            let shown = error.description
            #expect(shown.contains("10.0.0.1\\x1b[2J\\x07"))
            #expect(shown.hasPrefix("/tmp/a\\x1b]0;x.conf:3: Address: "))
            #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        }
    }

    @Test func anUnknownKeyWithBidiAndC1ControlsIsEscaped() {
        let text = "[Interface]\nPrivateKey = \(privateKey)\nPo\u{85}st\u{202E}Up = x\n"
        do {
            _ = try TunnelConfig.parse(text, file: file)
            Issue.record("parsed")
        } catch {
            #expect(error.description.contains("Po\\u{85}st\\u{202e}Up: unknown key"))
        }
    }

    @Test func escapingNamesTabNewlineAndReturnAndKeepsOrdinaryText() {
        #expect("a\tb\nc\rd".escapingControlCharacters == "a\\tb\\nc\\rd")
        #expect("plain ünïcode \\ text".escapingControlCharacters == "plain ünïcode \\ text")
        #expect("\u{0}\u{1F}\u{7F}\u{9B}\u{2028}".escapingControlCharacters == "\\x00\\x1f\\x7f\\u{9b}\\u{2028}")
    }
}

@Suite struct LogLineTests {
    @Test func linesCarryTheSyslogPriorityWhenAsked() {
        #expect(EventLog.line(.info, prefix: "wg0", message: "up", priorityPrefix: true) == "<6>warren[wg0] info: up\n")
        #expect(EventLog.line(.warning, prefix: "wg0", message: "w", priorityPrefix: true) == "<4>warren[wg0] warning: w\n")
        #expect(EventLog.line(.error, prefix: "wg0", message: "e", priorityPrefix: true) == "<3>warren[wg0] error: e\n")
        #expect(EventLog.line(.info, prefix: "wg0", message: "up", priorityPrefix: false) == "warren[wg0] info: up\n")
        #expect(EventLog.failureLine("no", priorityPrefix: true) == "<3>warren: no\n")
        #expect(EventLog.failureLine("no", priorityPrefix: false) == "warren: no\n")
    }

    @Test func aMessageCannotForgeASecondLine() {
        let line = EventLog.line(.info, prefix: "wg0", message: "x\n<3>warren[wg0] error: forged", priorityPrefix: true)
        #expect(line == "<6>warren[wg0] info: x\\n<3>warren[wg0] error: forged\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test func thePrefixDefaultsToWhetherStderrIsATerminal() {
        #expect(EventLog(prefix: "t").priorityPrefix == (isatty(2) == 0))
    }
}
