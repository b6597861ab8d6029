/// What a voucher check needs to know beyond the account. The agent answers from its ledger,
/// channel store and session table; tests answer from memory. Asked outside the agent's
/// session lock (a ledger read may wait for disk).
public protocol ProviderChannelLookup {
    /// The ledger's entry for a channel; nil when the ledger has none.
    func ledgerChannel(_ id: ChannelID) throws(LedgerError) -> LedgerChannel?
    /// The channel as this provider's channel store holds it; nil when it holds none.
    func storedChannel(_ id: ChannelID) -> Channel?
    /// Whether another live session of this provider is bound to the channel.
    func isBoundByAnotherSession(_ id: ChannelID) -> Bool
}

/// A voucher `check` accepted: store it, then give it to `receive`.
public struct AcceptedVoucher: Hashable, Sendable {
    public let voucher: SignedVoucher
    public let signer: EthereumAddress
    public let channel: Channel
    /// Whether it binds the session to `channel` (the session had none).
    public let binds: Bool
}

/// Why a voucher was not taken.
public enum VoucherRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// A bound session's voucher for another channel, by another signer, or for a channel
    /// the store lost.
    case notTheSessionChannel
    case ledgerUnreadable(LedgerError)
    case notOnLedger(ChannelID)
    case reclaimed(ChannelID)
    case paysAnotherProvider(ChannelID, EthereumAddress)
    case notTheChannelConsumer(signer: EthereumAddress, consumer: EthereumAddress)
    case expiresWithinMargin(ChannelID, marginSeconds: UInt64)
    case inUseByAnotherSession(ChannelID)
    case sessionEnded

    public var description: String {
        switch self {
        case .notTheSessionChannel: "another channel or signer than the session's"
        case .ledgerUnreadable(let error): "the ledger could not be read: \(error)"
        case .notOnLedger(let id): "channel \(id) is not on the ledger"
        case .reclaimed(let id): "channel \(id) was reclaimed"
        case .paysAnotherProvider(let id, let provider): "channel \(id) pays \(provider), not us"
        case .notTheChannelConsumer(let signer, let consumer): "voucher signed by \(signer), not the channel's consumer \(consumer)"
        case .expiresWithinMargin(let id, let margin): "channel \(id) expires within the expiry margin (\(margin) s)"
        case .inUseByAnotherSession(let id): "channel \(id) is in use by another session"
        case .sessionEnded: "the session has ended"
        }
    }
}

extension ProviderAccount {
    /// Step one of a voucher (its signature already recovered to `signer`): which channel it
    /// pays. A bound session takes only its own channel from the same signer. An unbound one
    /// binds a channel the ledger holds, not reclaimed, paying this provider, whose consumer
    /// signed the voucher, not expiring within the margin, and not bound by another session.
    public func check(_ voucher: SignedVoucher, signer: EthereumAddress, channels: some ProviderChannelLookup,
                      nowWall: UInt64) throws(VoucherRefusal) -> AcceptedVoucher {
        guard phase != .ended else { throw .sessionEnded }
        if let bound = channel {
            guard voucher.channelID == bound, signer == consumerWallet, let stored = channels.storedChannel(bound) else {
                throw .notTheSessionChannel
            }
            return AcceptedVoucher(voucher: voucher, signer: signer, channel: stored, binds: false)
        }
        let entry: LedgerChannel?
        do { entry = try channels.ledgerChannel(voucher.channelID) } catch { throw .ledgerUnreadable(error) }
        guard let entry else { throw .notOnLedger(voucher.channelID) }
        let found = entry.channel
        guard !entry.reclaimed else { throw .reclaimed(found.id) }
        guard found.provider == terms.provider else { throw .paysAnotherProvider(found.id, found.provider) }
        guard found.consumer == signer else { throw .notTheChannelConsumer(signer: signer, consumer: found.consumer) }
        guard found.expiry > nowWall &+ terms.expiryMarginSeconds else {
            throw .expiresWithinMargin(found.id, marginSeconds: terms.expiryMarginSeconds)
        }
        guard !channels.isBoundByAnotherSession(found.id) else { throw .inUseByAnotherSession(found.id) }
        return AcceptedVoucher(voucher: voucher, signer: signer, channel: found, binds: true)
    }

    /// Step two, once the agent stored the voucher: `best` is the channel's best amount in
    /// the store (this voucher or a higher one). Binding makes `best` the session's base;
    /// a later voucher pays (the identity's record in `book`), and one that pays at least what
    /// was asked before the previous voucher, and more than paid so far, grows the window
    /// (`CreditBook.goodVoucher`: it cannot pay invoices sent after it left, as vouchers come
    /// once per interval). Then the credit is rechecked. A closing voucher (the consumer is
    /// about to disconnect) is answered with an invoice at once.
    ///
    /// A voucher accepted for a state the account has left since (another voucher bound it
    /// first, or the session was replaced) credits nothing.
    public mutating func receive(_ accepted: AcceptedVoucher, best: UInt128, closing: Bool, book: inout CreditBook,
                                 persisted: (ChannelID) -> UInt128, now: UInt64) -> [ProviderAccountAction] {
        guard phase != .ended else { return [] }
        var actions: [ProviderAccountAction] = []
        let stillCurrent = accepted.binds ? channel == nil : channel == accepted.channel.id
        if stillCurrent {
            var settle: ChannelID?
            if accepted.binds {
                channel = accepted.channel.id
                consumerWallet = accepted.signer
                credit = credit.with(sessionBase: best)
                paid = best
                invoices.atOnce = true
                if phase == .awaitingChannel { phase = .paying }
                actions.append(.bound(accepted.channel, paid: best))
                // The session this one replaced paid on another channel: settle that one now.
                if let replaced = replacedChannel, replaced != accepted.channel.id { settle = replaced }
                replacedChannel = nil
            } else {
                if best > paid { recordPayment(best - paid, book: &book, now: now) }
                let amount = accepted.voucher.cumulativeAmount
                if amount >= dueAskedBeforeLastVoucher && amount > paid {
                    credit = credit.with(windowBytes: book.goodVoucher(consumer))
                }
                paid = max(paid, best)
            }
            vouchers &+= 1
            dueAskedBeforeLastVoucher = max(invoices.lastDue, paid)
            let covered = recheck(extra: 0, now: now, persisted: persisted)
            if let change = apply(covered: covered, now: now) { actions.append(change) }
            if let settle { actions.append(.settle(settle)) }
        }
        if closing {
            invoices.atOnce = true
            if let invoice = invoice(now: now) { actions.append(.invoice(invoice)) }
        }
        return actions
    }

    /// A voucher added `amount` to what the consumer paid: a stranger that has now paid a
    /// first window's money gives its share of the budget back and pays down what it
    /// carried from then on.
    mutating func recordPayment(_ amount: UInt128, book: inout CreditBook, now: UInt64) {
        let good = book.paid(consumer, amount: amount, reservation: reservation, now: Self.bookSeconds(now))
        if good && reservation > 0 {
            reservation = 0
            credit = credit.with(paysDown: true)
        }
    }
}
