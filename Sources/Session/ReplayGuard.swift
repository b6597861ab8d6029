import WarrenCrypto

/// Remembers admitted (consumer, nonce) pairs for as long as their timestamps are inside the
/// window, so a captured request replayed later is refused either as stale or as seen.
///
/// An entry can go once its timestamp is older than the window, because from then on the
/// timestamp check alone refuses a replay of it. A min-heap on timestamps finds those entries
/// in O(log n) however the clocks of different consumers are skewed. When the memory holds
/// `capacity` live entries the guard refuses new requests rather than grow: under such load
/// a refusal is the honest answer, and memory stays bounded.
struct ReplayGuard: Sendable {
    /// BLAKE2s-128 of identity ‖ nonce: a fixed-size key instead of two arrays per entry.
    struct Key: Hashable, Sendable {
        let high: UInt64
        let low: UInt64
    }

    private struct Entry: Sendable {
        let timestamp: UInt64
        let key: Key
    }

    private let capacity: Int
    private let window: UInt64
    private var seen: Set<Key> = []
    private var byAge: [Entry] = []   // min-heap on timestamp

    init(capacity: Int, window: UInt64) {
        self.capacity = capacity
        self.window = window
    }

    var count: Int { seen.count }

    static func key(consumer: PublicIdentity, nonce: [UInt8]) -> Key {
        let digest = BLAKE2s.hash(consumer.signingPublicKey, nonce, outputLength: 16)
        var reader = WireReader(digest)
        return Key(high: reader.unsigned(UInt64.self), low: reader.unsigned(UInt64.self))
    }

    mutating func admit(_ key: Key, timestamp: UInt64, now: UInt64) -> AdmissionVerdict {
        let oldest = now >= window ? now - window : 0
        while let first = byAge.first, first.timestamp < oldest {
            seen.remove(first.key)
            popOldest()
        }
        guard timestamp >= oldest, timestamp <= now || timestamp - now <= window else { return .stale }
        guard !seen.contains(key) else { return .replayed }
        guard seen.count < capacity else { return .full }
        seen.insert(key)
        push(Entry(timestamp: timestamp, key: key))
        return .admit
    }

    private mutating func push(_ entry: Entry) {
        byAge.append(entry)
        var child = byAge.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard byAge[child].timestamp < byAge[parent].timestamp else { break }
            byAge.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popOldest() {
        let last = byAge.removeLast()
        guard !byAge.isEmpty else { return }
        byAge[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < byAge.count && byAge[left].timestamp < byAge[smallest].timestamp { smallest = left }
            if right < byAge.count && byAge[right].timestamp < byAge[smallest].timestamp { smallest = right }
            guard smallest != parent else { return }
            byAge.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
