import CNetlink
import Glibc

extension RouteNetlink {
    /// Adds a policy routing rule "lookup `table`" in the style of wg-quick:
    /// with `fwmarkNot` it matches packets *without* that firewall mark
    /// (`ip rule add not fwmark M table T`); with `suppressPrefixLength` it
    /// ignores answers whose prefix is that short or shorter
    /// (`ip rule add table main suppress_prefixlength 0`). `family` is
    /// AF_INET or AF_INET6. Adding an identical rule again succeeds without
    /// creating a duplicate and returns false: the rule was there already (and
    /// belongs to whoever put it there).
    /// `inputInterface` limits the rule to packets arriving on that interface (`iif NAME`).
    @discardableResult
    public func addRule(
        family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?, inputInterface: String? = nil, fwmark: UInt32? = nil
    ) throws(PlatformError) -> Bool {
        try changeRule(
            family: family, fwmarkNot: fwmarkNot, table: table, priority: priority,
            suppressPrefixLength: suppressPrefixLength, inputInterface: inputInterface, fwmark: fwmark, adding: true)
    }

    /// Removes the rule that `addRule` with the same arguments added. Removing
    /// a rule that is not there succeeds.
    public func removeRule(
        family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?, inputInterface: String? = nil, fwmark: UInt32? = nil
    ) throws(PlatformError) {
        _ = try changeRule(
            family: family, fwmarkNot: fwmarkNot, table: table, priority: priority,
            suppressPrefixLength: suppressPrefixLength, inputInterface: inputInterface, fwmark: fwmark, adding: false)
    }

    private func changeRule(
        family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?, inputInterface: String?, fwmark: UInt32?, adding: Bool
    ) throws(PlatformError) -> Bool {
        let description = Self.ruleText(family: family, fwmarkNot: fwmarkNot, table: table, priority: priority,
                                        suppressPrefixLength: suppressPrefixLength, inputInterface: inputInterface, fwmark: fwmark)
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
        if let inputInterface {
            try validateInterfaceName(inputInterface)
            _ = rtnl_rule_set_iif(rule, inputInterface)
        }
        // The kernel's invert flag negates the whole selector, so "not fwmark" and "iif" or a
        // positive fwmark cannot share a rule.
        guard fwmarkNot == nil || (inputInterface == nil && fwmark == nil) else {
            throw PlatformError(call: call, errno: EINVAL, message: "\(action) failed: a \"not fwmark\" rule cannot also match iif or fwmark")
        }
        if let fwmark {
            rtnl_rule_set_mark(rule, fwmark)
            rtnl_rule_set_mask(rule, UInt32.max)
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
        return try withSocket { socket throws(PlatformError) -> Bool in
            // nl_send_sync sends, waits for the kernel's acknowledgement and frees the message.
            let result = nl_send_sync(socket, message)
            if result >= 0 { return true }
            let nle = -result
            if adding, nle == NLE_EXIST { return false }
            if !adding, nle == NLE_OBJ_NOTFOUND { return false }
            throw Self.failure(
                call: call, code: result, action: action,
                invalid: "the kernel rejected the rule: check the table and priority values")
        }
    }

    /// The rule as `ip rule` would write it, for messages.
    public static func ruleText(family: Int32, fwmarkNot: UInt32?, table: UInt32, priority: UInt32?, suppressPrefixLength: Int?,
                                inputInterface: String? = nil, fwmark: UInt32? = nil) -> String {
        var words = [family == AF_INET6 ? "-6" : "-4"]
        if let priority { words.append("priority \(priority)") }
        if let inputInterface { words.append("iif \(inputInterface)") }
        if let fwmark { words.append("fwmark \(fwmark)") }
        if let fwmarkNot { words.append("not fwmark \(fwmarkNot)") }
        words.append(table == mainTable ? "table main" : "table \(table)")
        if let suppressPrefixLength { words.append("suppress_prefixlength \(suppressPrefixLength)") }
        return "\"" + words.joined(separator: " ") + "\""
    }
}

/// A policy routing rule as the kernel lists it (the parts that say who uses what).
public struct InstalledRule: Sendable, Equatable {
    public var priority: UInt32
    public var table: UInt32
    public var mark: UInt32

    public init(priority: UInt32, table: UInt32, mark: UInt32) {
        self.priority = priority
        self.table = table
        self.mark = mark
    }
}

extension RouteNetlink {
    /// Every policy routing rule of `family` (AF_INET or AF_INET6) in this network namespace.
    public func rules(family: Int32) throws(PlatformError) -> [InstalledRule] {
        try withSocket { socket throws(PlatformError) -> [InstalledRule] in
            var cache: OpaquePointer?
            let result = rtnl_rule_alloc_cache(socket, family, &cache)
            guard result >= 0, let cache else {
                throw Self.failure(call: "rtnl_rule_alloc_cache", code: result, action: "listing policy routing rules")
            }
            defer { nl_cache_free(cache) }
            var out: [InstalledRule] = []
            var object = nl_cache_get_first(cache)
            while let rule = object {
                out.append(InstalledRule(priority: rtnl_rule_get_prio(rule), table: rtnl_rule_get_table(rule), mark: rtnl_rule_get_mark(rule)))
                object = nl_cache_get_next(rule)
            }
            return out
        }
    }
}
