import EsteiraAWS

/// What the worker needs from its queues: the main queue it takes files from, and the dead-letter queue.
///
/// `SQSWorkQueue` is the real one; tests use an in-memory queue (EsteiraWorkerTestSupport) that records
/// every call, so a worker's decisions can be checked without a server.
public protocol WorkQueue: Sendable {
    /// Up to `max` messages, waiting at most `wait` for the first; each is hidden for `visibilityTimeout`.
    func receive(max: Int, wait: Duration, visibilityTimeout: Duration) async throws -> [SQSMessage]
    /// Acknowledges a message: it is gone for good.
    func delete(_ message: SQSMessage) async throws
    /// Hides the message for `timeout` from now (zero: visible again at once).
    func changeVisibility(_ message: SQSMessage, to timeout: Duration) async throws
    /// Puts a new message on the main queue, visible after `delay` (one record of a split message).
    func send(body: String, delay: Duration) async throws
    /// Puts a message on the dead-letter queue with its `esteira.*` attributes.
    func sendToDeadLetter(body: String, attributes: DeadLetterAttributes) async throws
    /// The main queue's approximate counts (the `--until-idle` check).
    func depth() async throws -> QueueDepth
}

/// The approximate number of messages in a queue, by state.
public struct QueueDepth: Sendable, Equatable {
    public var waiting: Int
    /// Received and not yet deleted or made visible again.
    public var inFlight: Int
    /// Sent with a delay that has not passed.
    public var delayed: Int

    public init(waiting: Int, inFlight: Int, delayed: Int) {
        self.waiting = waiting
        self.inFlight = inFlight
        self.delayed = delayed
    }

    /// Nothing waiting and nothing hidden (a file another worker holds, or one given back for later).
    public var isEmpty: Bool { waiting == 0 && inFlight == 0 && delayed == 0 }
}
