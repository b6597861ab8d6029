import CNetlink
import Glibc

/// A netlink socket subscribed to the kernel's address and route notifications (IPv4 and
/// IPv6), so a watcher learns of a new prefix as it appears instead of at its next poll.
/// It only says "something changed": the caller reads the whole picture again.
public final class RouteChangeMonitor: @unchecked Sendable {  // used by one thread
    private let fd: Int32

    // RTMGRP_* bits of <linux/rtnetlink.h> (groups 5, 7, 9 and 11 as 1 << (group - 1)).
    static let groups: UInt32 = 0x10 /* IPV4_IFADDR */ | 0x40 /* IPV4_ROUTE */ | 0x100 /* IPV6_IFADDR */ | 0x400 /* IPV6_ROUTE */

    public init() throws(PlatformError) {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard fd >= 0 else {
            let code = errno
            throw PlatformError(call: "socket(AF_NETLINK)", errno: code, message: "opening a netlink socket for address and route changes failed: "
                + (PlatformError.commonAdvice(for: code) ?? "check the kernel's netlink support"))
        }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = Self.groups
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            _ = close(fd)
            throw PlatformError(call: "bind(AF_NETLINK)", errno: code, message: "subscribing to address and route changes failed: check the kernel's netlink support")
        }
        self.fd = fd
    }

    deinit { _ = close(fd) }

    /// Waits up to `milliseconds` for a notification; true if one (or an overflow, which also
    /// means "read again") came. Drains what is queued, so a burst counts once.
    public func waitForChange(milliseconds: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var changed = false
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { changed = true; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == ENOBUFS { changed = true; continue }   // the queue overflowed: read everything again
            break
        }
        return changed
    }
}
