import CLinuxShim
import Glibc
import Synchronization

/// The agent's UDP socket: bound to [::]:port with IPV6_V6ONLY off so one
/// socket carries IPv4 and IPv6 peers (an AF_INET socket when the host has no
/// IPv6), blocking, with batched receive for the data-plane thread.
public final class UDPSocket: DatagramSocket, @unchecked Sendable {
    /// Datagrams one recvmmsg(2) of the data plane asks for.
    public let batchSize = 32
    public let fileDescriptor: Int32
    /// AF_INET6 normally; AF_INET when IPv6 is unavailable.
    public let family: Int32
    public let localPort: UInt16
    private let closed = Atomic<Bool>(false)

    /// Binds to all addresses on `port` (0: the kernel picks a free port).
    public init(port: UInt16) throws(PlatformError) {
        var fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
        var family = AF_INET6
        if fd < 0, Glibc.errno == EAFNOSUPPORT {
            // IPv6 compiled out or disabled at boot (ipv6.disable=1).
            fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
            family = AF_INET
        }
        guard fd >= 0 else {
            let code = Glibc.errno
            throw PlatformError(
                call: "socket(SOCK_DGRAM)", errno: code,
                message: "creating the UDP socket for port \(port) failed: " + (PlatformError.commonAdvice(for: code) ?? "check that the kernel has IPv4/IPv6 support"))
        }
        do throws(PlatformError) {
            if family == AF_INET6, let code = setIntegerSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) {
                throw PlatformError(
                    call: "setsockopt(IPV6_V6ONLY)", errno: code,
                    message: "making UDP port \(port) dual-stack failed: check net.ipv6.bindv6only and IPv6 support")
            }
            try Self.bind(fd, family: family, port: port)
            self.localPort = try Self.boundPort(fd, requested: port)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        self.fileDescriptor = fd
        self.family = family
    }

    /// Binds to one address and port only (an IPv4 address as v4-mapped), e.g. a
    /// service that must answer inside a tunnel and never on the WAN. Port 0: the kernel
    /// picks a free port, read back into `localPort`.
    public init(binding address: SocketAddress) throws(PlatformError) {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
        guard fd >= 0 else {
            let code = Glibc.errno
            throw PlatformError(call: "socket(SOCK_DGRAM)", errno: code,
                                message: "creating a UDP socket for \(address) failed: " + (PlatformError.commonAdvice(for: code) ?? "check IPv6 support"))
        }
        _ = setIntegerSocketOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0)
        var storage = address.storage
        // An IPv6 address added a moment ago is "tentative" until the kernel's address work
        // has run (asynchronously, even where no DAD is done, as on a TUN device): binding to
        // it fails with EADDRNOTAVAIL for that moment. Retry for up to 3 s.
        var result: Int32 = -1
        var code: Int32 = 0
        for attempt in 0..<30 {
            result = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            code = Glibc.errno
            guard result != 0, code == EADDRNOTAVAIL, attempt < 29 else { break }
            usleep(100_000)
        }
        guard result == 0 else {
            _ = Glibc.close(fd)
            let advice: String
            switch code {
            case EADDRNOTAVAIL: advice = "the address is not on any interface yet"
            case EADDRINUSE: advice = "another program uses that port: stop it, or bind another port"
            case EACCES where address.port != 0 && address.port < 1024:
                advice = "ports below 1024 need root or CAP_NET_BIND_SERVICE: grant the capability or use a port from 1024 up"
            case EACCES, EPERM: advice = "a security module (SELinux, AppArmor) or a BPF cgroup hook refused the bind: check its log"
            default: advice = PlatformError.commonAdvice(for: code) ?? "check the address"
            }
            throw PlatformError(call: "bind", errno: code, message: "binding UDP \(address) failed: \(advice)")
        }
        do {
            localPort = try Self.boundPort(fd, requested: address.port)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        fileDescriptor = fd
        family = AF_INET6
    }

    deinit {
        close()
    }

    /// Marks every packet this socket sends (SO_MARK), so policy routing can
    /// keep the tunnel's own packets out of the tunnel.
    public func setFirewallMark(_ mark: UInt32) throws(PlatformError) {
        if let code = setIntegerSocketOption(fileDescriptor, SOL_SOCKET, SO_MARK, Int32(bitPattern: mark)) {
            let advice = code == EPERM ? "setting a firewall mark needs CAP_NET_ADMIN: run as root or grant the capability"
                : "the kernel refused the mark"
            throw PlatformError(
                call: "setsockopt(SO_MARK)", errno: code,
                message: "setting firewall mark \(mark) on UDP port \(localPort) failed: \(advice)")
        }
    }

    /// Grows the kernel's send and receive buffers to `bytes` each, past the
    /// sysctl limits when the process has CAP_NET_ADMIN (SO_*BUFFORCE): at
    /// hundreds of Mbit/s the default 208 KiB overflows between two reads and
    /// drops datagrams. Returns false if only the capped size could be set.
    @discardableResult
    public func setBufferSizes(_ bytes: Int) -> Bool {
        let value = Int32(clamping: bytes)
        var forced = true
        if setIntegerSocketOption(fileDescriptor, SOL_SOCKET, SO_RCVBUFFORCE, value) != nil {
            forced = false
            _ = setIntegerSocketOption(fileDescriptor, SOL_SOCKET, SO_RCVBUF, value)
        }
        if setIntegerSocketOption(fileDescriptor, SOL_SOCKET, SO_SNDBUFFORCE, value) != nil {
            forced = false
            _ = setIntegerSocketOption(fileDescriptor, SOL_SOCKET, SO_SNDBUF, value)
        }
        return forced
    }

    /// Makes a blocked `receive` return 0 datagrams after `milliseconds`
    /// (0: wait forever), so a reader thread can check for shutdown.
    public func setReceiveTimeout(milliseconds: Int) throws(PlatformError) {
        if let code = setSocketTimeout(fileDescriptor, option: SO_RCVTIMEO, milliseconds: milliseconds) {
            throw PlatformError(
                call: "setsockopt(SO_RCVTIMEO)", errno: code,
                message: "setting a \(milliseconds) ms receive timeout on UDP port \(localPort) failed: pass a non-negative timeout")
        }
    }

    /// Sends one datagram.
    public func send(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress) throws(PlatformError) {
        let result: SystemCallOutcome<Int>
        if family == AF_INET6 {
            var address = destination.storage
            result = retryingInterrupts {
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fileDescriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
        } else {
            guard var address = destination.ipv4SocketAddress else {
                throw PlatformError(
                    call: "sendto", errno: EAFNOSUPPORT,
                    message: "cannot send to \(destination) from UDP port \(localPort): IPv6 is unavailable on this host, use an IPv4 endpoint")
            }
            result = retryingInterrupts {
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fileDescriptor, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
        if case .failure(let code) = result {
            throw sendError(code: code, byteCount: bytes.count, destination: destination)
        }
    }

    /// Receives up to `batch.count` datagrams with one recvmmsg(2). Blocks
    /// until at least one arrives; returns 0 on a receive timeout or after
    /// `close()`.
    public func receive(into batch: inout ReceiveBatch) throws(PlatformError) -> Int {
        if closed.load(ordering: .acquiring) {
            return 0
        }
        batch.prepareForReceive()
        let vectorLength = UInt32(clamping: batch.count)
        let messages = batch.messages
        let result = retryingInterrupts {
            CLinuxShim_recvmmsg(fileDescriptor, messages, vectorLength, Int32(CLinuxShim_MSG_WAITFORONE))
        }
        switch result {
        case .success(let count):
            // A shutdown wakes the call with empty "datagrams"; drop them.
            if closed.load(ordering: .acquiring) {
                return 0
            }
            batch.received = Int(count)
            return Int(count)
        case .failure(let code) where code == EAGAIN || code == EWOULDBLOCK:
            return 0
        case .failure(let code):
            if closed.load(ordering: .acquiring) {
                return 0
            }
            throw PlatformError(
                call: "recvmmsg", errno: code,
                message: "receiving on UDP port \(localPort) failed: " + (PlatformError.commonAdvice(for: code) ?? "the socket is unusable; recreate it"))
        }
    }

    /// Sends each datagram with its own sendto(2); one that fails does not stop the others.
    public func send(_ datagrams: UnsafeBufferPointer<OutgoingDatagram>) -> BatchOutcome {
        sendEach(datagrams)
    }

    /// Stops the socket: wakes a blocked `receive` (which returns 0) and
    /// closes the descriptor. Safe to call more than once.
    public func close() {
        if closed.exchange(true, ordering: .acquiringAndReleasing) == false {
            _ = shutdown(fileDescriptor, Int32(SHUT_RDWR))
            _ = Glibc.close(fileDescriptor)
        }
    }

    private static func bind(_ fd: Int32, family: Int32, port: UInt16) throws(PlatformError) {
        let result: Int32
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_any
            result = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            result = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard result == 0 else {
            let code = Glibc.errno
            let advice: String
            switch code {
            case EADDRINUSE:
                advice = "another program (or another warren agent) already uses UDP port \(port): stop it or choose another ListenPort"
            case EACCES:
                advice = "ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a higher ListenPort or grant the capability"
            default:
                advice = PlatformError.commonAdvice(for: code) ?? "check the port number"
            }
            throw PlatformError(call: "bind", errno: code, message: "binding UDP port \(port) failed: \(advice)")
        }
    }

    private static func boundPort(_ fd: Int32, requested: UInt16) throws(PlatformError) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else {
            let code = Glibc.errno
            throw PlatformError(
                call: "getsockname", errno: code,
                message: "reading the local port of the UDP socket bound to port \(requested) failed: recreate the socket")
        }
        let address = withUnsafePointer(to: &storage) { SocketAddress(kernelAddress: UnsafeRawPointer($0), length: length) }
        return address?.port ?? requested
    }

    private func sendError(code: Int32, byteCount: Int, destination: SocketAddress) -> PlatformError {
        let advice: String
        switch code {
        case ENETUNREACH, EHOSTUNREACH:
            advice = "there is no route to \(destination): check the host's routes and default gateway"
        case EMSGSIZE:
            advice = "the datagram is larger than the path allows: lower the tunnel MTU"
        case EPERM, EACCES:
            advice = "a firewall rule rejected it: check nftables/iptables OUTPUT rules"
        case EAGAIN, ENOBUFS:
            advice = "the send queue is full: the packet was dropped, retry later"
        case EINVAL, EAFNOSUPPORT:
            advice = "the destination address is not usable from this socket"
        default:
            advice = PlatformError.commonAdvice(for: code) ?? "the socket is unusable; recreate it"
        }
        return PlatformError(
            call: "sendto", errno: code,
            message: "sending \(byteCount) bytes from UDP port \(localPort) to \(destination) failed: \(advice)")
    }
}
