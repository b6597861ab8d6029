import Glibc
import LinuxPlatform
@testable import PlatformFakes
import Synchronization
import Testing
import WarrenTestSupport
@testable import Agent
@testable import Configuration
@testable import PacketPath
@testable import Payment
@testable import Policy
@testable import Session
@testable import WarrenCrypto
@testable import WireGuard

// A provider and a consumer in one process: each a data plane over a fake kernel (a memory
// TUN joined with the sockets on its tunnel addresses), their WireGuard sockets on one
// memory network, their channel files in memory, one memory ledger between them, one
// virtual clock. The test is both kernels and every thread: it steps the planes, hands what
// arrives on the payment ports to the payment code, and moves the clock. Only the calls that
// block in the agent (asking for the session, waiting for the final invoice) run on a thread.

struct TwoNodeSetupError: Error, CustomStringConvertible {
    var description: String
}

/// The configs both nodes run with: 2/GiB + 0.0001/min, so a stranger's first window
/// (CreditWindow/16 = 64 KiB, plus the window's minute of time: about 53 KB more) is quickly
/// used; invoices are paid within a second (PersistInterval 1); a paused session ends after
/// 5 s (PaymentGrace).
enum TwoNodeConfig {
    static let file = "/test/two-node.conf"
    static let deposit: UInt128 = 5_000_000_000_000_000_000
    static let funds: UInt128 = 10_000_000_000_000_000_000

    static func provider() throws -> ProviderConfig {
        let text = """
            [Interface]
            ListenPort = 51820

            [Provider]
            WAN = eth0
            Pool = 10.99.0.0/24
            Exit = open
            Price = 2/GiB, 0.0001/min
            CreditWindow = 1MiB
            PersistInterval = 1
            PaymentGrace = 5
            """
        guard let config = try ProviderConfig.from(try TunnelConfig.parse(text, file: file), file: file) else {
            throw TwoNodeSetupError(description: "no [Provider] in the test config")
        }
        return config
    }

    static func exit() throws -> ExitConfig {
        let text = "[Interface]\n\n[Exit]\nProvider = wr1x@192.0.2.1:51820\nDeposit = 5\nPersistInterval = 1\n"
        guard let config = try ExitConfig.from(try TunnelConfig.parse(text, file: file), file: file) else {
            throw TwoNodeSetupError(description: "no [Exit] in the test config")
        }
        return config
    }
}

/// The provider: its session service with billing over memory channel files and the shared
/// memory ledger, its data plane with `ProviderRole`, and its payment port on the fake kernel.
final class ProviderNode {
    static let endpoint = Endpoint(address: .v4(0xC000_0201), port: 51820)       // 192.0.2.1
    let identity: NodeIdentity
    let wallet: WalletKey
    let config: ProviderConfig
    let files = MemoryChannelFiles()
    let host = MemoryHost()
    let wan: MemoryDatagramSocket
    let service: ProviderService
    let billing: ProviderBilling
    let plane: DataPlane
    let paymentSocket: MemoryDatagramSocket

    init(internet: MemoryNetwork, ledgerFiles: MemoryLedgerFiles, knobs: TestKnobs, clock: TimeSource, log: EventLog) throws {
        let entropy = SystemEntropy()
        identity = NodeIdentity.generate(entropy: entropy)
        wallet = WalletKey.generate(entropy: entropy)
        config = try TwoNodeConfig.provider()
        service = ProviderService(identity: identity, config: config, whitelist: nil, hostAddresses: [], mtu: 1420, clock: clock, log: log)
        billing = try Self.startBilling(wallet: wallet, files: files, ledgerFiles: ledgerFiles, config: config, knobs: knobs,
                                        nowWall: clock.now().wall / 1_000_000_000, log: log)
        service.billing = billing
        guard let wanAddress = SocketAddress(Self.endpoint),
              let tunnelAddress = service.providerAddressList.first(where: \.isV4),
              let paymentAddress = SocketAddress(Endpoint(address: tunnelAddress, port: PaymentPort.number)) else {
            throw TwoNodeSetupError(description: "the provider's addresses")
        }
        wan = internet.socket(at: wanAddress)
        let tunnel = Tunnel(privateKey: identity.wireGuardPrivateKey, entropy: entropy)
        plane = DataPlane(tunnel: tunnel, device: host.device, socket: wan, role: ProviderRole(service: service),
                          clock: clock, log: log, forcedUnderLoad: false)
        service.plane = plane
        paymentSocket = host.socket(at: paymentAddress)
        billing.use(PaymentChannelSocket(socket: paymentSocket, address: tunnelAddress))
    }

    /// What a provider (re)starting over these files runs: the payment state opened (sessions
    /// left open marked ended), then the watchdog.
    static func startBilling(wallet: WalletKey, files: MemoryChannelFiles, ledgerFiles: MemoryLedgerFiles, config: ProviderConfig,
                             knobs: TestKnobs, nowWall: UInt64, log: EventLog) throws -> ProviderBilling {
        let opened = try PaymentState.open(wallet: wallet, ledgerFiles: ledgerFiles, ledgerLocation: "memory ledger", channelFiles: files,
                                           channelsLocation: "memory channels", section: "Provider",
                                           persistInterval: config.payment.persistInterval, nowWall: nowWall, log: log)
        return ProviderBilling.start(opened, config: config.payment, tariff: config.price, overchargePercent: knobs.overchargePercent,
                                     nowWall: nowWall, log: log)
    }

    var sessions: [ProviderSessionStatus] { service.status().sessions }
}

/// The consumer: its session asked for over its WireGuard socket, its payment over memory
/// channel files and the shared memory ledger, the keeper and `ConsumerRole` in its data
/// plane, and its payment port on the fake kernel.
final class ConsumerNode {
    static let endpoint = Endpoint(address: .v4(0xC000_0202), port: 51820)       // 192.0.2.2
    let identity: NodeIdentity
    let wallet: WalletKey
    let files = MemoryChannelFiles()
    let host = MemoryHost()
    let wan: MemoryDatagramSocket
    let shutdown = Shutdown()
    let opened: ExitSession.Opened
    let address: IPAddress
    let payment: ConsumerPayment
    let keeper: ExitSessionKeeper
    let plane: DataPlane
    let paymentSocket: MemoryDatagramSocket

    /// Asks `provider` for a session (on a thread, while the provider's plane is stepped here),
    /// then opens the payment channel and brings the tunnel up.
    init(provider: ProviderNode, internet: MemoryNetwork, ledgerFiles: MemoryLedgerFiles, knobs: TestKnobs,
         clock: VirtualClock, log: EventLog) throws {
        let entropy = SystemEntropy()
        identity = NodeIdentity.generate(entropy: entropy)
        wallet = WalletKey.generate(entropy: entropy)
        let ledger = try LocalLedger(files: ledgerFiles)
        try ledger.fund(wallet.address, amount: TwoNodeConfig.funds, now: clock.now.wall / 1_000_000_000)
        guard let wanAddress = SocketAddress(Self.endpoint) else { throw TwoNodeSetupError(description: "the consumer's endpoint") }
        // Its receive waits a little while the session is asked for (the request's wait reads
        // the virtual clock, which the loop below moves), then returns at once for stepping.
        wan = internet.socket(at: wanAddress, receiveBoundMilliseconds: 5)
        opened = try Self.askForSession(identity: identity, socket: wan, provider: provider, clock: clock, log: log)
        wan.receiveBoundMilliseconds = 0

        let grant = opened.grant
        guard let own = grant.consumerIPv4?.address, let payTo = grant.providerTunnelIPv4,
              let providerWallet = grant.providerWallet.flatMap(EthereumAddress.init(bytes:)),
              let paymentAddress = SocketAddress(Endpoint(address: own, port: PaymentPort.number)),
              let everything = IPPrefix(parsing: "0.0.0.0/0") else {
            throw TwoNodeSetupError(description: "the grant lacks an address or the provider's wallet: \(grant)")
        }
        address = own
        let exit = try TwoNodeConfig.exit()
        let state = try PaymentState.open(wallet: wallet, ledgerFiles: ledgerFiles, ledgerLocation: "memory ledger", channelFiles: files,
                                          channelsLocation: "memory channels", section: "Exit", persistInterval: exit.payment.persistInterval,
                                          nowWall: clock.now.wall / 1_000_000_000, log: log)
        payment = try ConsumerPayment.start(state, config: exit.payment, grant: grant, providerWallet: providerWallet,
                                            stopPayingAfter: knobs.stopPayingAfter, shutdown: shutdown, clock: clock.agentClock,
                                            log: log, file: TwoNodeConfig.file)
        let providerKey = provider.identity.wireGuardPublicKey
        keeper = ExitSessionKeeper(identity: identity, opened: opened, providerKey: providerKey, payment: payment,
                                   shutdown: shutdown, clock: clock.agentClock, log: log)
        let tunnel = Tunnel(privateKey: identity.wireGuardPrivateKey, mtu: Int(grant.mtu), entropy: entropy)
        tunnel.addPeer(publicKey: providerKey, endpoint: ProviderNode.endpoint, allowedIPs: [everything])
        plane = DataPlane(tunnel: tunnel, device: host.device, socket: wan, role: ConsumerRole(keeper: keeper),
                          clock: clock.agentClock, log: log, forcedUnderLoad: false)
        payment.counts = { [plane] in
            plane.tunnel.withLock { tunnel in
                let peer = tunnel.peer(publicKey: providerKey)
                return (peer?.innerSentBytes ?? 0, peer?.innerReceivedBytes ?? 0)
            }
        }
        paymentSocket = host.socket(at: paymentAddress)
        payment.attach(PaymentChannelSocket(socket: paymentSocket, address: own), providerAddress: payTo)
    }

    /// `ExitSession.open` blocks until the answer: it runs on a thread while this one steps
    /// the provider's plane (and moves the clock a little whenever nothing arrived, so a
    /// request that is never answered runs out of attempts instead of hanging the test).
    private static func askForSession(identity: NodeIdentity, socket: MemoryDatagramSocket, provider: ProviderNode,
                                      clock: VirtualClock, log: EventLog) throws -> ExitSession.Opened {
        let outcome = Mutex<(opened: ExitSession.Opened?, error: String?, done: Bool)>((nil, nil, false))
        let target = ProviderAddress(identity: provider.identity.publicIdentity, host: "192.0.2.1", port: 51820)
        let agentClock = clock.agentClock
        let asking = Thread {
            do {
                let opened = try ExitSession.open(over: socket, identity: identity, provider: target, maxPrices: .unlimited,
                                                  clock: agentClock, log: log)
                outcome.withLock { $0 = (opened, nil, true) }
            } catch {
                outcome.withLock { $0 = (nil, "\(error)", true) }
            }
        }
        asking.start()
        var inbound = provider.plane.makeInboundBatch()
        for _ in 0..<10_000 where !outcome.withLock({ $0.done }) {
            let count = (try? provider.wan.receive(into: &inbound)) ?? 0
            provider.plane.handleInbound(inbound, count: count, now: clock.now)
            if count == 0 {
                usleep(1_000)
                clock.advance(milliseconds: 10)
            }
        }
        asking.join()
        let result = outcome.withLock { $0 }
        guard let opened = result.opened else { throw TwoNodeSetupError(description: "no session: \(result.error ?? "no answer")") }
        return opened
    }

    /// The consumer's best voucher as its channel files hold it (nil: no readable record).
    func bestOnDisk(_ channel: ChannelID) -> UInt128? {
        guard let snapshot = try? ChannelStore.snapshot(files: files) else { return nil }
        return snapshot.records.first { $0.id == channel }?.bestAmount
    }
}

/// Both nodes on one memory network, one memory ledger and one virtual clock.
final class TwoNodes {
    static let web = SocketAddress(ipBytes: [93, 184, 216, 34], port: 443)
    let clock = VirtualClock()
    let internet = MemoryNetwork()
    let ledgerFiles = MemoryLedgerFiles()
    let log = EventLog(prefix: "two-node")
    let knobs: TestKnobs
    let provider: ProviderNode
    let consumer: ConsumerNode
    /// Amounts of the vouchers that reached the provider's payment port, in order.
    private(set) var vouchersAtProvider: [UInt128] = []
    /// Vouchers that reached the provider before the consumer's channel files held them.
    private(set) var vouchersAheadOfConsumerFiles = 0

    init(knobs: TestKnobs = .none) throws {
        self.knobs = knobs
        provider = try ProviderNode(internet: internet, ledgerFiles: ledgerFiles, knobs: knobs, clock: clock.agentClock, log: log)
        consumer = try ConsumerNode(provider: provider, internet: internet, ledgerFiles: ledgerFiles, knobs: knobs, clock: clock, log: log)
    }

    var ledger: LocalLedger {
        get throws { try LocalLedger(files: ledgerFiles) }
    }

    var channel: ChannelID { consumer.payment.channel.id }

    /// Moves packets, datagrams and payment messages until nothing moves (at most `rounds`).
    func pump(rounds: Int = 200) {
        var outboundP = provider.plane.makeOutboundBatch(), outboundC = consumer.plane.makeOutboundBatch()
        var inboundP = provider.plane.makeInboundBatch(), inboundC = consumer.plane.makeInboundBatch()
        var payments = ReceiveBatch(count: 8, bufferSize: 512, headroom: 0)
        for _ in 0..<rounds {
            var moved = 0
            let readP = (try? provider.host.device.read(into: &outboundP)) ?? 0
            provider.plane.handleOutbound(outboundP, count: readP, now: clock.now)
            let readC = (try? consumer.host.device.read(into: &outboundC)) ?? 0
            consumer.plane.handleOutbound(outboundC, count: readC, now: clock.now)
            let receivedP = (try? provider.wan.receive(into: &inboundP)) ?? 0
            provider.plane.handleInbound(inboundP, count: receivedP, now: clock.now)
            let receivedC = (try? consumer.wan.receive(into: &inboundC)) ?? 0
            consumer.plane.handleInbound(inboundC, count: receivedC, now: clock.now)
            provider.host.deliverWritten()
            consumer.host.deliverWritten()
            // The provider's payment port, as its payment thread serves it.
            let vouchers = (try? provider.paymentSocket.receive(into: &payments)) ?? 0
            for i in 0..<vouchers where !payments.isTruncated(i) {
                let bytes = Array(payments.buffer(i)[0..<payments.length(i)])
                if let voucher = try? SignedVoucher(parsing: bytes) {
                    vouchersAtProvider.append(voucher.cumulativeAmount)
                    if (consumer.bestOnDisk(voucher.channelID) ?? 0) < voucher.cumulativeAmount { vouchersAheadOfConsumerFiles += 1 }
                }
                provider.service.handlePayment(bytes, from: Endpoint(payments.source(i)))
            }
            // The consumer's.
            let invoices = (try? consumer.paymentSocket.receive(into: &payments)) ?? 0
            for i in 0..<invoices where !payments.isTruncated(i) {
                consumer.payment.handle(Array(payments.buffer(i)[0..<payments.length(i)]))
            }
            moved += readP + readC + receivedP + receivedC + vouchers + invoices
            if moved == 0 { return }
        }
    }

    /// Every 100 ms of virtual time for `milliseconds`: both planes' timers (the roles'
    /// housekeeping once a second), the consumer's payment timers, then a pump.
    func run(milliseconds: UInt64) {
        for _ in 0..<(milliseconds / 100) { step() }
    }

    func step() {
        clock.advance(milliseconds: 100)
        provider.plane.tick(now: clock.now)
        consumer.plane.tick(now: clock.now)
        consumer.payment.tick()
        pump()
    }

    /// A UDP packet from the consumer's tunnel address to the web, into the consumer's TUN.
    @discardableResult
    func fromConsumer(_ payload: [UInt8]) throws -> [UInt8] {
        guard let source = SocketAddress(Endpoint(address: consumer.address, port: 5000)), let web = Self.web,
              let packet = UDPPacket.build(payload: payload, from: source, to: web) else { throw TwoNodeSetupError(description: "packet") }
        consumer.host.device.inject(packet)
        return packet
    }

    /// The web's answer, into the provider's TUN (as its kernel would route it back).
    @discardableResult
    func toConsumer(_ payload: [UInt8]) throws -> [UInt8] {
        guard let destination = SocketAddress(Endpoint(address: consumer.address, port: 5000)), let web = Self.web,
              let packet = UDPPacket.build(payload: payload, from: web, to: destination) else { throw TwoNodeSetupError(description: "packet") }
        provider.host.device.inject(packet)
        return packet
    }

    /// Traffic both ways (`count` packets of `size` bytes each way), then `milliseconds` of time.
    func browse(packets count: Int, size: Int, milliseconds: UInt64) throws {
        for i in 0..<count {
            try fromConsumer([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size))
            try toConsumer([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size))
            if i % 8 == 7 { pump() }
        }
        pump()
        run(milliseconds: milliseconds)
    }

    /// The consumer's disconnect: `ConsumerPayment.finish` (which waits for the final invoice)
    /// on a thread while this one pumps, then the signed close. Returns whether it finished.
    func consumerDisconnects() -> Bool {
        let finished = Atomic<Bool>(false)
        let payment = consumer.payment
        let finishing = Thread {
            payment.finish()
            finished.store(true, ordering: .relaxed)
        }
        finishing.start()
        // The final invoice comes at once; the clock moves only to end a wait that would not.
        for round in 1...400 where !finished.load(ordering: .relaxed) {
            pump()
            usleep(5_000)
            if round % 20 == 0 { step() }
        }
        finishing.join()
        let close = SessionClose.make(identity: consumer.identity, sessionID: consumer.keeper.grant.sessionID, now: clock.now)
        if let target = SocketAddress(ProviderNode.endpoint) { close.withUnsafeBytes { _ = try? consumer.wan.send($0, to: target) } }
        pump()
        return finished.load(ordering: .relaxed)
    }
}

@Suite(.serialized) struct TwoNodeTests {
    @Test func aSessionMovesTrafficPaysAndSettles() throws {
        let nodes = try TwoNodes()
        nodes.pump()
        #expect(nodes.provider.sessions.count == 1)

        // A packet into the consumer's TUN comes out of the provider's, and the answer back.
        let out = try nodes.fromConsumer(Array("GET / over the exit".utf8))
        nodes.pump()
        #expect(nodes.provider.host.takeKept() == [out])
        let back = try nodes.toConsumer(Array("200 OK".utf8))
        nodes.pump()
        #expect(nodes.consumer.host.takeKept() == [back])

        // Some browsing: the provider invoices, the consumer pays.
        try nodes.browse(packets: 40, size: 1000, milliseconds: 6_000)
        #expect(nodes.provider.host.takeKept().count == 40)
        #expect(nodes.consumer.host.takeKept().count == 40)
        let status = try #require(nodes.provider.sessions.first)
        #expect(status.channel == nodes.channel.description, "the consumer's first voucher bound its channel")
        #expect(status.paused == false)
        #expect(nodes.provider.billing.invoicesSent.load(ordering: .relaxed) >= 2)
        #expect(nodes.vouchersAtProvider.contains { $0 > 0 }, "a voucher paid an invoice")
        #expect(nodes.vouchersAheadOfConsumerFiles == 0, "every voucher was in the consumer's files before it was sent")

        // The consumer disconnects: its final voucher pays the final invoice, the provider's
        // watchdog claims it on the ledger.
        #expect(nodes.consumerDisconnects(), "the final invoice came and was paid")
        #expect(nodes.provider.sessions.isEmpty, "the signed close ended the session")
        let paid = try #require(nodes.consumer.bestOnDisk(nodes.channel))
        #expect(paid > 0)
        #expect(nodes.vouchersAtProvider.last == paid, "the closing voucher is the consumer's best")
        let ledger = try nodes.ledger
        #expect(try ledger.channel(nodes.channel)?.claimed == paid)
        #expect(try ledger.balance(of: nodes.provider.wallet.address) == paid)
        #expect(try ledger.balance(of: nodes.consumer.wallet.address) == TwoNodeConfig.funds - TwoNodeConfig.deposit)
        #expect(nodes.vouchersAheadOfConsumerFiles == 0)
        #expect(nodes.consumer.shutdown.requested == nil)
    }

    @Test func aConsumerThatStopsPayingIsPausedThenEnded() throws {
        var knobs = TestKnobs.none
        knobs.stopPayingAfter = 0
        let nodes = try TwoNodes(knobs: knobs)
        nodes.pump()
        let window = try #require(nodes.provider.sessions.first?.creditWindow)
        #expect(window == 64 * 1024, "a stranger's first window: CreditWindow/16")

        // 150 KB out: the unpaid window (64 KiB and the minute's ~53 KB) passes, the rest is held.
        let sent = 150
        for i in 0..<sent {
            try nodes.fromConsumer([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 1000))
            if i % 8 == 7 { nodes.pump() }
        }
        nodes.pump()
        let forwarded = nodes.provider.host.takeKept().count
        #expect(forwarded >= Int(window) / 1028 && forwarded < sent, "forwarded \(forwarded) of \(sent)")
        let paused = try #require(nodes.provider.sessions.first)
        #expect(paused.paused == true)
        #expect(paused.channel == nil, "never announced a channel")
        #expect(nodes.vouchersAtProvider.isEmpty)

        // Paused: a billed packet is held.
        try nodes.fromConsumer([1, 2, 3])
        nodes.pump()
        #expect(nodes.provider.host.takeKept().isEmpty)

        // Time is priced too, so the account stays behind (a recheck may resume it for a
        // moment, until the next second's price is due); once it has been paused for
        // PaymentGrace (5 s) without a voucher, the session ends.
        let burst = nodes.clock.now.monotonic
        var lastCovered = burst
        var endedAt: UInt64?
        for _ in 0..<200 {
            nodes.step()
            guard let session = nodes.provider.sessions.first else {
                endedAt = nodes.clock.now.monotonic
                break
            }
            if session.paused != true { lastCovered = nodes.clock.now.monotonic }
        }
        let ended = try #require(endedAt, "the session ended within 20 s")
        #expect(ended - lastCovered > 5 * Protocol.second, "paused for more than the grace before the end")
        #expect(ended - burst < 10 * Protocol.second)
        let consumerKey = nodes.consumer.identity.signingPublicKey
        #expect(nodes.provider.billing.isRefusedNonPayer(consumerKey, now: nodes.clock.now.monotonic), "refused for a while")
    }

    @Test func aProviderRestartMidSessionRecoversTheVouchers() throws {
        let nodes = try TwoNodes()
        nodes.pump()
        try nodes.browse(packets: 40, size: 1000, milliseconds: 6_000)
        // Two more seconds: the provider's batched write catches up with what it received.
        nodes.run(milliseconds: 2_000)
        let onDisk = nodes.provider.billing.persistedAmount(nodes.channel)
        #expect(onDisk > 0)
        #expect(nodes.provider.sessions.count == 1, "mid-session")

        // The process dies; a new one starts over the same files and ledger.
        let restarted = try ProviderNode.startBilling(wallet: nodes.provider.wallet, files: nodes.provider.files,
                                                      ledgerFiles: nodes.ledgerFiles, config: nodes.provider.config, knobs: nodes.knobs,
                                                      nowWall: nodes.clock.now.wall / 1_000_000_000, log: nodes.log)
        let record = try #require(restarted.store.withLock { $0[nodes.channel] })
        #expect(record.bestAmount == onDisk, "the best voucher on disk is recovered")
        #expect(restarted.store.withLock { $0.damaged }.isEmpty)
        // The session died with the process: marked ended, so the start's watchdog claims it.
        #expect(record.sessionEndedAt != nil)
        let ledger = try nodes.ledger
        #expect(try ledger.channel(nodes.channel)?.claimed == onDisk)
        #expect(try ledger.balance(of: nodes.provider.wallet.address) == onDisk)
    }

    @Test func theConsumerRefusesAnOverInvoice() throws {
        var knobs = TestKnobs.none
        knobs.overchargePercent = 10
        let nodes = try TwoNodes(knobs: knobs)
        nodes.pump()
        try nodes.browse(packets: 10, size: 1000, milliseconds: 3_000)
        #expect(nodes.provider.billing.invoicesSent.load(ordering: .relaxed) >= 1)
        guard case .consumerEnded(let why)? = nodes.consumer.shutdown.requested else {
            Issue.record("the consumer did not stop: \(String(describing: nodes.consumer.shutdown.requested))")
            return
        }
        #expect(why.contains("over-invoiced"), "\(why)")
        #expect(nodes.consumer.shutdown.exitCode == 3)
        // Nothing of the over-invoice was paid: only the announcement (0) went out.
        #expect(nodes.vouchersAtProvider.allSatisfy { $0 == 0 })
        #expect(nodes.consumer.bestOnDisk(nodes.channel) == 0)
    }

    @Test func aTornConsumerChannelFileIsRefused() throws {
        let nodes = try TwoNodes()
        nodes.pump()
        try nodes.browse(packets: 20, size: 1000, milliseconds: 3_000)
        let paid = try #require(nodes.consumer.bestOnDisk(nodes.channel))
        let vouchers = nodes.vouchersAtProvider.count

        // The power goes while the consumer writes its next voucher.
        nodes.consumer.files.tearNextWrite(keeping: 40)
        let writes = nodes.consumer.files.replaceCount
        for _ in 0..<100 where nodes.consumer.files.replaceCount == writes {
            try nodes.fromConsumer([UInt8](repeating: 7, count: 1000))
            nodes.step()
        }
        #expect(nodes.consumer.files.replaceCount > writes, "a write was torn")
        #expect(nodes.consumer.bestOnDisk(nodes.channel) == nil, "the file no longer reads")
        #expect(nodes.vouchersAheadOfConsumerFiles == 0, "the voucher whose write failed was not sent")
        #expect(nodes.vouchersAtProvider.count == vouchers)

        // Restarted over those files: the torn file is refused (damaged), not loaded, and the
        // consumer does not pay on that channel again: it opens another.
        let exit = try TwoNodeConfig.exit()
        let state = try PaymentState.open(wallet: nodes.consumer.wallet, ledgerFiles: nodes.ledgerFiles, ledgerLocation: "memory ledger",
                                          channelFiles: nodes.consumer.files, channelsLocation: "memory channels", section: "Exit",
                                          persistInterval: 1, nowWall: nodes.clock.now.wall / 1_000_000_000, log: nodes.log)
        #expect(state.store.damaged == [ChannelStore.fileName(nodes.channel)])
        #expect(state.store[nodes.channel] == nil)
        let again = try ConsumerPayment.start(state, config: exit.payment, grant: nodes.consumer.opened.grant,
                                              providerWallet: nodes.provider.wallet.address, stopPayingAfter: nil,
                                              shutdown: Shutdown(), clock: nodes.clock.agentClock, log: nodes.log, file: TwoNodeConfig.file)
        #expect(again.channel.id != nodes.channel)
        #expect(paid > 0)
    }

    @Test func aTornProviderChannelFileIsRefused() throws {
        let nodes = try TwoNodes()
        nodes.pump()
        try nodes.browse(packets: 20, size: 1000, milliseconds: 3_000)
        #expect(nodes.provider.billing.persistedAmount(nodes.channel) > 0)

        // The power goes while the provider writes the channel (a voucher's write or the batch).
        nodes.provider.files.tearNextWrite(keeping: 40)
        let writes = nodes.provider.files.replaceCount
        for _ in 0..<100 where nodes.provider.files.replaceCount == writes {
            try nodes.fromConsumer([UInt8](repeating: 7, count: 1000))
            nodes.step()
        }
        #expect(nodes.provider.files.replaceCount > writes, "a write was torn")

        let restarted = try ProviderNode.startBilling(wallet: nodes.provider.wallet, files: nodes.provider.files,
                                                      ledgerFiles: nodes.ledgerFiles, config: nodes.provider.config, knobs: nodes.knobs,
                                                      nowWall: nodes.clock.now.wall / 1_000_000_000, log: nodes.log)
        #expect(restarted.store.withLock { $0.damaged } == [ChannelStore.fileName(nodes.channel)])
        #expect(restarted.store.withLock { $0[nodes.channel] } == nil, "nothing is read from a torn file")
        #expect(try nodes.ledger.channel(nodes.channel)?.claimed == 0, "so nothing is claimed from it")
    }
}

/// The fake kernel on its own.
@Suite struct MemoryHostTests {
    static let tunnel = SocketAddress(ipBytes: [10, 99, 0, 2], port: 4747)
    static let far = SocketAddress(ipBytes: [10, 99, 0, 1], port: 4747)

    @Test func aSendToAnotherAddressBecomesAPacketWithRightChecksums() throws {
        let host = MemoryHost()
        let (local, far) = (try #require(Self.tunnel), try #require(Self.far))
        let socket = host.socket(at: local)
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try socket.send($0, to: far) }
        var batch = PacketBatch(count: 2, bufferSize: 128)
        #expect(try host.device.read(into: &batch) == 1)
        let packet = Array(batch.buffer(0)[0..<batch.length(0)])
        #expect(packet.count == 20 + 8 + 3)
        #expect(UDPPacket.internetChecksum(Array(packet[0..<20])) == 0, "IPv4 header checksum")
        let pseudo = Array(packet[12..<20]) + [0, 17, 0, 11]
        #expect(UDPPacket.internetChecksum(pseudo + Array(packet[20...])) == 0, "UDP checksum")
        #expect(UDPPacket.parse(packet) == UDPPacket.Datagram(source: local, destination: far, payload: [1, 2, 3]))
        var damaged = packet
        damaged[8] = 1      // TTL changed, header checksum not
        #expect(UDPPacket.parse(damaged) == nil)
        #expect(host.sockets.lost == 0)
    }

    @Test func writtenPacketsGoToTheirSocketOrAreKept() throws {
        let host = MemoryHost()
        let (local, far) = (try #require(Self.tunnel), try #require(Self.far))
        let socket = host.socket(at: local)
        let other = try #require(SocketAddress(ipBytes: [10, 99, 0, 2], port: 5000))
        let toSocket = try #require(UDPPacket.build(payload: [9, 9], from: far, to: local))
        let toOtherPort = try #require(UDPPacket.build(payload: [8], from: far, to: other))
        toSocket.withUnsafeBytes { first in
            toOtherPort.withUnsafeBytes { second in
                [first, second].withUnsafeBufferPointer { _ = host.device.write($0) }
            }
        }
        #expect(host.deliverWritten() == 1)
        var batch = ReceiveBatch(count: 2, bufferSize: 64, headroom: 0)
        #expect(try socket.receive(into: &batch) == 1)
        #expect(Array(batch.buffer(0)[0..<batch.length(0)]) == [9, 9])
        #expect(batch.source(0) == far)
        #expect(host.takeKept() == [toOtherPort])
    }

    @Test func ipv6PacketsCarryAUDPChecksum() throws {
        let local = try #require(SocketAddress(ipBytes: [0xfd] + [UInt8](repeating: 0, count: 14) + [2], port: 4747))
        let far = try #require(SocketAddress(ipBytes: [0xfd] + [UInt8](repeating: 0, count: 14) + [1], port: 4747))
        let packet = try #require(UDPPacket.build(payload: [1, 2, 3, 4, 5], from: local, to: far))
        #expect(packet[0] >> 4 == 6 && packet.count == 40 + 8 + 5)
        let pseudo = Array(packet[8..<40]) + [0, 0, 0, 13, 0, 0, 0, 17]
        #expect(UDPPacket.internetChecksum(pseudo + Array(packet[40...])) == 0)
        #expect(UDPPacket.parse(packet)?.payload == [1, 2, 3, 4, 5])
        #expect(UDPPacket.build(payload: [1], from: local, to: try #require(Self.far)) == nil, "families differ")
    }
}
