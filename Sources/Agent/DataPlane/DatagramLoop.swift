import Glibc
import LinuxPlatform

/// The receive thread every UDP service of the agent runs: receive a batch, hand it on,
/// forever (the threads live as long as the process). A receive error is logged (rate
/// limited) and followed by a pause, so a broken socket does not spin.
struct DatagramLoop {
    let threadName: String
    let batchCount: Int
    let bufferSize: Int
    /// The rate-limit key and message prefix of receive errors.
    let errorKey: String
    let errorPrefix: String
    let pauseAfterErrorMicroseconds: UInt32
    let log: EventLog

    /// Starts the thread. `body` gets the batch and how many datagrams it holds after every
    /// receive, also after a timeout or an error (count 0), so a service with a receive
    /// timeout can keep its own timers in the same thread.
    func start(socket: any DatagramSocket,
               body: @escaping @Sendable (borrowing ReceiveBatch, Int) -> Void) throws(PlatformError) {
        pthread_detach(try startThread(name: threadName) { [self] in run(socket: socket, body: body) })
    }

    private func run(socket: any DatagramSocket, body: (borrowing ReceiveBatch, Int) -> Void) {
        var batch = ReceiveBatch(count: batchCount, bufferSize: bufferSize, headroom: 0)
        while true {
            var count = 0
            do { count = try socket.receive(into: &batch) } catch {
                log.limited(errorKey, errorPrefix + "\(error)")
                usleep(pauseAfterErrorMicroseconds)
            }
            body(batch, count)
        }
    }
}
