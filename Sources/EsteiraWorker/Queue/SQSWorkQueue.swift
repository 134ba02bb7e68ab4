import EsteiraAWS

/// The worker's queues on SQS. Built by `connect`, which resolves both queue URLs once, so the worker
/// itself never calls the network before `run`.
///
/// Deletes and visibility changes are batched per queue object: the calls made within `deleteWindow`
/// (or `visibilityWindow`) go out as one DeleteMessageBatch (ChangeMessageVisibilityBatch) of up to ten
/// entries, and each caller still awaits its own message's outcome. Copies of one value share its batches.
public struct SQSWorkQueue: WorkQueue {
    public let sqs: SQSClient
    public let queueURL: String
    public let deadLetterURL: String
    private let deletes: SQSBatcher<String>
    private let visibility: SQSBatcher<VisibilityChange>

    /// One ChangeMessageVisibility entry: the message's receipt handle and its new timeout in seconds.
    struct VisibilityChange: Sendable {
        var receiptHandle: String
        var seconds: Int
    }

    /// How long a delete waits for others to share its request: the files of one receive end within
    /// a few milliseconds of each other.
    public static let deleteWindow: Duration = .milliseconds(5)
    /// The same for visibility changes: heartbeats fire on a shared tick (`Worker.heartbeatTick`), but each
    /// extends its DynamoDB lease first, so they reach the queue a little apart.
    public static let visibilityWindow: Duration = .milliseconds(20)

    public init(
        sqs: SQSClient, queueURL: String, deadLetterURL: String, deleteWindow: Duration = Self.deleteWindow,
        visibilityWindow: Duration = Self.visibilityWindow
    ) {
        self.sqs = sqs
        self.queueURL = queueURL
        self.deadLetterURL = deadLetterURL
        deletes = SQSBatcher(window: deleteWindow) { handles in
            let result = try await sqs.deleteMessageBatch(
                queueURL: queueURL,
                entries: handles.enumerated().map { (id: String($0.offset), receiptHandle: $0.element) })
            return result.refusals(operation: "DeleteMessageBatch", count: handles.count)
        }
        visibility = SQSBatcher(window: visibilityWindow) { changes in
            let result = try await sqs.changeMessageVisibilityBatch(
                queueURL: queueURL,
                entries: changes.enumerated().map {
                    (id: String($0.offset), receiptHandle: $0.element.receiptHandle, timeout: $0.element.seconds)
                })
            return result.refusals(operation: "ChangeMessageVisibilityBatch", count: changes.count)
        }
    }

    /// Looks up both queues by name; fails with `queueDoesNotExist` when `esteira setup` was not run.
    public static func connect(sqs: SQSClient, queueName: String, deadLetterQueueName: String) async throws
        -> SQSWorkQueue
    {
        SQSWorkQueue(
            sqs: sqs, queueURL: try await sqs.getQueueURL(name: queueName),
            deadLetterURL: try await sqs.getQueueURL(name: deadLetterQueueName))
    }

    public func receive(max: Int, wait: Duration, visibilityTimeout: Duration) async throws -> [SQSMessage] {
        try await sqs.receiveMessages(
            queueURL: queueURL, maxMessages: max, waitSeconds: WholeSeconds.of(wait),
            visibilityTimeout: WholeSeconds.of(visibilityTimeout))
    }

    /// Deletes the message in the next DeleteMessageBatch of this queue; throws when its entry was refused.
    public func delete(_ message: SQSMessage) async throws {
        try await deletes.submit(message.receiptHandle)
    }

    /// Changes the message's visibility in the next ChangeMessageVisibilityBatch of this queue.
    public func changeVisibility(_ message: SQSMessage, to timeout: Duration) async throws {
        try await visibility.submit(
            VisibilityChange(receiptHandle: message.receiptHandle, seconds: WholeSeconds.of(timeout)))
    }

    public func send(body: String, delay: Duration) async throws {
        try await sqs.sendMessage(queueURL: queueURL, body: body, delaySeconds: WholeSeconds.of(delay))
    }

    public func sendToDeadLetter(body: String, attributes: DeadLetterAttributes) async throws {
        // Made sendable here, the one place a dead letter is written: SQS refuses some characters and sizes.
        let (body, values) = DeadLetterAttributes.sendable(body: body, attributes: attributes.values)
        try await sqs.sendMessage(queueURL: deadLetterURL, body: body, attributes: values)
    }

    public func depth() async throws -> QueueDepth {
        let a = try await sqs.getQueueAttributes(
            queueURL: queueURL,
            names: [
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ])
        // A count SQS leaves out is none; one it garbles is not zero (the queue is not known to be empty).
        func count(_ name: String) -> Int { a[name].map { Int($0) ?? 1 } ?? 0 }
        return QueueDepth(
            waiting: count("ApproximateNumberOfMessages"),
            inFlight: count("ApproximateNumberOfMessagesNotVisible"),
            delayed: count("ApproximateNumberOfMessagesDelayed"))
    }
}

/// SQS counts time in whole seconds: a duration is rounded up, so a timeout is never shorter than asked.
enum WholeSeconds {
    static func of(_ d: Duration) -> Int {
        let (s, atto) = d.components
        guard s >= 0 else { return 0 }
        let whole = atto > 0 ? s + 1 : s
        return Int(clamping: whole)
    }

    /// A duration as fractional seconds (logs and messages).
    static func fractional(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
