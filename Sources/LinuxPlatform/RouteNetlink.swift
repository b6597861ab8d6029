import CNetlink
import Glibc
import Synchronization

/// Route netlink (links, addresses, routes, policy rules) through
/// libnl-route-3, never by running `ip`. One netlink socket, its calls
/// serialised by a lock so the type can be shared between threads.
public final class RouteNetlink: @unchecked Sendable {
    private let socket: OpaquePointer
    private let lock = Mutex<Void>(())

    public init() throws(PlatformError) {
        guard let socket = nl_socket_alloc() else {
            throw PlatformError(call: "nl_socket_alloc", errno: ENOMEM, message: "allocating a netlink socket failed: the system is out of memory")
        }
        let result = nl_connect(socket, NETLINK_ROUTE)
        guard result >= 0 else {
            nl_socket_free(socket)
            throw Self.failure(call: "nl_connect(NETLINK_ROUTE)", code: result, action: "opening a route netlink socket")
        }
        self.socket = socket
    }

    deinit {
        nl_socket_free(socket)
    }

    /// Runs `body` with the socket, one caller at a time (libnl sockets are not thread-safe).
    func withSocket<R>(_ body: (OpaquePointer) throws(PlatformError) -> R) throws(PlatformError) -> R {
        try lock.withLock { _ throws(PlatformError) -> R in try body(socket) }
    }

    /// The kernel's index for the interface called `name`.
    public func interfaceIndex(named name: String) throws(PlatformError) -> Int32 {
        try validateInterfaceName(name)
        return try withSocket { socket throws(PlatformError) in
            var link: OpaquePointer?
            let result = rtnl_link_get_kernel(socket, 0, name, &link)
            guard result >= 0, let link else {
                throw Self.failure(
                    call: "rtnl_link_get_kernel", code: result, action: "looking up interface \(name)",
                    notFound: "there is no interface named \(name): create it first or check the name (ip link show)")
            }
            defer { rtnl_link_put(link) }
            return rtnl_link_get_ifindex(link)
        }
    }

    /// Brings interface `index` up or down and, if given, sets its MTU.
    public func setLink(index: Int32, up: Bool, mtu: Int?) throws(PlatformError) {
        if let mtu, !(68...65535).contains(mtu) {
            throw PlatformError(
                call: "rtnl_link_set_mtu", errno: EINVAL,
                message: "MTU \(mtu) for interface index \(index) is out of range: use 68 to 65535 (1280 or more keeps IPv6 working)")
        }
        try withSocket { socket throws(PlatformError) in
            var current: OpaquePointer?
            var result = rtnl_link_get_kernel(socket, index, nil, &current)
            guard result >= 0, let current else {
                throw Self.failure(
                    call: "rtnl_link_get_kernel", code: result, action: "looking up interface index \(index)",
                    notFound: "interface index \(index) does not exist: it was deleted or never created")
            }
            defer { rtnl_link_put(current) }
            guard let change = rtnl_link_alloc() else {
                throw PlatformError(call: "rtnl_link_alloc", errno: ENOMEM, message: "changing interface index \(index) failed: out of memory")
            }
            defer { rtnl_link_put(change) }
            if up {
                rtnl_link_set_flags(change, UInt32(IFF_UP))
            } else {
                rtnl_link_unset_flags(change, UInt32(IFF_UP))
            }
            if let mtu {
                rtnl_link_set_mtu(change, UInt32(mtu))
            }
            result = rtnl_link_change(socket, current, change, 0)
            guard result >= 0 else {
                let name = Self.linkName(current, index: index)
                let what = "setting interface \(name) \(up ? "up" : "down")" + (mtu.map { " with MTU \($0)" } ?? "")
                throw Self.failure(
                    call: "rtnl_link_change", code: result, action: what,
                    invalid: "the kernel rejected the change: check that the MTU suits the device (ip -d link show \(name))")
            }
        }
    }

    static func linkName(_ link: OpaquePointer, index: Int32) -> String {
        guard let name = rtnl_link_get_name(link) else { return "index \(index)" }
        return String(cString: name)
    }

    /// Builds the error for a negative libnl return code `code`. The optional
    /// texts replace the generic advice for "not found" and "invalid".
    static func failure(
        call: String, code: Int32, action: String,
        notFound: String? = nil, invalid: String? = nil
    ) -> PlatformError {
        let nle = code < 0 ? -code : code
        let reason = nl_geterror(code).map { String(cString: $0) } ?? "libnl error \(nle)"
        let advice: String
        switch nle {
        case NLE_PERM, NLE_NOACCESS:
            advice = "this needs CAP_NET_ADMIN: run as root or grant the capability"
        case NLE_OBJ_NOTFOUND, NLE_NODEV, NLE_NOADDR:
            advice = notFound ?? "the interface or object does not exist: check it with ip link/addr/route/rule"
        case NLE_INVAL, NLE_RANGE:
            advice = invalid ?? "the kernel rejected the request as invalid: check the values"
        case NLE_AF_NOSUPPORT, NLE_OPNOTSUPP:
            advice = "the kernel does not support this (is IPv6 disabled, or a kernel feature missing?)"
        case NLE_BUSY:
            advice = "the object is busy: retry"
        case NLE_NOMEM:
            advice = "the system is out of memory"
        case NLE_EXIST:
            advice = "it already exists"
        default:
            advice = "see the kernel log (dmesg) for details"
        }
        return PlatformError(call: call, errno: systemErrno(forNetlinkError: nle), message: "\(action) failed (\(reason)): \(advice)")
    }

    /// The errno a libnl error code most likely came from (0 if none).
    static func systemErrno(forNetlinkError nle: Int32) -> Int32 {
        switch nle {
        case NLE_PERM: return EPERM
        case NLE_NOACCESS: return EACCES
        case NLE_EXIST: return EEXIST
        case NLE_OBJ_NOTFOUND: return ENOENT
        case NLE_NODEV: return ENODEV
        case NLE_NOADDR: return EADDRNOTAVAIL
        case NLE_INVAL: return EINVAL
        case NLE_RANGE: return ERANGE
        case NLE_BUSY: return EBUSY
        case NLE_NOMEM: return ENOMEM
        case NLE_AF_NOSUPPORT: return EAFNOSUPPORT
        case NLE_OPNOTSUPP: return EOPNOTSUPP
        case NLE_AGAIN: return EAGAIN
        default: return 0
        }
    }
}
