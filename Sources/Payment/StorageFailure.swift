/// A storage call that failed, as the platform reports it. Payment does no I/O: the files
/// behind `ChannelFiles` and `LedgerFiles` make these, with the system's words for the errno
/// already in `description` (Payment has no C library to ask).
public struct StorageFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// "OPERATION PATH", e.g. "mkdir /var/lib/warren/channels".
    public let call: String
    /// The errno the call failed with.
    public let errno: Int32
    /// What failed, why, and what to do, as a person reads it.
    public let description: String

    public init(call: String, errno: Int32, description: String) {
        self.call = call
        self.errno = errno
        self.description = description
    }
}
