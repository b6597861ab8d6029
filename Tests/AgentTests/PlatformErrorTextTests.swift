import Payment
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
        #expect(error.description.hasPrefix("adding 10.0.0.1/24 failed: permission denied: run as root"))
        #expect(!error.description.contains("rtnl_addr_add") && !error.description.contains("errno"))
        let other = PlatformError(call: "bind", errno: EADDRINUSE, message: "binding UDP port 51820 failed: stop the other program")
        #expect(other.description == "binding UDP port 51820 failed: stop the other program (address already in use)")
        #expect(!other.description.contains("bind:"))
        #expect(!other.description.contains("errno"))
        #expect(PlatformError(call: "getaddrinfo", errno: 0, message: "x has no address").description == "x has no address")
    }

    @Test func storageErrorsOfChannelsAndLedgerReadAsSentences() {
        let store = ChannelStoreError.storage(StorageFailure(call: "mkdir /var/lib/warren/channels", errno: EACCES,
            description: StorageFailureText.text(call: "mkdir /var/lib/warren/channels", errno: EACCES)))
        #expect("\(store)" == "cannot create the directory /var/lib/warren/channels: permission denied "
            + "(run as root: the state and ledger directories are 0700)")
        let ledger = LedgerError.storage(StorageFailure(call: "flock /x/ledger.lock", errno: ENOENT,
            description: StorageFailureText.text(call: "flock /x/ledger.lock", errno: ENOENT)))
        #expect("\(ledger)" == "cannot lock /x/ledger.lock: no such file or directory (check the path)")
        #expect("\(LedgerError.insufficientBalance(available: 5 * 10_000_000_000_000_000, needed: 1_000_000_000_000_000_000))"
            == "the balance is 0.05 tokens; 1 token needed")
        #expect(!"\(store)".contains("errno") && !"\(store)".contains("storage("))
    }
}
