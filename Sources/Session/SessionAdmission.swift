import WarrenCrypto
import WireGuard

// The provider's gate in front of session requests, in two steps:
//
//   datagram type 5 ──▶ admitDatagram(from:)  per-source and global rate   (no crypto yet)
//                   ──▶ OpenedSessionRequest.open                           (DH, AEAD, Ed25519)
//                   ──▶ admitRequest(_:)      timestamp window, replay     (no state yet)
//                   ──▶ the agent allocates addresses and answers
//
// The first step is cheap and bounds how much cryptography a flood can buy; the second runs
// after authentication, so a forged request cannot fill the replay memory. Both keep bounded
// memory whatever arrives.

/// What the gate decided about one request.
public enum AdmissionVerdict: Hashable, Sendable {
    case admit
    /// Over the per-source or global rate: drop without answering (answering costs the work
    /// the limit saves, and would let a spoofed source aim our answers at someone).
    case rateLimited
    /// The same (consumer, nonce) was already admitted within the window.
    case replayed
    /// The timestamp is further than the window from the provider's clock.
    case stale
    /// The replay memory is full of live entries; refusing keeps memory bounded.
    case full
}

/// The gate's parameters, all in one place so the agent can take them from its config.
public struct AdmissionLimits: Hashable, Sendable {
    public var perSourceRequestsPerSecond: UInt64
    public var perSourceBurst: UInt64
    /// Sources remembered at once; the least recently seen is forgotten first.
    public var maxTrackedSources: Int
    public var globalRequestsPerSecond: UInt64
    public var globalBurst: UInt64
    /// How far (either way) a request's timestamp may be from `now.wall`, in nanoseconds.
    public var replayWindow: UInt64
    /// Admitted (consumer, nonce) pairs remembered at once.
    public var maxRememberedRequests: Int

    public init(perSourceRequestsPerSecond: UInt64 = 5, perSourceBurst: UInt64 = 10, maxTrackedSources: Int = 4096,
                globalRequestsPerSecond: UInt64 = 200, globalBurst: UInt64 = 400,
                replayWindow: UInt64 = 60 * Protocol.second, maxRememberedRequests: Int = 65536) {
        self.perSourceRequestsPerSecond = perSourceRequestsPerSecond
        self.perSourceBurst = perSourceBurst
        self.maxTrackedSources = maxTrackedSources
        self.globalRequestsPerSecond = globalRequestsPerSecond
        self.globalBurst = globalBurst
        self.replayWindow = replayWindow
        self.maxRememberedRequests = maxRememberedRequests
    }
}

/// Decides, before any session state exists, whether a session request deserves an answer.
///
/// Pure: time comes in as `Now` (the rate limits use `monotonic`, the replay window `wall`,
/// the clock the request's timestamp was written with).
public struct SessionAdmission: Sendable {
    public let limits: AdmissionLimits
    private var sources: SourceRateTable
    private var global: RateBucket
    private var replay: ReplayGuard

    public init(limits: AdmissionLimits = AdmissionLimits()) {
        precondition(limits.perSourceRequestsPerSecond > 0 && limits.globalRequestsPerSecond > 0
                     && limits.perSourceBurst > 0 && limits.globalBurst > 0
                     && limits.maxTrackedSources > 0 && limits.maxRememberedRequests > 0,
                     "admission limits must be positive")
        self.limits = limits
        sources = SourceRateTable(capacity: limits.maxTrackedSources,
                                  rate: limits.perSourceRequestsPerSecond, burst: limits.perSourceBurst)
        global = RateBucket(rate: limits.globalRequestsPerSecond, burst: limits.globalBurst)
        replay = ReplayGuard(capacity: limits.maxRememberedRequests, window: limits.replayWindow)
    }

    /// Step 1, before opening: `.admit` or `.rateLimited`. A request is charged to both its
    /// source and the global budget only when both allow it, so one noisy source cannot spend
    /// the global budget with requests its own limit refuses.
    public mutating func admitDatagram(from source: IPAddress, now: Now) -> AdmissionVerdict {
        let key = SourceRateTable.key(for: source)
        guard let sourceNext = sources.nextArrival(for: key, now: now.monotonic),
              let globalNext = global.nextArrival(now: now.monotonic) else { return .rateLimited }
        sources.commit(key, nextArrival: sourceNext, now: now.monotonic)
        global.commit(globalNext)
        return .admit
    }

    /// Step 2, after opening: `.admit`, `.stale`, `.replayed` or `.full`. An admitted request
    /// is remembered until its timestamp leaves the window.
    public mutating func admitRequest(_ request: OpenedSessionRequest, now: Now) -> AdmissionVerdict {
        admitRequest(consumer: request.consumer, nonce: request.nonce, wallNanoseconds: request.wallNanoseconds, now: now)
    }

    public mutating func admitRequest(consumer: PublicIdentity, nonce: [UInt8], wallNanoseconds: UInt64, now: Now) -> AdmissionVerdict {
        replay.admit(ReplayGuard.key(consumer: consumer, nonce: nonce), timestamp: wallNanoseconds, now: now.wall)
    }

    /// Sources currently tracked by the rate limiter (at most `limits.maxTrackedSources`).
    public var trackedSourceCount: Int { sources.count }
    /// Requests currently remembered by the replay guard (at most `limits.maxRememberedRequests`).
    public var rememberedRequestCount: Int { replay.count }
}
