import CNetlink
import Glibc

extension RouteNetlink {
    /// The main routing table (RT_TABLE_MAIN).
    public static let mainTable: UInt32 = 254

    /// Adds a device route for `cidr` through interface `interfaceIndex` in
    /// `table` (link scope for IPv4, like `ip route add CIDR dev NAME`).
    /// Adding a route that already exists succeeds.
    public func addRoute(_ cidr: String, interfaceIndex: Int32, table: UInt32 = RouteNetlink.mainTable) throws(PlatformError) {
        try changeRoute(cidr, interfaceIndex: interfaceIndex, table: table, adding: true)
    }

    /// Removes the device route for `cidr` on interface `interfaceIndex` from
    /// `table`. Removing a route that is not there succeeds.
    public func removeRoute(_ cidr: String, interfaceIndex: Int32, table: UInt32 = RouteNetlink.mainTable) throws(PlatformError) {
        try changeRoute(cidr, interfaceIndex: interfaceIndex, table: table, adding: false)
    }

    private func changeRoute(_ cidr: String, interfaceIndex: Int32, table: UInt32, adding: Bool) throws(PlatformError) {
        let prefix = try NetworkPrefix(parsing: cidr, purpose: "route destination")
        guard prefix.hasOnlyNetworkBits else {
            throw PlatformError(
                call: "parse route destination", errno: EINVAL,
                message: "route destination \(cidr) has bits set after the prefix length: write it as \(prefix.networkText)")
        }
        let call = adding ? "rtnl_route_add" : "rtnl_route_delete"
        let action = (adding ? "adding route " : "removing route ") + "\(cidr) dev index \(interfaceIndex) table \(table)"
        let destination = try prefix.makeNetlinkAddress(call: call)
        defer { nl_addr_put(destination) }
        guard let route = rtnl_route_alloc() else {
            throw PlatformError(call: "rtnl_route_alloc", errno: ENOMEM, message: "\(action) failed: out of memory")
        }
        defer { rtnl_route_put(route) }
        _ = rtnl_route_set_family(route, UInt8(prefix.family))
        let setResult = rtnl_route_set_dst(route, destination)
        guard setResult >= 0 else {
            throw Self.failure(call: "rtnl_route_set_dst", code: setResult, action: action)
        }
        rtnl_route_set_table(route, table)
        rtnl_route_set_type(route, UInt8(RTN_UNICAST))
        // `ip` picks link scope for a gatewayless IPv4 route; IPv6 routes are universe.
        rtnl_route_set_scope(route, UInt8(prefix.family == AF_INET ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue))
        rtnl_route_set_protocol(route, UInt8(RTPROT_BOOT))
        guard let hop = rtnl_route_nh_alloc() else {
            throw PlatformError(call: "rtnl_route_nh_alloc", errno: ENOMEM, message: "\(action) failed: out of memory")
        }
        rtnl_route_nh_set_ifindex(hop, interfaceIndex)
        // The route owns the next hop from here and frees it with itself.
        rtnl_route_add_nexthop(route, hop)
        try withSocket { socket throws(PlatformError) in
            let result = adding ? rtnl_route_add(socket, route, NLM_F_EXCL) : rtnl_route_delete(socket, route, 0)
            if result >= 0 { return }
            let nle = -result
            if adding, nle == NLE_EXIST { return }
            if !adding, nle == NLE_OBJ_NOTFOUND { return }
            throw Self.failure(
                call: call, code: result, action: action,
                notFound: "interface index \(interfaceIndex) does not exist: it was deleted or never created",
                invalid: "the kernel rejected the route: is the interface up, and does it have an address of that family?")
        }
    }
}
