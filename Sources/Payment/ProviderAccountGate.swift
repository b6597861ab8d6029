import Synchronization

/// The per-packet half of a provider's session account (`ProviderAccount`): the byte
/// counters, the allowance and the paused flag, in atomics, so both data-plane directions
/// decide a packet without a lock (the toward-the-consumer decision runs under the tunnel's
/// lock; taking the provider's there would serialise the two directions). Two packets racing
/// at the boundary overshoot it by at most one packet each.
///
/// The account creates it and is the only writer of `allowance` and `paused`; the data plane
/// only asks `admit` and, after a recheck the account allowed, `count`.
public final class BillingGate: Sendable {
    let fromConsumer = Atomic<UInt64>(0)
    let toConsumer = Atomic<UInt64>(0)
    let billed = Atomic<UInt64>(0)
    let allowance: Atomic<UInt64>
    let paused = Atomic<Bool>(false)

    init(allowance: UInt64) {
        self.allowance = Atomic(allowance)
    }

    public enum Admission: Sendable { case pass, drop, recheck }

    /// Within the allowance: counted and passed. Crossing it: not counted, `.recheck` (the
    /// account recomputes the allowance). Paused: dropped. Payment datagrams always pass and
    /// are not billed, so a paused consumer can pay its way out.
    public func admit(bytes: Int, fromConsumer direction: Bool, isPayment: Bool) -> Admission {
        if isPayment { return .pass }
        if paused.load(ordering: .relaxed) { return .drop }
        let size = UInt64(bytes)
        let total = billed.wrappingAdd(size, ordering: .relaxed).newValue
        guard total >= size, total <= allowance.load(ordering: .relaxed) else {
            billed.wrappingSubtract(size, ordering: .relaxed)
            return .recheck
        }
        countDirection(size, direction)
        return .pass
    }

    /// Counts a packet a recheck found covered.
    func count(_ bytes: Int, fromConsumer direction: Bool) {
        billed.wrappingAdd(UInt64(bytes), ordering: .relaxed)
        countDirection(UInt64(bytes), direction)
    }

    public var bytesFromConsumer: UInt64 { fromConsumer.load(ordering: .relaxed) }
    public var bytesToConsumer: UInt64 { toConsumer.load(ordering: .relaxed) }
    /// Both directions: what the session is billed for.
    public var billedBytes: UInt64 { billed.load(ordering: .relaxed) }
    /// Total bytes (both directions) the paid amount plus the window covers, as last computed.
    public var byteAllowance: UInt64 { allowance.load(ordering: .relaxed) }
    public var isPaused: Bool { paused.load(ordering: .relaxed) }

    private func countDirection(_ size: UInt64, _ fromTheConsumer: Bool) {
        if fromTheConsumer { fromConsumer.wrappingAdd(size, ordering: .relaxed) } else { toConsumer.wrappingAdd(size, ordering: .relaxed) }
    }
}
