import Glibc

/// A system call's result, or the errno it failed with.
enum SystemCallOutcome<T> {
    case success(T)
    case failure(Int32)
}

/// Runs a system call that returns -1 and sets errno on failure, repeating it
/// while it is interrupted by a signal.
@inline(__always)
func retryingInterrupts<T: BinaryInteger>(_ call: () -> T) -> SystemCallOutcome<T> {
    while true {
        let result = call()
        if result >= 0 {
            return .success(result)
        }
        let code = Glibc.errno
        if code != EINTR {
            return .failure(code)
        }
    }
}

/// Sets an integer socket option; returns errno on failure.
func setIntegerSocketOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32) -> Int32? {
    var value = value
    let result = setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
    return result == 0 ? nil : Glibc.errno
}

/// Sets SO_RCVTIMEO or SO_SNDTIMEO; 0 milliseconds means "block forever".
func setSocketTimeout(_ fd: Int32, option: Int32, milliseconds: Int) -> Int32? {
    let clamped = max(0, milliseconds)
    var interval = timeval()
    interval.tv_sec = time_t(clamped / 1000)
    interval.tv_usec = suseconds_t((clamped % 1000) * 1000)
    let result = setsockopt(fd, SOL_SOCKET, option, &interval, socklen_t(MemoryLayout<timeval>.size))
    return result == 0 ? nil : Glibc.errno
}

/// Decodes a NUL-terminated C character buffer without trusting the terminator.
func cString(_ characters: [CChar]) -> String {
    let bytes = characters.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
