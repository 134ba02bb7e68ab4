import Foundation

/// A message as received: its body, the receipt handle that deletes it, and its attributes.
public struct SQSMessage: Sendable {
    public var messageID: String
    public var receiptHandle: String
    public var body: String
    /// System attributes (ApproximateReceiveCount, SentTimestamp …).
    public var attributes: [String: String]
    /// String-typed message attributes (the reason a dead letter carries, for example).
    public var messageAttributes: [String: String]
    /// Which of several queues it was received from, set by whoever receives across them (a fair-share
    /// receive), so it is deleted or hidden on that queue; nil for a message of the one queue.
    public var source: String? = nil

    public var receiveCount: Int { attributes["ApproximateReceiveCount"].flatMap(Int.init) ?? 1 }
}

/// The SQS calls Esteira needs, in the JSON protocol (`AmazonSQS.<Operation>`).
public struct SQSClient: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    @discardableResult
    func call(_ name: String, _ body: JSONValue, timeout: Duration = .seconds(60)) async throws -> JSONValue {
        let op = AWSOperation(
            service: .sqs, name: name,
            headers: [
                ("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.\(name)"),
            ], body: body.encoded(), timeout: timeout)
        let r = try await client.send(op, errorParser: .json)
        return r.body.isEmpty ? .object([:]) : try JSONValue.decode(r.body)
    }

    /// Creates the queue, or returns the URL of the existing one with the same attributes.
    public func createQueue(name: String, attributes: [String: String] = [:]) async throws -> String {
        let r = try await call(
            "CreateQueue",
            [
                "QueueName": .string(name),
                "Attributes": .object(attributes.mapValues(JSONValue.string)),
            ])
        guard let url = r["QueueUrl"]?.string else { throw malformed("CreateQueue", "no QueueUrl") }
        return url
    }

    public func getQueueURL(name: String) async throws -> String {
        let r = try await call("GetQueueUrl", ["QueueName": .string(name)])
        guard let url = r["QueueUrl"]?.string else { throw malformed("GetQueueUrl", "no QueueUrl") }
        return url
    }

    public func getQueueAttributes(queueURL: String, names: [String] = ["All"]) async throws -> [String: String] {
        let r = try await call(
            "GetQueueAttributes",
            [
                "QueueUrl": .string(queueURL),
                "AttributeNames": .array(names.map(JSONValue.string)),
            ])
        return (r["Attributes"]?.object ?? [:]).compactMapValues { $0.string }
    }

    public func setQueueAttributes(queueURL: String, attributes: [String: String]) async throws {
        try await call(
            "SetQueueAttributes",
            [
                "QueueUrl": .string(queueURL),
                "Attributes": .object(attributes.mapValues(JSONValue.string)),
            ])
    }

    /// Long-polls for up to `maxMessages` (1…10) messages.
    public func receiveMessages(
        queueURL: String, maxMessages: Int, waitSeconds: Int = 20,
        visibilityTimeout: Int? = nil
    ) async throws -> [SQSMessage] {
        var body: [String: JSONValue] = [
            "QueueUrl": .string(queueURL),
            "MaxNumberOfMessages": .number(Double(max(1, min(10, maxMessages)))),
            "WaitTimeSeconds": .number(Double(waitSeconds)),
            "AttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        ]
        if let visibilityTimeout { body["VisibilityTimeout"] = .number(Double(visibilityTimeout)) }
        // The HTTP deadline outlives the long poll, so an empty wait is not mistaken for a dead connection.
        let r = try await call("ReceiveMessage", .object(body), timeout: .seconds(waitSeconds + 15))
        return (r["Messages"]?.array ?? []).compactMap { m in
            guard let id = m["MessageId"]?.string, let handle = m["ReceiptHandle"]?.string else { return nil }
            let attributes = (m["Attributes"]?.object ?? [:]).compactMapValues { $0.string }
            let messageAttributes = (m["MessageAttributes"]?.object ?? [:]).compactMapValues {
                $0["StringValue"]?.string
            }
            return SQSMessage(
                messageID: id, receiptHandle: handle, body: m["Body"]?.string ?? "",
                attributes: attributes, messageAttributes: messageAttributes)
        }
    }

    public func deleteMessage(queueURL: String, receiptHandle: String) async throws {
        try await call("DeleteMessage", ["QueueUrl": .string(queueURL), "ReceiptHandle": .string(receiptHandle)])
    }

    public func changeMessageVisibility(queueURL: String, receiptHandle: String, timeout: Int) async throws {
        try await call(
            "ChangeMessageVisibility",
            [
                "QueueUrl": .string(queueURL),
                "ReceiptHandle": .string(receiptHandle),
                "VisibilityTimeout": .number(Double(timeout)),
            ])
    }

    /// Sends one message with string attributes; returns its id.
    @discardableResult
    public func sendMessage(
        queueURL: String, body: String, attributes: [String: String] = [:],
        delaySeconds: Int? = nil
    ) async throws -> String {
        var req: [String: JSONValue] = ["QueueUrl": .string(queueURL), "MessageBody": .string(body)]
        if !attributes.isEmpty {
            req["MessageAttributes"] = .object(
                attributes.mapValues {
                    ["DataType": "String", "StringValue": .string($0)]
                })
        }
        if let delaySeconds { req["DelaySeconds"] = .number(Double(delaySeconds)) }
        let r = try await call("SendMessage", .object(req))
        return r["MessageId"]?.string ?? ""
    }

    public func purgeQueue(queueURL: String) async throws {
        try await call("PurgeQueue", ["QueueUrl": .string(queueURL)])
    }

    func malformed(_ op: String, _ what: String) -> AWSError {
        AWSError(
            service: "sqs", operation: op, code: .malformedResponse, message: what, status: 200, isTransient: false)
    }
}
