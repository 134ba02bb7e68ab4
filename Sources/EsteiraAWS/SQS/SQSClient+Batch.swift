import Foundation

/// One entry of a batch call that SQS refused (the others went through).
public struct SQSBatchFailure: Sendable, Equatable {
    public var id: String
    public var code: String
    public var message: String
    /// True when the request was wrong (retrying it unchanged fails again); false for SQS's own trouble.
    public var senderFault: Bool
}

/// Which entries of a batch call succeeded and which failed; a batch call fails entry by entry.
public struct SQSBatchResult: Sendable {
    public var successful: [String]
    public var failed: [SQSBatchFailure]
    /// SendMessageBatch only: entry id → message id.
    public var messageIDs: [String: String] = [:]
}

/// A message for SendMessageBatch; `id` is unique within the batch and names it in the result.
public struct SQSBatchMessage: Sendable {
    public var id: String
    public var body: String
    public var attributes: [String: String]
    public var delaySeconds: Int?

    public init(id: String, body: String, attributes: [String: String] = [:], delaySeconds: Int? = nil) {
        self.id = id
        self.body = body
        self.attributes = attributes
        self.delaySeconds = delaySeconds
    }
}

/// A DLQ redrive task as ListMessageMoveTasks reports it.
public struct SQSMessageMoveTask: Sendable {
    /// RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED.
    public var status: String
    public var taskHandle: String?
    public var sourceARN: String
    public var destinationARN: String?
    public var messagesMoved: Int
    public var messagesToMove: Int?
    public var failureReason: String?
}

extension SQSClient {
    /// Deletes up to 10 messages by receipt handle; `entries` pairs an id of your choosing with a handle.
    public func deleteMessageBatch(queueURL: String, entries: [(id: String, receiptHandle: String)]) async throws
        -> SQSBatchResult
    {
        let r = try await call(
            "DeleteMessageBatch",
            [
                "QueueUrl": .string(queueURL),
                "Entries": .array(
                    entries.map {
                        ["Id": .string($0.id), "ReceiptHandle": .string($0.receiptHandle)]
                    }),
            ])
        return batchResult(r)
    }

    /// Changes the visibility timeout of up to 10 messages (heartbeats for several files at once).
    public func changeMessageVisibilityBatch(
        queueURL: String,
        entries: [(id: String, receiptHandle: String, timeout: Int)]
    ) async throws -> SQSBatchResult {
        let r = try await call(
            "ChangeMessageVisibilityBatch",
            [
                "QueueUrl": .string(queueURL),
                "Entries": .array(
                    entries.map {
                        [
                            "Id": .string($0.id), "ReceiptHandle": .string($0.receiptHandle),
                            "VisibilityTimeout": .number(Double($0.timeout)),
                        ]
                    }),
            ])
        return batchResult(r)
    }

    /// Sends up to 10 messages with string attributes.
    public func sendMessageBatch(queueURL: String, messages: [SQSBatchMessage]) async throws -> SQSBatchResult {
        let r = try await call(
            "SendMessageBatch",
            [
                "QueueUrl": .string(queueURL),
                "Entries": .array(
                    messages.map { m in
                        var e: [String: JSONValue] = ["Id": .string(m.id), "MessageBody": .string(m.body)]
                        if !m.attributes.isEmpty {
                            e["MessageAttributes"] = .object(
                                m.attributes.mapValues { ["DataType": "String", "StringValue": .string($0)] })
                        }
                        if let d = m.delaySeconds { e["DelaySeconds"] = .number(Double(d)) }
                        return .object(e)
                    }),
            ])
        var result = batchResult(r)
        for entry in r["Successful"]?.array ?? [] {
            if let id = entry["Id"]?.string, let messageID = entry["MessageId"]?.string {
                result.messageIDs[id] = messageID
            }
        }
        return result
    }

    private func batchResult(_ r: JSONValue) -> SQSBatchResult {
        SQSBatchResult(
            successful: (r["Successful"]?.array ?? []).compactMap { $0["Id"]?.string },
            failed: (r["Failed"]?.array ?? []).map { f in
                var sender = false
                if case .bool(let b) = f["SenderFault"] { sender = b }
                return SQSBatchFailure(
                    id: f["Id"]?.string ?? "", code: f["Code"]?.string ?? "",
                    message: f["Message"]?.string ?? "", senderFault: sender)
            })
    }

    /// The URLs of the queues whose redrive policy names this queue as their dead-letter queue.
    public func listDeadLetterSourceQueues(queueURL: String) async throws -> [String] {
        var urls: [String] = []
        var token: String?
        repeat {
            var body: [String: JSONValue] = ["QueueUrl": .string(queueURL), "MaxResults": 1000]
            if let token { body["NextToken"] = .string(token) }
            let r = try await call("ListDeadLetterSourceQueues", .object(body))
            urls += (r["queueUrls"]?.array ?? r["QueueUrls"]?.array ?? []).compactMap(\.string)
            token = r["NextToken"]?.string
        } while token != nil
        return urls
    }

    /// Starts moving a dead-letter queue's messages back (to their source queues, or to
    /// `destinationARN`). Not every server has it: moto answers HTTP 500, so use receive/send/delete
    /// there; the error then has status 500 and is transient, like any server error.
    public func startMessageMoveTask(
        sourceARN: String, destinationARN: String? = nil,
        maxMessagesPerSecond: Int? = nil
    ) async throws -> String {
        var body: [String: JSONValue] = ["SourceArn": .string(sourceARN)]
        if let destinationARN { body["DestinationArn"] = .string(destinationARN) }
        if let maxMessagesPerSecond { body["MaxNumberOfMessagesPerSecond"] = .number(Double(maxMessagesPerSecond)) }
        let r = try await call("StartMessageMoveTask", .object(body))
        guard let handle = r["TaskHandle"]?.string else { throw malformed("StartMessageMoveTask", "no TaskHandle") }
        return handle
    }

    /// The most recent move tasks (up to 10) of a dead-letter queue.
    public func listMessageMoveTasks(sourceARN: String) async throws -> [SQSMessageMoveTask] {
        let r = try await call("ListMessageMoveTasks", ["SourceArn": .string(sourceARN), "MaxResults": 10])
        return (r["Results"]?.array ?? []).map { t in
            SQSMessageMoveTask(
                status: t["Status"]?.string ?? "", taskHandle: t["TaskHandle"]?.string,
                sourceARN: t["SourceArn"]?.string ?? sourceARN, destinationARN: t["DestinationArn"]?.string,
                messagesMoved: t["ApproximateNumberOfMessagesMoved"]?.int ?? 0,
                messagesToMove: t["ApproximateNumberOfMessagesToMove"]?.int,
                failureReason: t["FailureReason"]?.string)
        }
    }
}
