import WireGuard

/// A token bucket kept as one number: the theoretical arrival time of the next request
/// (GCRA). A request at `now` fits if that time is at most `(burst - 1)` intervals ahead;
/// each admitted request pushes it one interval further. Integer nanoseconds, no drift.
struct RateBucket: Sendable {
    let interval: UInt64
    let tolerance: UInt64
    private(set) var theoreticalArrival: UInt64 = 0

    init(rate: UInt64, burst: UInt64) {
        interval = max(1, Protocol.second / rate)
        let (product, overflow) = interval.multipliedReportingOverflow(by: burst - 1)
        tolerance = overflow ? UInt64.max : product
    }

    /// The bucket's state after admitting one request at `now`, or nil if it does not fit.
    func nextArrival(now: UInt64) -> UInt64? {
        Self.nextArrival(after: theoreticalArrival, now: now, interval: interval, tolerance: tolerance)
    }

    mutating func commit(_ next: UInt64) { theoreticalArrival = next }

    static func nextArrival(after arrival: UInt64, now: UInt64, interval: UInt64, tolerance: UInt64) -> UInt64? {
        let start = max(arrival, now)
        guard start - now <= tolerance else { return nil }
        return start &+ interval
    }
}

/// Per-source buckets, at most `capacity` of them, forgetting the least recently seen source
/// when a new one arrives at a full table.
///
/// Forgetting is safe: a forgotten source merely starts again with a full burst, and a source
/// idle longer than `burst` intervals has a full bucket anyway. A flood from many addresses
/// churns the table but cannot grow it; the global bucket bounds what such a flood gets.
/// Lookup, touch and eviction are O(1): a dictionary into slots on a doubly linked list.
struct SourceRateTable: Sendable {
    private struct Slot: Sendable {
        var source: IPAddress
        var theoreticalArrival: UInt64
        var newer: Int
        var older: Int
    }

    private let capacity: Int
    private let interval: UInt64
    private let tolerance: UInt64
    private var index: [IPAddress: Int] = [:]
    private var slots: [Slot] = []
    private var newest = -1
    private var oldest = -1

    init(capacity: Int, rate: UInt64, burst: UInt64) {
        self.capacity = capacity
        let bucket = RateBucket(rate: rate, burst: burst)
        interval = bucket.interval
        tolerance = bucket.tolerance
    }

    var count: Int { index.count }

    /// What is counted as one source: an IPv4 address, or an IPv6 /64, because one host
    /// commonly owns a whole /64 and could otherwise pose as 2^64 sources.
    static func key(for source: IPAddress) -> IPAddress {
        switch source {
        case .v4: return source
        case .v6(let high, _): return .v6(high, 0)
        }
    }

    func nextArrival(for source: IPAddress, now: UInt64) -> UInt64? {
        let arrival = index[source].map { slots[$0].theoreticalArrival } ?? 0
        return RateBucket.nextArrival(after: arrival, now: now, interval: interval, tolerance: tolerance)
    }

    mutating func commit(_ source: IPAddress, nextArrival: UInt64, now: UInt64) {
        if let slot = index[source] {
            slots[slot].theoreticalArrival = nextArrival
            unlink(slot)
            linkAsNewest(slot)
            return
        }
        let slot: Int
        if slots.count < capacity {
            slot = slots.count
            slots.append(Slot(source: source, theoreticalArrival: nextArrival, newer: -1, older: -1))
        } else {
            slot = oldest
            unlink(slot)
            index[slots[slot].source] = nil
            slots[slot] = Slot(source: source, theoreticalArrival: nextArrival, newer: -1, older: -1)
        }
        index[source] = slot
        linkAsNewest(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let newer = slots[slot].newer, older = slots[slot].older
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[slot].newer = -1
        slots[slot].older = -1
    }

    private mutating func linkAsNewest(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = -1
        if newest >= 0 { slots[newest].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
