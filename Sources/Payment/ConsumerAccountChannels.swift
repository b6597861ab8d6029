/// The consumer's channel choice and budget, as pure functions of its records.
extension ConsumerAccount {
    /// The channel to pay `provider` on, among the consumer's records: one to this provider,
    /// not reclaimed, with something left below its deposit, and far enough from expiry to
    /// serve a session (a quarter of `channelLifetime`, at least a minute); the one with the
    /// most left. `isOpenOnLedger` says whether the settlement backend still holds the channel
    /// open (asked only for the candidates, most room first). Nil: open a new channel.
    public static func reusableChannel(among records: some Sequence<ChannelRecord>, provider: EthereumAddress, now: UInt64,
                                       channelLifetime: UInt64,
                                       isOpenOnLedger: (ChannelID) -> Bool) -> ChannelRecord? {
        let margin = max(channelLifetime / 4, 60)
        let candidates = records.filter { record in
            record.role == .consumer && record.channel.provider == provider && !record.reclaimed
                && record.channel.expiry > now &+ margin && record.bestAmount < record.channel.deposit
        }.sorted { left, right in
            let leftRoom = left.channel.deposit - left.bestAmount
            let rightRoom = right.channel.deposit - right.bestAmount
            return leftRoom != rightRoom ? leftRoom > rightRoom : left.id < right.id
        }
        return candidates.first { isOpenOnLedger($0.id) }
    }

    /// The most `record`'s channel may reach now: its deposit, and today's budget left after
    /// what every consumer channel spent today (MaxSpend is per day, not per channel).
    public static func spendingCap(record: ChannelRecord, otherChannels: [ChannelRecord], maxSpendPerDay: UInt128?,
                                   now: UInt64) -> UInt128 {
        var cap = record.channel.deposit
        if let maxSpendPerDay {
            let spent = ([record] + otherChannels).consumerSpend(on: now)
            let remaining = maxSpendPerDay > spent ? maxSpendPerDay - spent : 0
            let (sum, overflow) = record.bestAmount.addingReportingOverflow(remaining)
            if !overflow { cap = min(cap, sum) }
        }
        return cap
    }

    /// Today's spend when it has reached `maxSpendPerDay` (nil while there is room, or without
    /// a cap), with the Unix second the next day begins. A consumer at its cap does not even
    /// ask for a session: a restarting service would otherwise open and close sessions all day.
    public static func capReachedToday(records: some Sequence<ChannelRecord>, maxSpendPerDay: UInt128?,
                                       now: UInt64) -> (spent: UInt128, resumesAt: UInt64)? {
        guard let cap = maxSpendPerDay else { return nil }
        let spent = records.consumerSpend(on: now)
        guard spent >= cap else { return nil }
        return (spent, (ChannelRecord.day(now) + 1) * ChannelRecord.secondsPerDay)
    }
}
