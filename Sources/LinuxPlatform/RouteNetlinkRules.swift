import CNetlink
import Glibc

extension RouteNetlink {
    /// Adds a policy routing rule "lookup `table`" in the style of wg-quick:
    /// with `fwmarkNot` it matches packets *without* that firewall mark
    /// (`ip rule add not fwmark M table T`); with `suppressPrefixLength` it
    /// ignores answers whose prefix is that short or shorter
    /// (`ip rule add table main suppress_prefixlength 0`). `family` is
    /// AF_INET or AF_INET6. Adding an identical rule again succeeds without
    /// creating a duplicate.
    public func addRule(
        family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?
    ) throws(PlatformError) {
        try changeRule(
            family: family, fwmarkNot: fwmarkNot, table: table, priority: priority,
            suppressPrefixLength: suppressPrefixLength, adding: true)
    }

    /// Removes the rule that `addRule` with the same arguments added. Removing
    /// a rule that is not there succeeds.
    public func removeRule(
        family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?
    ) throws(PlatformError) {
        try changeRule(
            family: family, fwmarkNot: fwmarkNot, table: table, priority: priority,
            suppressPrefixLength: suppressPrefixLength, adding: false)
    }

    private func changeRule(
        family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?, adding: Bool
    ) throws(PlatformError) {
        let description = Self.ruleText(family: family, fwmarkNot: fwmarkNot, table: table, priority: priority, suppressPrefixLength: suppressPrefixLength)
        let action = (adding ? "adding rule " : "removing rule ") + description
        let call = adding ? "rtnl_rule_add" : "rtnl_rule_delete"
        guard family == AF_INET || family == AF_INET6 else {
            throw PlatformError(call: call, errno: EAFNOSUPPORT, message: "\(action) failed: the family must be AF_INET or AF_INET6")
        }
        let maximumPrefix = family == AF_INET ? 32 : 128
        if let suppressPrefixLength, !(0...maximumPrefix).contains(suppressPrefixLength) {
            throw PlatformError(
                call: call, errno: EINVAL,
                message: "\(action) failed: suppress_prefixlength must be from 0 to \(maximumPrefix)")
        }
        guard let rule = rtnl_rule_alloc() else {
            throw PlatformError(call: "rtnl_rule_alloc", errno: ENOMEM, message: "\(action) failed: out of memory")
        }
        defer { rtnl_rule_put(rule) }
        rtnl_rule_set_family(rule, family)
        rtnl_rule_set_table(rule, table)
        rtnl_rule_set_action(rule, UInt8(FR_ACT_TO_TBL))
        if let priority {
            rtnl_rule_set_prio(rule, priority)
        }
        if let fwmarkNot {
            rtnl_rule_set_mark(rule, fwmarkNot)
            rtnl_rule_set_mask(rule, UInt32.max)
        }
        var message: OpaquePointer?
        let built = adding
            ? rtnl_rule_build_add_request(rule, NLM_F_EXCL, &message)
            : rtnl_rule_build_delete_request(rule, 0, &message)
        guard built >= 0, let message else {
            throw Self.failure(call: adding ? "rtnl_rule_build_add_request" : "rtnl_rule_build_delete_request", code: built, action: action)
        }
        // libnl has no setters for the invert flag or suppress_prefixlength,
        // so they are patched into the message it built.
        if fwmarkNot != nil, let header = nlmsg_data(nlmsg_hdr(message)) {
            let offset = MemoryLayout<fib_rule_hdr>.offset(of: \fib_rule_hdr.flags) ?? 8
            let flags = header.load(fromByteOffset: offset, as: UInt32.self)
            header.storeBytes(of: flags | UInt32(FIB_RULE_INVERT), toByteOffset: offset, as: UInt32.self)
        }
        if let suppressPrefixLength {
            let putResult = nla_put_u32(message, Int32(FRA_SUPPRESS_PREFIXLEN), UInt32(suppressPrefixLength))
            guard putResult >= 0 else {
                nlmsg_free(message)
                throw Self.failure(call: "nla_put_u32(FRA_SUPPRESS_PREFIXLEN)", code: putResult, action: action)
            }
        }
        try withSocket { socket throws(PlatformError) in
            // nl_send_sync sends, waits for the kernel's acknowledgement and frees the message.
            let result = nl_send_sync(socket, message)
            if result >= 0 { return }
            let nle = -result
            if adding, nle == NLE_EXIST { return }
            if !adding, nle == NLE_OBJ_NOTFOUND { return }
            throw Self.failure(
                call: call, code: result, action: action,
                invalid: "the kernel rejected the rule: check the table and priority values")
        }
    }

    /// The rule as `ip rule` would write it, for messages.
    static func ruleText(family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?) -> String {
        var words = [family == AF_INET6 ? "-6" : "-4"]
        if let priority { words.append("priority \(priority)") }
        if let fwmarkNot { words.append("not fwmark \(fwmarkNot)") }
        words.append(table == mainTable ? "table main" : "table \(table)")
        if let suppressPrefixLength { words.append("suppress_prefixlength \(suppressPrefixLength)") }
        return "\"" + words.joined(separator: " ") + "\""
    }
}
