import WireGuard

/// Addresses the provider's DNS forwarder saw in answers for whitelisted names, each kept
/// until its (clamped) TTL runs out.
///
/// A dictionary answers the per-packet question "is this address learned and still fresh?"
/// with one hash probe and no allocation. A min-heap ordered by expiry finds what to drop,
/// both when entries expire and when the table is full; heap entries superseded by a later
/// expiry are skipped when they surface and swept out when they pile up.
struct LearnedAddresses: Sendable {
    private struct Entry: Sendable {
        var expiry: UInt64
        var address: IPAddress
    }

    let capacity: Int
    private(set) var expiries: [IPAddress: UInt64] = [:]
    private var heap: [Entry] = []

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { expiries.count }

    /// The moment `address` stops being allowed, if it is learned.
    @inline(__always)
    func expiry(of address: IPAddress) -> UInt64? { expiries[address] }

    /// Records `address` until `expiry`; an address already learned keeps the later of the two.
    /// When the table is full, the entry that would expire soonest makes room: the new answer is
    /// the one a consumer is about to use.
    mutating func learn(_ address: IPAddress, until expiry: UInt64) {
        if let existing = expiries[address] {
            guard expiry > existing else { return }
        } else if expiries.count >= capacity {
            evictSoonest()
        }
        expiries[address] = expiry
        push(Entry(expiry: expiry, address: address))
        if heap.count >= 2 * expiries.count + 64 { rebuildHeap() }
    }

    /// Forgets every address whose expiry is at or before `now`.
    mutating func expire(now: UInt64) {
        while let top = heap.first, top.expiry <= now {
            popTop()
            if expiries[top.address] == top.expiry { expiries[top.address] = nil }
        }
    }

    mutating func removeAll() {
        expiries.removeAll()
        heap.removeAll()
    }

    private mutating func evictSoonest() {
        while let top = heap.first {
            popTop()
            if expiries[top.address] == top.expiry {
                expiries[top.address] = nil
                return
            }
        }
    }

    private mutating func rebuildHeap() {
        heap = expiries.map { Entry(expiry: $0.value, address: $0.key) }
        var index = heap.count / 2
        while index > 0 {
            index -= 1
            siftDown(from: index)
        }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].expiry < heap[parent].expiry else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        guard let last = heap.popLast() else { return }
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].expiry < heap[smallest].expiry { smallest = left }
            if right < heap.count && heap[right].expiry < heap[smallest].expiry { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
