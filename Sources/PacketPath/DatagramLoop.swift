import Glibc
import LinuxPlatform

/// The receive thread every UDP service of the agent runs: receive a batch, hand it on,
/// forever (the threads live as long as the process). A receive error is logged (rate
/// limited) and followed by a pause, so a broken socket does not spin.
public struct DatagramLoop: Sendable {
    public let threadName: String
    public let batchCount: Int
    public let bufferSize: Int
    /// The rate-limit key and message prefix of receive errors.
    public let errorKey: String
    public let errorPrefix: String
    public let pauseAfterErrorMicroseconds: UInt32
    public let log: EventLog

    public init(threadName: String, batchCount: Int, bufferSize: Int, errorKey: String, errorPrefix: String,
                pauseAfterErrorMicroseconds: UInt32, log: EventLog) {
        self.threadName = threadName
        self.batchCount = batchCount
        self.bufferSize = bufferSize
        self.errorKey = errorKey
        self.errorPrefix = errorPrefix
        self.pauseAfterErrorMicroseconds = pauseAfterErrorMicroseconds
        self.log = log
    }

    /// Starts the thread. `body` gets the batch and how many datagrams it holds after every
    /// receive, also after a timeout or an error (count 0), so a service with a receive
    /// timeout can keep its own timers in the same thread.
    public func start(socket: any DatagramSocket,
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
