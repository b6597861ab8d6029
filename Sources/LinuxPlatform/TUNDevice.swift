import CLinuxShim
import Glibc
import Synchronization

/// A kernel TUN interface (IFF_TUN | IFF_NO_PI): each read returns one raw
/// IPv4 or IPv6 packet and each write injects one. The descriptor is
/// blocking, for a dedicated data-plane thread.
public final class TUNDevice: @unchecked Sendable {
    /// The kernel's name for the interface (it fills in patterns like "tun%d").
    public let name: String
    public let fileDescriptor: Int32
    private let closed = Atomic<Bool>(false)

    private init(name: String, fileDescriptor: Int32) {
        self.name = name
        self.fileDescriptor = fileDescriptor
    }

    deinit {
        close()
    }

    /// Creates (or attaches to a persistent) TUN interface. An empty name lets
    /// the kernel choose one.
    public static func create(name: String) throws(PlatformError) -> TUNDevice {
        try validateInterfaceName(name)
        var actual = [CChar](repeating: 0, count: Int(CLinuxShim_IFNAMSIZ))
        var failedStep: Int32 = 0
        let result = actual.withUnsafeMutableBufferPointer { out in
            CLinuxShim_tun_create(name, out.baseAddress, &failedStep)
        }
        guard result >= 0 else {
            throw creationError(name: name, code: -result, step: failedStep)
        }
        return TUNDevice(name: cString(actual), fileDescriptor: result)
    }

    /// Reads one packet, blocking until there is one. Returns its length.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(PlatformError) -> Int {
        try ensureOpen(call: "read")
        switch retryingInterrupts({ Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count) }) {
        case .success(let count):
            return count
        case .failure(let code):
            throw ioError(call: "read", code: code, detail: "reading a packet from TUN device \(name)")
        }
    }

    /// Waits up to `timeoutMilliseconds` for a packet, then reads it. Returns 0
    /// on timeout, so a reader thread can notice shutdown (a TUN read never
    /// returns an empty packet).
    public func read(into buffer: UnsafeMutableRawBufferPointer, timeoutMilliseconds: Int32) throws(PlatformError) -> Int {
        try ensureOpen(call: "poll")
        var entry = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        switch retryingInterrupts({ poll(&entry, 1, timeoutMilliseconds) }) {
        case .success(0):
            return 0
        case .success:
            return try read(into: buffer)
        case .failure(let code):
            throw ioError(call: "poll", code: code, detail: "waiting for a packet on TUN device \(name)")
        }
    }

    /// Writes one raw IP packet.
    public func write(_ packet: UnsafeRawBufferPointer) throws(PlatformError) {
        try ensureOpen(call: "write")
        switch retryingInterrupts({ Glibc.write(fileDescriptor, packet.baseAddress, packet.count) }) {
        case .success:
            return
        case .failure(let code):
            throw ioError(call: "write", code: code, detail: "writing a \(packet.count)-byte packet to TUN device \(name)")
        }
    }

    /// Writes each packet with its own write(2) (a TUN device without offloads takes one per call).
    public func write(_ packets: UnsafeBufferPointer<UnsafeRawBufferPointer>) -> BatchOutcome {
        var outcome = BatchOutcome()
        for packet in packets {
            do { try write(packet) } catch { outcome.record(error) }
        }
        return outcome
    }

    /// Closes the descriptor once; a non-persistent interface disappears with it.
    public func close() {
        if closed.exchange(true, ordering: .acquiringAndReleasing) == false {
            _ = Glibc.close(fileDescriptor)
        }
    }

    private func ensureOpen(call: String) throws(PlatformError) {
        if closed.load(ordering: .acquiring) {
            throw PlatformError(
                call: call, errno: EBADF,
                message: "TUN device \(name) is already closed: create it again before using it")
        }
    }

    private func ioError(call: String, code: Int32, detail: String) -> PlatformError {
        let advice: String
        switch code {
        case EINVAL where call == "write":
            advice = "the packet is not a valid IPv4/IPv6 packet or is larger than the interface MTU"
        case EIO:
            advice = "the interface is down or was deleted: bring it up (ip link set \(name) up) or recreate it"
        case EFAULT:
            advice = "the buffer is invalid: this is a bug in the caller"
        default:
            advice = PlatformError.commonAdvice(for: code) ?? "check the interface with ip link show \(name)"
        }
        return PlatformError(call: call, errno: code, message: "\(detail) failed: \(advice)")
    }

    private static func creationError(name: String, code: Int32, step: Int32) -> PlatformError {
        let shown = name.isEmpty ? "(kernel-chosen name)" : name
        if step == CLinuxShim_TUN_STEP_OPEN {
            let message: String
            switch code {
            case ENOENT:
                message = "/dev/net/tun is missing: load the tun module (modprobe tun) or create the node (mknod /dev/net/tun c 10 200)"
            case ENODEV, ENXIO:
                message = "/dev/net/tun exists but the kernel has no TUN driver: load the tun module (modprobe tun) or enable CONFIG_TUN"
            case EPERM, EACCES:
                message = "opening /dev/net/tun for TUN device \(shown) was denied: run as root or grant CAP_NET_ADMIN (and check the device node's permissions)"
            default:
                message = "opening /dev/net/tun for TUN device \(shown) failed: " + (PlatformError.commonAdvice(for: code) ?? "check that /dev/net/tun is a character device 10:200")
            }
            return PlatformError(call: "open(/dev/net/tun)", errno: code, message: message)
        }
        let message: String
        switch code {
        case EPERM, EACCES:
            message = "creating TUN device \(shown) needs CAP_NET_ADMIN: run as root or grant the capability"
        case EBUSY:
            message = "TUN device \(shown) is already in use by another process: stop that process or choose another interface name"
        case EINVAL:
            message = "cannot create TUN device \(shown): the name is invalid or an interface of another type already has it; choose another name or delete the interface (ip link del \(shown))"
        default:
            message = "creating TUN device \(shown) failed: " + (PlatformError.commonAdvice(for: code) ?? "check dmesg for the kernel's reason")
        }
        return PlatformError(call: "ioctl(TUNSETIFF)", errno: code, message: message)
    }
}

extension TUNDevice: PacketDevice {
    /// A TUN device without offloads gives one packet per read(2).
    public var batchSize: Int { 1 }

    /// Reads one packet into slot 0, blocking until there is one.
    public func read(into batch: inout PacketBatch) throws(PlatformError) -> Int {
        let length = try read(into: batch.buffer(0))
        guard length > 0 else { return 0 }
        batch.setLength(length, at: 0)
        return 1
    }
}

/// Checks a Linux interface name: at most 15 bytes, no '/', ':' or whitespace.
func validateInterfaceName(_ name: String) throws(PlatformError) {
    let bytes = Array(name.utf8)
    let forbidden: Set<UInt8> = [UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), 0]
    guard bytes.count < Int(CLinuxShim_IFNAMSIZ), !bytes.contains(where: { forbidden.contains($0) }), name != ".", name != ".." else {
        throw PlatformError(
            call: "validate interface name", errno: EINVAL,
            message: "\"\(name)\" is not a valid interface name: use at most 15 characters without '/', ':' or spaces")
    }
}
