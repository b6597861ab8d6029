import Glibc

/// A POSIX semaphore: one thread blocks in `wait` until another `signal`s. Used where a thread
/// must sleep until an event from any other thread, without a busy poll or a signal to itself.
public final class Semaphore: @unchecked Sendable {  // sem_t is made for concurrent use
    private let semaphore: UnsafeMutablePointer<sem_t>

    public init() {
        semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        // Fails only for a value above SEM_VALUE_MAX or pshared without support; 0, private is neither.
        _ = sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    public func signal() {
        // Fails only on overflow (SEM_VALUE_MAX posts nobody waited for): the waiter wakes anyway.
        _ = sem_post(semaphore)
    }

    /// Blocks until signalled, however many interrupting signals arrive meanwhile.
    public func wait() {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }
}
