@testable import Configuration
import Glibc
import Testing
@testable import Agent
import LinuxPlatform

@Suite struct InterfaceNameTests {
    @Test func acceptsWgQuickNamesOnly() throws {
        for good in ["wg0", "a", "wg-home_1.x=+", "fifteen-chars-x"] { #expect(InterfaceName.isValid(good), "\(good)") }
        for bad in ["", ".", "..", "../../etc/x", "wg 0", "sixteen-chars-xx", "wg/0", "wg:0", "wg\n0", "wgé"] {
            #expect(!InterfaceName.isValid(bad), "\(bad)")
            #expect(throws: AgentError.self) { try InterfaceName(bad) }
        }
    }

    @Test func nftablesTokensNeverCollide() throws {
        let names = ["wg0", "wg-0", "wg_0", "wg.0", "wg_2d0", "wg=0", "wg+0"]
        let tokens = try names.map { try InterfaceName($0).nftablesToken }
        #expect(Set(tokens).count == names.count)
        #expect(try InterfaceName("wg-0").nftablesToken == "wg_2d0")
        #expect(try InterfaceName("wg_0").nftablesToken == "wg_5f0")
        for token in tokens { #expect(token.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x5f }) }
    }

    @Test func configNamesFollowWgQuick() throws {
        let bare = try InterfaceName.resolve(config: "wg0", explicit: nil)
        #expect(bare.path == "/etc/warren/wg0.conf" && bare.interface.text == "wg0")
        let file = try InterfaceName.resolve(config: "/etc/warren/home.conf", explicit: nil)
        #expect(file.path == "/etc/warren/home.conf" && file.interface.text == "home")
        let relative = try InterfaceName.resolve(config: "exit-b.conf", explicit: nil)
        #expect(relative.path == "exit-b.conf" && relative.interface.text == "exit-b")
        let explicit = try InterfaceName.resolve(config: "/tmp/x/whatever.conf", explicit: "wg7")
        #expect(explicit.path == "/tmp/x/whatever.conf" && explicit.interface.text == "wg7")
        #expect(throws: AgentError.self) { try InterfaceName.resolve(config: "/tmp/a name that is far too long.conf", explicit: nil) }
        #expect(throws: AgentError.self) { try InterfaceName.resolve(config: "/tmp/wg0.conf", explicit: "../x") }
    }

    @Test func aBadNameIsQuotedEscaped() {
        do {
            _ = try InterfaceName("wg\u{1b}[2J\n0")
            Issue.record("a name with control bytes was accepted")
        } catch {
            #expect("\(error)".hasPrefix("\"wg\\x1b[2J\\n0\" is not a valid interface name"))
        }
    }
}

@Suite struct GatewayRoutingTests {
    func journal(_ name: String, mark: UInt32, table: UInt32, priority: UInt32, lanPriority: UInt32 = 32699) -> HostChanges {
        var changes = HostChanges(interface: name)
        changes.firewallMark = mark
        changes.routingTable = table
        let routing = PolicyRouting(mark: mark, table: table, priority: priority, lanPriority: lanPriority)
        changes.rules = GatewayRouting.allRules(routing, lans: ["lan-\(name)"], ipv6: true)
        return changes
    }

    @Test func firstInterfaceGetsWgQuickDefaults() throws {
        let chosen = try GatewayRouting.choose(mark: nil, table: nil, others: [], file: "f")
        #expect(chosen == PolicyRouting(mark: 51820, table: 51820, priority: 32765, lanPriority: 32699))
        let lanRules = GatewayRouting.allRules(chosen, lans: ["lan0", "wlan0"], ipv6: false).prefix(4)
        #expect(lanRules.map(\.text) == ["\"-4 priority 32697 fwmark 51820 table main\"",
                                         "\"-4 priority 32698 table main suppress_prefixlength 0\"",
                                         "\"-4 priority 32699 iif lan0 table 51820\"",
                                         "\"-4 priority 32699 iif wlan0 table 51820\""])
        let rules = GatewayRouting.rules(mark: 51820, table: 51820, priority: 32765, ipv6: false)
        #expect(rules.map(\.text) == ["\"-4 priority 32765 not fwmark 51820 table 51820\"",
                                      "\"-4 priority 32764 table main suppress_prefixlength 0\""])
    }

    @Test func secondInterfaceSharesNothing() throws {
        let first = journal("a", mark: 51820, table: 51820, priority: 32765)
        let chosen = try GatewayRouting.choose(mark: nil, table: nil, others: [first], file: "f")
        #expect(chosen == PolicyRouting(mark: 51821, table: 51821, priority: 32763, lanPriority: 32696))
        let mine = Set(GatewayRouting.allRules(chosen, lans: ["lan-b"], ipv6: true))
        #expect(mine.isDisjoint(with: first.rules))
        let third = try GatewayRouting.choose(mark: nil, table: nil,
                                              others: [first, journal("b", mark: 51821, table: 51821, priority: 32763, lanPriority: 32696)], file: "f")
        #expect(third == PolicyRouting(mark: 51822, table: 51822, priority: 32761, lanPriority: 32693))
    }

    @Test func aConfiguredTableInUseIsRefused() {
        let first = journal("a", mark: 51820, table: 51820, priority: 32765)
        #expect(throws: AgentError.self) { try GatewayRouting.choose(mark: nil, table: 51820, others: [first], file: "f") }
        // The same FwMark with Table = auto is fine: the table (and so the rules) differ.
        let sameMark = try? GatewayRouting.choose(mark: 51820, table: nil, others: [first], file: "f")
        #expect(sameMark?.mark == 51820 && sameMark?.table == 51821 && sameMark?.priority == 32763)
    }

    @Test func journalRoundTripsAndListsEveryInterface() throws {
        var template = "/tmp/warren-journal-XXXXXX".utf8CString
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        defer { _ = system("rm -rf '\(directory)'") }
        let a = HostJournal(stateDirectory: directory, interface: "a")
        try a.recordTable("inet warren_a", killSwitch: true)
        let routing = try a.chooseRouting(mark: nil, table: nil, installed: { [] }, file: "f")
        #expect(routing.table == 51820)
        let b = HostJournal(stateDirectory: directory, interface: "b")
        try b.recordTable("inet warren_provider_b")
        #expect(HostChanges.all(stateDirectory: directory).map(\.interface) == ["a", "b"])
        #expect(a.others().map(\.interface) == ["b"])
        let reloaded = HostChanges.load(stateDirectory: directory, interface: "a")
        #expect(reloaded?.killSwitchTable == "inet warren_a" && reloaded?.routingTable == 51820)
        #expect(HostJournal(stateDirectory: directory, interface: "typo").changes.isEmpty)
    }
}

@Suite struct LegacyStateTests {
    @Test func anOldGatewayStateBecomesAJournal() throws {
        var template = "/tmp/warren-legacy-XXXXXX".utf8CString
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        defer { _ = system("rm -rf '\(directory)'") }
        let old = #"{"interface":"wg0","firewallMark":51820,"table":51820,"ipv6Rules":false,"sysctlOriginals":{"net.ipv4.ip_forward":"0"},"gatewayTable":true}"#
        #expect(StateFile.write("\(directory)/wg0.gateway.json", Array(old.utf8)))
        let journal = HostJournal(stateDirectory: directory, interface: "wg0")
        #expect(journal.changes.killSwitchTable == "inet warren" && journal.changes.nftTables == ["inet warren"])
        #expect(journal.changes.sysctlOriginals == ["net.ipv4.ip_forward": "0"])
        #expect(journal.changes.rules.count == 4 && journal.changes.rules.allSatisfy { $0.priority >= 32764 })
        #expect(access("\(directory)/wg0.gateway.json", F_OK) != 0)
        #expect(HostChanges.load(stateDirectory: directory, interface: "wg0") == journal.changes)
    }
}

@Suite struct InstalledRulesTests {
    @Test func rulesOfOtherProgramsAreAvoided() throws {
        // The kernel's default rules plus a wg-quick interface on 51820 (priorities 32764/32765).
        let installed = [InstalledRule(priority: 0, table: 255, mark: 0), InstalledRule(priority: 32766, table: 254, mark: 0),
                         InstalledRule(priority: 32767, table: 253, mark: 0), InstalledRule(priority: 32764, table: 254, mark: 0),
                         InstalledRule(priority: 32765, table: 51820, mark: 51820)]
        let chosen = try GatewayRouting.choose(mark: nil, table: nil, others: [], installed: installed, file: "f")
        #expect(chosen.mark == 51821 && chosen.table == 51821 && chosen.priority == 32763)
        // A table someone else's rule looks up is the host's state, not a config error.
        do {
            _ = try GatewayRouting.choose(mark: nil, table: 51820, others: [], installed: installed, file: "f")
            Issue.record("a table in use was accepted")
        } catch {
            if case .config = error { Issue.record("reported as a config error: \(error)") }
        }
        let plain = try GatewayRouting.choose(mark: nil, table: nil, others: [], installed: Array(installed.prefix(3)), file: "f")
        #expect(plain.mark == 51820 && plain.priority == 32765)
    }
}

@Suite struct OtherInterfaceNameTests {
    @Test func aQuoteCannotEndTheNameInAnNftablesRule() {
        #expect(GatewayConfig.isInterfaceName("br-lan"))
        #expect(GatewayConfig.isInterfaceName("eth0.2"))
        #expect(!GatewayConfig.isInterfaceName("lan\"0"))
        #expect(!GatewayConfig.isInterfaceName("lan\\0"))
    }
}
