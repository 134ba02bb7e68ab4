import EsteiraAWS

/// The worker's queues on SQS. Built by `connect`, which resolves both queue URLs once, so the worker
/// itself never calls the network before `run`.
public struct SQSWorkQueue: WorkQueue {
    public let sqs: SQSClient
    public let queueURL: String
    public let deadLetterURL: String

    public init(sqs: SQSClient, queueURL: String, deadLetterURL: String) {
        self.sqs = sqs
        self.queueURL = queueURL
        self.deadLetterURL = deadLetterURL
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

    public func delete(_ message: SQSMessage) async throws {
        try await sqs.deleteMessage(queueURL: queueURL, receiptHandle: message.receiptHandle)
    }

    public func changeVisibility(_ message: SQSMessage, to timeout: Duration) async throws {
        try await sqs.changeMessageVisibility(
            queueURL: queueURL, receiptHandle: message.receiptHandle,
            timeout: WholeSeconds.of(timeout))
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
