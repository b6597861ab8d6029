import Configuration
import Agent
import ArgumentParser
import Glibc
import LinuxPlatform
import Payment
import Session
import WarrenCrypto

@main
struct Warren: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warren",
        abstract: "A WireGuard-compatible VPN agent for routers and single-board computers.",
        version: WarrenVersion.current,
        subcommands: [Up.self, Down.self, Status.self, Id.self, Wallet.self, ChannelCommand.self, LedgerCommand.self, VoucherTool.self, Keygen.self, Pubkey.self, Genpsk.self]
    )
}

/// Prints to stderr and exits with `code`: the CLI's single way to fail. Control characters
/// are escaped (messages quote configs and paths); when stderr is not a terminal the line
/// starts with the error priority `<3>`, as the agent's log lines do (EventLog).
func fail(_ message: String, code: Int32 = 1) -> Never {
    let line = EventLog.failureLine(message, priorityPrefix: isatty(2) == 0)
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    Glibc.exit(code)
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a new base64 private key (as `wg genkey`).")
    func run() {
        print(Base64Key.encode(Curve25519.generatePrivateKey()))
    }
}

struct Genpsk: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a new base64 preshared key (as `wg genpsk`).")
    func run() {
        print(Base64Key.encode(Sodium.randomBytes(32)))
    }
}

struct Pubkey: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read a private key on stdin and print its public key (as `wg pubkey`).")
    func run() {
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while input.count < 4096 {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            input += chunk[0..<n]
        }
        let text = String(decoding: input, as: UTF8.self).trimmingWhitespace()
        guard var key = Base64Key.decode(text), key.count == 32 else {
            fail("stdin: expected a base64 private key of 32 bytes (44 characters, as printed by `warren keygen`)")
        }
        // wg pubkey clamps the scalar the same way X25519 does; make that explicit.
        Curve25519.clamp(&key)
        print(Base64Key.encode(Curve25519.publicKey(privateKey: key)))
    }
}

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring up a tunnel from a wg-quick style CONFIG and run it in the foreground.",
        discussion: """
            CONFIG is a file (the interface is named after it: /etc/warren/wg0.conf makes wg0) or a bare \
            name (wg0 reads /etc/warren/wg0.conf), as with wg-quick. SIGINT or SIGTERM removes the \
            interface, its addresses and routes, and exits 0. \
            Exit status: 0 stopped (signal or `warren down`); 1 a startup error that may pass \
            (network, provider, device); 3 the consumer ended its session (over-invoiced, \
            spending cap); 4 the session was lost; 78 a config error.
            """)

    @Option(name: .long, help: "Name of the TUN interface to create (default: the config file's name without .conf).")
    var interface: String?

    @Option(name: .long, help: "State directory.")
    var stateDir: String = AgentOptions.defaultStateDirectory

    @Argument(help: "The configuration file, or an interface name for /etc/warren/NAME.conf.")
    var config: String

    func run() throws {
        do {
            let (path, name) = try InterfaceName.resolve(config: config, explicit: interface)
            let options = AgentOptions(configPath: path, interface: name, stateDirectory: stateDir)
            let agent = try TunnelAgent.load(options: options)
            let code = try agent.run()
            Glibc.exit(code)
        } catch {
            fail("\(error)", code: error.exitStatus)
        }
    }
}

struct Down: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop an interface's agent and remove everything it installed, kill switch included (also after a crash).",
        discussion: "Without --interface it acts on the only running agent; with none or several running it lists them and changes nothing.")

    @Option(name: .long, help: "Interface to take down (default: the only running agent).")
    var interface: String?

    @Option(name: .long, help: "State directory the agent used.")
    var stateDir: String = AgentOptions.defaultStateDirectory

    func run() throws {
        do {
            try Agent.Down.requirePrivilege(interface.map { "--interface \($0)" } ?? "")
            let name = try interface.map { name throws(AgentError) in try InterfaceName(name) } ?? RunningAgents.only(command: "down")
            let result = try Agent.Down.run(interface: name, stateDirectory: stateDir)
            if result.stoppedAgent { print("stopped the agent of \(name)") }
            for line in result.removed { print("removed \(line)") }
            if !result.stoppedAgent && result.removed.isEmpty && result.failed.isEmpty { print("nothing left to remove for \(name)") }
            for line in result.failed { print("FAILED: \(line) (still recorded: run `warren down` again)") }
            if !result.failed.isEmpty { Glibc.exit(1) }
        } catch {
            fail("\(error)")
        }
    }
}

struct Id: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this node's public identity (created on first use), for consumers to paste into [Exit] Provider =.")

    @Option(name: .long, help: "State directory holding the identity.")
    var stateDir: String = AgentOptions.defaultStateDirectory

    @Option(name: .long, help: "This provider's public address and port, to print the full Provider = line.")
    var endpoint: String?

    func run() throws {
        do {
            // Checked before the identity is created: a typo must not leave a new key behind.
            if let endpoint { _ = try ProviderLine.endpoint(endpoint) }
            let identity = try IdentityStore.loadOrCreate(stateDirectory: stateDir)
            if let endpoint {
                print(try ProviderLine.make(identity: identity.publicIdentity, endpoint: endpoint))
            } else {
                print(identity.publicIdentity.description)
            }
        } catch {
            fail("\(error)")
        }
    }
}

struct Wallet: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this node's payment address (EIP-55; the key is created on first use) and its balance on the settlement backend.")

    @Option(name: .long, help: "State directory holding the wallet key.")
    var stateDir: String = AgentOptions.defaultStateDirectory

    @Option(name: .long, help: "Directory of the local ledger (the single-machine stand-in for the on-chain contract).")
    var ledger: String = AgentOptions.defaultStateDirectory + "/ledger"

    func run() throws {
        let key: WalletKey
        do { key = try WalletStore.loadOrCreate(stateDirectory: stateDir) } catch { fail("\(error)") }
        print("address: \(key.address)")
        do {
            let backend = try LocalLedger(files: DiskLedgerFiles(directory: ledger))
            let balance = try backend.balance(of: key.address)
            print("balance: \(TokenAmount(baseUnits: balance).shown) (local ledger \(ledger))")
        } catch {
            print("balance: unavailable (local ledger \(ledger): \(error))")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running agent's interface and peers (like `wg show`).",
        discussion: "Without --interface it shows every running agent (with --json: one object for one agent, an array for several).")

    @Option(name: .long, help: "Interface of the agent to ask (default: every running agent).")
    var interface: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let names: [String]
        do {
            if let interface {
                names = [try InterfaceName(interface).text]
            } else {
                names = try RunningAgents.inThisNamespace()
                guard !names.isEmpty else {
                    throw AgentError.usage("no warren agent is running (none holds a lock in \(AgentOptions.defaultRunDirectory)): start one with `warren up CONFIG`")
                }
            }
        } catch {
            fail("\(error)")
        }
        var answers: [(path: String, bytes: [UInt8])] = []
        for name in names {
            let path = AgentOptions.controlSocketPath(interface: name)
            do {
                answers.append((path, try ControlSocketClient.request(path: path, line: "status")))
            } catch {
                fail("\(error)")
            }
        }
        if json {
            let objects = answers.map { String(decoding: $0.bytes, as: UTF8.self) }
            print(objects.count == 1 ? objects[0] : "[" + objects.joined(separator: ",") + "]")
            return
        }
        for (index, answer) in answers.enumerated() {
            guard let status = AgentStatus.decode(answer.bytes) else {
                fail("the agent at \(answer.path) sent an answer this warren cannot read: is it the same version?")
            }
            if index > 0 { print("") }
            print(status.text(nowUnixSeconds: wallClock()), terminator: "")
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
