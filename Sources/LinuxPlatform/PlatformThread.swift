import CLinuxShim
import Glibc

/// The closure a new pthread runs, passed through its `void *` argument.
private final class ThreadEntry {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// Starts a joinable pthread named `name` (first 15 bytes, shown by ps and
/// top) running `body`, for blocking servers and data-plane loops. Plain
/// pthreads keep Foundation out of the binary. Join or detach the result.
public func startThread(name: String, body: @escaping @Sendable () -> Void) throws(PlatformError) -> pthread_t {
    let entry = Unmanaged.passRetained(ThreadEntry(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        let entry = Unmanaged<ThreadEntry>.fromOpaque(argument).takeRetainedValue()
        _ = CLinuxShim_set_thread_name(entry.name)
        entry.body()
        return nil
    }, entry)
    guard result == 0 else {
        Unmanaged<ThreadEntry>.fromOpaque(entry).release()
        throw PlatformError(
            call: "pthread_create", errno: result,
            message: "starting thread \(name) failed: the process is out of threads or memory (check ulimit -u and free memory)")
    }
    return thread
}
