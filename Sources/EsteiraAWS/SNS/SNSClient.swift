import Foundation

/// SNS in its query protocol (form-encoded POST, XML answers), as STS: publishing, plus what `esteira
/// setup` and the tests need to make a topic and subscribe a queue to it.
public struct SNSClient: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    private func call(_ action: String, _ parameters: [(String, String)]) async throws -> XMLLite {
        let form = [("Action", action), ("Version", "2010-03-31")] + parameters
        // Spaces as '+', as HTML forms and Python's urlencode write them: AWS hashes the body as sent, but a
        // server that re-encodes the parsed form to check the signature (moto) only agrees on this spelling.
        // A literal "%20" in a value was encoded as "%2520", so only real spaces change.
        let body = SigV4URI.encodeQuery(form).replacingOccurrences(of: "%20", with: "+")
        let op = AWSOperation(
            service: .sns, name: action,
            headers: [
                ("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            ], body: Array(body.utf8), timeout: .seconds(30))
        return XMLLite(try await client.send(op, errorParser: .xml).body)
    }

    /// Publishes `message` (at most 256 KiB, which SNS enforces) to the topic; returns SNS's message id.
    @discardableResult
    public func publish(
        topicARN: String, message: String, subject: String? = nil,
        attributes: [(name: String, value: String)] = []
    ) async throws -> String {
        var p = [("TopicArn", topicARN), ("Message", message)]
        if let subject { p.append(("Subject", subject)) }
        for (i, a) in attributes.enumerated() {
            let prefix = "MessageAttributes.entry.\(i + 1)"
            p += [
                ("\(prefix).Name", a.name), ("\(prefix).Value.DataType", "String"),
                ("\(prefix).Value.StringValue", a.value),
            ]
        }
        let doc = try await call("Publish", p)
        guard let id = doc.first("MessageId") else { throw malformed("Publish", "no MessageId") }
        return id
    }

    /// Creates the topic, or returns the ARN of the one that exists under that name.
    public func createTopic(name: String) async throws -> String {
        let doc = try await call("CreateTopic", [("Name", name)])
        guard let arn = doc.first("TopicArn") else { throw malformed("CreateTopic", "no TopicArn") }
        return arn
    }

    /// Subscribes an endpoint (an SQS queue ARN with `protocol: "sqs"`); returns the subscription ARN.
    @discardableResult
    public func subscribe(
        topicARN: String, protocol proto: String, endpoint: String,
        attributes: [String: String] = [:]
    ) async throws -> String {
        var p = [
            ("TopicArn", topicARN), ("Protocol", proto), ("Endpoint", endpoint), ("ReturnSubscriptionArn", "true"),
        ]
        for (i, (k, v)) in attributes.sorted(by: { $0.key < $1.key }).enumerated() {
            p += [("Attributes.entry.\(i + 1).key", k), ("Attributes.entry.\(i + 1).value", v)]
        }
        let doc = try await call("Subscribe", p)
        return doc.first("SubscriptionArn") ?? ""
    }

    public func deleteTopic(topicARN: String) async throws {
        _ = try await call("DeleteTopic", [("TopicArn", topicARN)])
    }

    private func malformed(_ op: String, _ what: String) -> AWSError {
        AWSError(
            service: "sns", operation: op, code: .malformedResponse, message: what, status: 200, isTransient: false)
    }
}
