import WarrenCrypto

/// One session's transport keys, indices and counters.
///
/// Keys live in memory allocated once and wiped on release; sealing and
/// opening read them through raw pointers so the data path never copies them.
/// The send counter and replay window are mutated only under the tunnel's lock.
public final class Keypair: @unchecked Sendable {
    let sendKey: UnsafeMutableRawPointer
    let receiveKey: UnsafeMutableRawPointer
    public let localIndex: UInt32
    public let remoteIndex: UInt32
    public let isInitiator: Bool
    public let createdAt: UInt64
    var sendCounter: UInt64 = 0
    var replay = ReplayWindow()

    init(keys: Noise.SessionKeys, localIndex: UInt32, remoteIndex: UInt32, isInitiator: Bool, createdAt: UInt64) {
        let send = UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 16)
        let receive = UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 16)
        keys.send.withUnsafeBytes { send.copyMemory(from: $0.baseAddress!, byteCount: 32) }
        keys.receive.withUnsafeBytes { receive.copyMemory(from: $0.baseAddress!, byteCount: 32) }
        sendKey = send
        receiveKey = receive
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.isInitiator = isInitiator
        self.createdAt = createdAt
    }

    deinit {
        sendKey.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
        receiveKey.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
        sendKey.deallocate()
        receiveKey.deallocate()
    }

    func age(at now: Now) -> UInt64 { now.monotonic &- createdAt }
}

/// Everything needed to seal one packet outside the tunnel's lock.
///
/// The counter was reserved under the lock, so tickets for the same keypair
/// can be sealed on any thread in any order.
public struct SealTicket: Sendable {
    let keypair: Keypair
    let counter: UInt64
    public let endpoint: Endpoint
    /// Bytes of plaintext after padding; the message is 16 + this + 16 bytes.
    public let paddedLength: Int

    public var messageLength: Int { MessageLayout.transportHeaderLength + paddedLength + ChaChaPoly.tagLength }

    /// Seals the packet at `message + 16` (of `packetLength` bytes) in place: writes the
    /// header in the 16 bytes of headroom, zero padding, then the tag. The buffer must
    /// hold `messageLength` bytes from `message`.
    @inline(__always)
    public func seal(message: UnsafeMutableRawPointer, packetLength: Int) {
        TransportHeader(receiverIndex: keypair.remoteIndex, counter: counter).write(to: message)
        let text = message + MessageLayout.transportHeaderLength
        if paddedLength > packetLength {
            (text + packetLength).initializeMemory(as: UInt8.self, repeating: 0, count: paddedLength - packetLength)
        }
        ChaChaPoly.seal(key: keypair.sendKey, counter: counter, text: text, length: paddedLength)
    }
}

/// Everything needed to open one transport message outside the tunnel's lock.
public struct OpenTicket: Sendable {
    let keypair: Keypair
    /// The peer the message authenticated as (for per-session policy and metering).
    public let peer: Peer
    public let counter: UInt64

    /// Decrypts in place; the plaintext is then at offset 16, `length - 32` bytes long.
    @inline(__always)
    public func open(message: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = message.baseAddress, message.count >= MessageLayout.transportMinimumLength else { return false }
        return ChaChaPoly.open(key: keypair.receiveKey, counter: counter, text: base + MessageLayout.transportHeaderLength,
                               length: message.count - MessageLayout.transportHeaderLength)
    }
}
