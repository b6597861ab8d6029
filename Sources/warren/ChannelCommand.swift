import Configuration
import Agent
import ArgumentParser
import FoundationEssentials
import Glibc
import LinuxPlatform
import PacketPath
import Payment

/// `warren channel`: this node's payment channels as its channel store holds them. Reads the
/// files only (`ChannelStore.snapshot`), so it is safe next to a running agent.
struct ChannelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel",
        abstract: "List this node's payment channels (read-only; safe while the agent runs).",
        discussion: """
            Reads <state dir>/channels/. State words: open (session running), claiming (a claim \
            in flight), ended (session over, money unclaimed), settled (claimed = best voucher), \
            expired (past expiry, not reclaimed), reclaimed. Text amounts are tokens; JSON \
            amounts are decimal strings of base units (18 decimals), with a …Tokens twin.
            """)

    @Option(name: .long, help: "State directory of the agent (its channels are in channels/ there).")
    var stateDir: String = AgentOptions.defaultStateDirectory

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() {
        // A missing state directory is a wrong --state-dir (or no agent ever ran), not "no channels".
        var info = stat()
        guard stat(stateDir, &info) == 0 else {
            let code = errno
            if code == ENOENT {
                fail("no state directory at \(stateDir): pass the agent's --state-dir (default \(AgentOptions.defaultStateDirectory))")
            }
            fail("cannot read the state directory \(stateDir): \(StorageFailureText.text(call: "stat \(stateDir)", errno: code))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            fail("\(stateDir) is not a directory: pass the agent's --state-dir (default \(AgentOptions.defaultStateDirectory))")
        }
        let directory = stateDir + "/channels"
        let snapshot: (records: [ChannelRecord], damaged: [String])
        do { snapshot = try ChannelStore.snapshot(files: DiskChannelFiles(directory: directory)) } catch {
            fail("cannot read the channels in \(directory): \(error); or pass another --state-dir")
        }
        let now = wallClock()
        if json {
            printJSON(ChannelListJSON(stateDirectory: stateDir, now: now,
                                      channels: snapshot.records.map { ChannelJSON($0, now: now) },
                                      damaged: snapshot.damaged))
            return
        }
        if snapshot.records.isEmpty && snapshot.damaged.isEmpty {
            print("no channels")
            return
        }
        var blocks: [String] = []
        for record in snapshot.records { blocks.append(Self.text(record, now: now)) }
        print(blocks.joined(separator: "\n"), terminator: "")
        if !blocks.isEmpty && !snapshot.damaged.isEmpty { print() }
        for name in snapshot.damaged {
            print("damaged: \(directory)/\(name) (torn, truncated or edited: not loaded; the agent ignores it too)")
        }
    }

    static func text(_ record: ChannelRecord, now: UInt64) -> String {
        let c = record.channel
        var out = "channel \(c.id)\n"
        out += "  role: \(record.role.rawValue)\n"
        out += "  counterpart: \(counterpart(record)) (\(record.role == .consumer ? "provider" : "consumer"))\n"
        out += "  state: \(state(record, now: now))\n"
        out += "  deposit: \(tokens(c.deposit))\n"
        out += "  \(record.role == .consumer ? "paid" : "earned"): \(tokens(record.bestAmount))\n"
        out += "  best voucher: \(tokens(record.bestAmount))\n"
        out += "  claimed: \(tokens(record.claimed))\n"
        out += "  expiry: \(c.expiry) (\(utcText(c.expiry)))\n"
        if let ended = record.sessionEndedAt {
            out += "  session: ended \(ended) (\(utcText(ended)))\n"
        } else {
            out += "  session: running\n"
        }
        if let claim = record.pendingClaim {
            out += "  claim in flight: \(claim.id) amount \(tokens(claim.amount)), \(claim.attempts) attempt(s), "
                + "next retry \(claim.nextRetry)\n"
        }
        return out
    }

    /// The other party's address.
    static func counterpart(_ record: ChannelRecord) -> EthereumAddress {
        record.role == .consumer ? record.channel.provider : record.channel.consumer
    }

    /// One word for where the channel stands. Order matters: after expiry only reclaiming (or,
    /// for a provider, a claim already in flight) can still move money; a claim in flight is
    /// shown even while a session runs, as the watchdog claims near expiry regardless.
    static func state(_ record: ChannelRecord, now: UInt64) -> String {
        if record.reclaimed { return "reclaimed" }
        let settled = record.claimed >= record.bestAmount
        if now >= record.channel.expiry {
            guard record.role == .provider else { return "expired" }
            if settled { return "settled" }
            return record.pendingClaim == nil ? "expired" : "claiming"
        }
        if record.role == .provider, record.pendingClaim != nil { return "claiming" }
        if record.sessionEndedAt == nil { return "open" }
        return settled ? "settled" : "ended"
    }
}

// MARK: JSON

struct ChannelListJSON: Encodable {
    var stateDirectory: String
    /// The Unix seconds the states were judged at.
    var now: UInt64
    var channels: [ChannelJSON]
    /// File names in channels/ that could not be loaded.
    var damaged: [String]
}

struct ChannelJSON: Encodable {
    var id: String
    var role: String
    var counterpart: String
    var consumer: String
    var provider: String
    var state: String
    var deposit: String
    var depositTokens: String
    /// Consumer only: what it has signed (its best voucher).
    var paid: String?
    var paidTokens: String?
    /// Provider only: the best voucher received.
    var earned: String?
    var earnedTokens: String?
    var bestVoucher: String
    var bestVoucherTokens: String
    var claimed: String
    var claimedTokens: String
    var unclaimed: String
    var expiry: UInt64
    var expiryUTC: String
    /// "running" or "ended".
    var session: String
    var sessionEndedAt: UInt64?
    var reclaimed: Bool
    var claimInFlight: ClaimInFlightJSON?

    init(_ record: ChannelRecord, now: UInt64) {
        let c = record.channel
        id = c.id.description
        role = record.role.rawValue
        counterpart = ChannelCommand.counterpart(record).description
        consumer = c.consumer.description
        provider = c.provider.description
        state = ChannelCommand.state(record, now: now)
        deposit = String(c.deposit)
        depositTokens = TokenAmount(baseUnits: c.deposit).description
        let best = record.bestAmount
        if record.role == .consumer {
            paid = String(best)
            paidTokens = TokenAmount(baseUnits: best).description
        } else {
            earned = String(best)
            earnedTokens = TokenAmount(baseUnits: best).description
        }
        bestVoucher = String(best)
        bestVoucherTokens = TokenAmount(baseUnits: best).description
        claimed = String(record.claimed)
        claimedTokens = TokenAmount(baseUnits: record.claimed).description
        unclaimed = String(record.unclaimed)
        expiry = c.expiry
        expiryUTC = utcText(c.expiry)
        session = record.sessionEndedAt == nil ? "running" : "ended"
        sessionEndedAt = record.sessionEndedAt
        reclaimed = record.reclaimed
        claimInFlight = record.pendingClaim.map {
            ClaimInFlightJSON(id: $0.id.description, amount: String($0.amount), submittedAt: $0.submittedAt,
                              attempts: $0.attempts, nextRetry: $0.nextRetry)
        }
    }
}

struct ClaimInFlightJSON: Encodable {
    var id: String
    var amount: String
    var submittedAt: UInt64
    var attempts: UInt32
    var nextRetry: UInt64
}

// MARK: Shared by `warren channel` and `warren ledger`

/// One line of compact JSON with sorted keys (stable for scripts and diffs).
func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(value) else { fail("could not encode the JSON output") }
    print(String(decoding: data, as: UTF8.self))
}

/// An amount in base units as a person reads it (`TokenAmount.shown`: 6 decimals, the unit).
func tokens(_ baseUnits: UInt128) -> String { TokenAmount(baseUnits: baseUnits).shown }

/// The same for a decimal string of base units, as the JSON views hold them.
func tokens(_ baseUnits: String) -> String { TokenAmount(baseUnits: UInt128(baseUnits) ?? 0).shown }

/// Unix seconds now: the CLI's commands run once, on the system clock.
func wallClock() -> UInt64 { TimeSource.system.now().wall / 1_000_000_000 }

/// Unix seconds as ISO-8601 UTC ("2025-01-31T12:00:00Z"); "out of range" past what the C
/// library's calendar takes (an expiry can be any 64-bit value).
func utcText(_ seconds: UInt64) -> String {
    guard seconds <= UInt64(Int64.max) else { return "out of range" }
    var value = time_t(seconds)
    var parts = tm()
    guard gmtime_r(&value, &parts) != nil else { return "out of range" }
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    let year = Int64(parts.tm_year) + 1900
    let yearText = year < 1000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
    return "\(yearText)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
