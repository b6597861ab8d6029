import Testing
@testable import LinuxPlatform

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// System errors as a router owner reads them: what failed, what to do, no call names or errno numbers.

@Suite struct PlatformErrorTextTests {
    @Test func aSystemErrorReadsAsWordsWithoutCallNameOrErrnoNumber() {
        let error = PlatformError(call: "rtnl_addr_add", errno: EPERM,
                                  message: "adding 10.0.0.1/24 failed: " + (PlatformError.commonAdvice(for: EPERM) ?? ""))
        #expect(error.description == "adding 10.0.0.1/24 failed: operation not permitted: run as root or grant CAP_NET_ADMIN")
        let other = PlatformError(call: "bind", errno: EADDRINUSE, message: "binding UDP port 51820 failed: stop the other program")
        #expect(other.description == "binding UDP port 51820 failed: stop the other program (address already in use)")
        #expect(!other.description.contains("bind:"))
        #expect(!other.description.contains("errno"))
        #expect(PlatformError(call: "getaddrinfo", errno: 0, message: "x has no address").description == "x has no address")
    }
}
