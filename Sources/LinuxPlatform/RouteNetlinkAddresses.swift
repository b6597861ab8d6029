import CNetlink
import Glibc

extension RouteNetlink {
    /// Adds an address such as "10.0.0.1/24" or "fd00::1/64" to interface
    /// `interfaceIndex`. Adding an address that is already there succeeds.
    public func addAddress(_ cidr: String, interfaceIndex: Int32) throws(PlatformError) {
        try changeAddress(cidr, interfaceIndex: interfaceIndex, adding: true)
    }

    /// Removes an address from interface `interfaceIndex`. Removing an address
    /// that is not there succeeds, so cleanup can be repeated.
    public func removeAddress(_ cidr: String, interfaceIndex: Int32) throws(PlatformError) {
        try changeAddress(cidr, interfaceIndex: interfaceIndex, adding: false)
    }

    private func changeAddress(_ cidr: String, interfaceIndex: Int32, adding: Bool) throws(PlatformError) {
        let prefix = try NetworkPrefix(parsing: cidr, purpose: "interface address")
        let call = adding ? "rtnl_addr_add" : "rtnl_addr_delete"
        let action = adding ? "adding address \(cidr) to interface index \(interfaceIndex)"
            : "removing address \(cidr) from interface index \(interfaceIndex)"
        let local = try prefix.makeNetlinkAddress(call: call)
        defer { nl_addr_put(local) }
        guard let address = rtnl_addr_alloc() else {
            throw PlatformError(call: "rtnl_addr_alloc", errno: ENOMEM, message: "\(action) failed: out of memory")
        }
        defer { rtnl_addr_put(address) }
        rtnl_addr_set_ifindex(address, interfaceIndex)
        let setResult = rtnl_addr_set_local(address, local)
        guard setResult >= 0 else {
            throw Self.failure(call: "rtnl_addr_set_local", code: setResult, action: action)
        }
        rtnl_addr_set_prefixlen(address, Int32(prefix.length))
        try withSocket { socket throws(PlatformError) in
            let result = adding ? rtnl_addr_add(socket, address, 0) : rtnl_addr_delete(socket, address, 0)
            if result >= 0 { return }
            let nle = -result
            if adding, nle == NLE_EXIST { return }
            if !adding, nle == NLE_NOADDR || nle == NLE_OBJ_NOTFOUND { return }
            throw Self.failure(
                call: call, code: result, action: action,
                notFound: "interface index \(interfaceIndex) does not exist: it was deleted or never created",
                invalid: "the kernel rejected the address: check the prefix length and that the interface supports \(prefix.family == AF_INET6 ? "IPv6 (is it disabled, or the MTU below 1280?)" : "IPv4")")
        }
    }
}
