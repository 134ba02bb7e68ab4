import Foundation
import Testing

@testable import EsteiraAWS

@Suite("AWS configuration from the environment")
struct AWSConfigTests {
    static let base = ["AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"]

    @Test("defaults are AWS's own endpoints, virtual-hosted S3")
    func defaults() throws {
        let c = try AWSConfig.fromEnvironment(Self.base)
        #expect(c.region == "eu-west-1")
        #expect(c.endpoint(for: .sqs).baseURL == "https://sqs.eu-west-1.amazonaws.com")
        #expect(c.endpoint(for: .dynamodb).isCustom == false)
        #expect(c.retry.maxAttempts == 3)
    }

    @Test("AWS_ENDPOINT_URL_<SERVICE> wins over AWS_ENDPOINT_URL")
    func endpoints() throws {
        var env = Self.base
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:4566"
        env["AWS_ENDPOINT_URL_DYNAMODB"] = "http://localhost:8000"
        let c = try AWSConfig.fromEnvironment(env)
        #expect(c.endpoint(for: .s3).hostHeader == "127.0.0.1:4566")
        #expect(c.endpoint(for: .dynamodb).baseURL == "http://localhost:8000")
    }

    @Test(
        "missing or bad settings say what to set",
        arguments: [
            (["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"], "AWS_REGION"),
            (["AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"], "AWS_ACCESS_KEY_ID"),
            (["AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a"], "AWS_SECRET_ACCESS_KEY is not"),
            (
                [
                    "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
                    "AWS_ENDPOINT_URL": "ftp://x",
                ], "not an http(s) URL"
            ),
            (
                [
                    "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
                    "AWS_MAX_ATTEMPTS": "zero",
                ], "AWS_MAX_ATTEMPTS"
            ),
        ])
    func errors(env: [String: String], mentions: String) {
        #expect {
            _ = try AWSConfig.fromEnvironment(env)
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }

    @Test("the Host header keeps a non-default port and drops a default one")
    func hostHeader() throws {
        #expect(try AWSEndpoint(url: "http://127.0.0.1:14566").hostHeader == "127.0.0.1:14566")
        #expect(try AWSEndpoint(url: "https://example.com:443").hostHeader == "example.com")
    }
}

@Suite("Request building and error parsing")
struct RequestAndErrorTests {
    static func client(_ env: [String: String]) throws -> AWSClient {
        AWSClient(config: try AWSConfig.fromEnvironment(env))
    }

    @Test("S3 keys are sent path-style to a local endpoint, encoded exactly as signed")
    func s3PathStyle() async throws {
        let c = try Self.client(AWSConfigTests.base.merging(["AWS_ENDPOINT_URL": "http://127.0.0.1:9"]) { $1 })
        let op = AWSOperation(service: .s3, name: "GetObject", method: "GET", path: "/bkt/a b+c%=ç.csv")
        let r = try await c.signedRequest(op, date: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(r.url == "http://127.0.0.1:9/bkt/a%20b%2Bc%25%3D%C3%A7.csv")
        let auth = try #require(r.headers.first { $0.0.lowercased() == "authorization" }?.1)
        #expect(auth.hasPrefix("AWS4-HMAC-SHA256 Credential=AKID/20231114/eu-west-1/s3/aws4_request"))
        #expect(auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"))
        #expect(!r.headers.contains { $0.0.lowercased() == "host" }, "curl sends Host from the URL")
    }

    @Test("S3 on AWS is virtual-hosted")
    func s3VirtualHosted() async throws {
        let s3 = S3Client(client: try Self.client(AWSConfigTests.base))
        #expect(s3.client.config.endpoint(for: .s3).isCustom == false)
    }

    @Test("JSON protocol errors keep the code after '#', XML errors their Code")
    func parseErrors() {
        let json = ErrorParser.json.parse(
            HTTPResponseHead(status: 400, headers: [("x-amzn-requestid", "r1")]),
            body: Array(
                #"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#
                    .utf8),
            service: "dynamodb", operation: "PutItem")
        #expect(json.code == .conditionalCheckFailed)
        #expect(json.requestID == "r1")
        #expect(json.isTransient == false)
        let xml = ErrorParser.xml.parse(
            HTTPResponseHead(status: 503, headers: []),
            body: Array("<Error><Code>SlowDown</Code><Message>Reduce &amp; retry</Message></Error>".utf8),
            service: "s3", operation: "PutObject")
        #expect(xml.code == .slowDown)
        #expect(xml.message == "Reduce & retry")
        #expect(xml.isTransient)
        #expect(xml.isThrottling)
        // moto answers auth failures of JSON services in XML.
        let auth = ErrorParser.json.parse(
            HTTPResponseHead(status: 403, headers: []),
            body: Array(
                "<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></Errors></ErrorResponse>"
                    .utf8),
            service: "sqs", operation: "GetQueueUrl")
        #expect(auth.code == .signatureDoesNotMatch)
        let empty = ErrorParser.xml.parse(
            HTTPResponseHead(status: 404, headers: []), body: [], service: "s3", operation: "HeadObject")
        #expect(empty.code == .notFound)
        #expect(empty.description.contains("HTTP 404"))
    }

    @Test("SQS's legacy query code for a missing queue reads as QueueDoesNotExist, whichever protocol names it")
    func legacyQueueCode() {
        let legacy = ErrorParser.json.parse(
            HTTPResponseHead(
                status: 400, headers: [("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")]),
            body: Array(#"{"message":"The specified queue does not exist."}"#.utf8), service: "sqs",
            operation: "GetQueueUrl")
        #expect(legacy.code == .queueDoesNotExist)
        let json = ErrorParser.json.parse(
            HTTPResponseHead(status: 400, headers: []),
            body: Array(#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no"}"#.utf8),
            service: "sqs", operation: "GetQueueUrl")
        #expect(json.code == .queueDoesNotExist)
        #expect(AWSError.Code(rawValue: "SomethingNew").rawValue == "SomethingNew")
    }

    @Test(
        "classification follows the SDKs' standard retry mode",
        arguments: [
            ("ThrottlingException", 400, true), ("InternalError", 500, true), ("Whatever", 502, true),
            ("Transport", 0, true), ("AccessDenied", 403, false), ("NoSuchKey", 404, false),
            ("ValidationException", 400, false), ("TooManyRequestsException", 429, true),
        ])
    func classification(code: String, status: Int, transient: Bool) {
        #expect(AWSError.isTransient(code: AWSError.Code(rawValue: code), status: status) == transient)
    }

    @Test("backoff is full jitter under a growing, capped ceiling")
    func backoff() {
        let p = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(p.backoff(afterAttempt: 1, random: 1) == .milliseconds(100))
        #expect(p.backoff(afterAttempt: 3, random: 1) == .milliseconds(400))
        #expect(p.backoff(afterAttempt: 10, random: 1) == .seconds(1))
        #expect(p.backoff(afterAttempt: 3, random: 0) == .zero)
    }

    @Test("XMLLite reads repeated elements and nested blocks")
    func xml() {
        let doc = XMLLite("<R><Queue>a</Queue><Q><Queue>b&lt;</Queue></Q></R>")
        #expect(doc.all("Queue") == ["a", "b<"])
        #expect(doc.blocks("Q").first?.first("Queue") == "b<")
    }

    @Test("DynamoDB values round-trip through their JSON shape")
    func dynamoValues() {
        let v: DynamoValue = .m(["a": .s("x"), "b": .n("3"), "c": .l([.bool(true), .null]), "d": .ss(["p"])])
        #expect(DynamoValue(json: v.json) == v)
    }
}

@Suite("Bucket notification merge")
struct NotificationMergeTests {
    let ours = S3QueueNotification(id: "esteira-q", queueARN: "arn:aws:sqs:us-east-1:1:q")

    @Test("other targets are kept byte for byte, ours replaced by id")
    func keepsOthers() {
        let existing = """
            <?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\
            <TopicConfiguration><Id>t</Id><Topic>arn:aws:sns:x</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>\
            <QueueConfiguration><Id>esteira-q</Id><Queue>arn:old</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>\
            <QueueConfiguration><Id>other</Id><Queue>arn:aws:sqs:other</Queue><Event>s3:ObjectCreated:Put</Event></QueueConfiguration>\
            </NotificationConfiguration>
            """
        let merged = NotificationConfigurationXML.merging(ours, into: existing)
        #expect(merged.contains("<TopicConfiguration><Id>t</Id><Topic>arn:aws:sns:x</Topic>"))
        #expect(merged.contains("<Id>other</Id><Queue>arn:aws:sqs:other</Queue>"))
        #expect(!merged.contains("arn:old"))
        #expect(XMLLite(merged).all("Queue") == ["arn:aws:sqs:other", "arn:aws:sqs:us-east-1:1:q"])
    }

    @Test("an older rule to the same queue under another id is replaced, so events are not doubled")
    func sameQueueOtherID() {
        let existing =
            "<NotificationConfiguration><QueueConfiguration><Id>esteira</Id><Queue>arn:aws:sqs:us-east-1:1:q</Queue>"
            + "<Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"
        let merged = NotificationConfigurationXML.merging(ours, into: existing)
        #expect(XMLLite(merged).all("Queue") == ["arn:aws:sqs:us-east-1:1:q"])
        #expect(XMLLite(merged).all("Id") == ["esteira-q"])
    }

    @Test("fair share: per-tenant prefixes replace the catch-all to the main queue; foreign targets stay")
    func perTenant() {
        let existing =
            "<NotificationConfiguration><QueueConfiguration><Id>esteira-q</Id><Queue>arn:aws:sqs:us-east-1:1:q</Queue>"
            + "<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
            + "<QueueConfiguration><Id>esteira-q-initech</Id><Queue>arn:aws:sqs:us-east-1:1:q-initech</Queue>"
            + "<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
            + "<QueueConfiguration><Id>other</Id><Queue>arn:aws:sqs:other</Queue><Event>s3:ObjectRemoved:*</Event>"
            + "</QueueConfiguration></NotificationConfiguration>"
        let tenants = ["acme", "globex"].map {
            S3QueueNotification(
                id: "esteira-q-\($0)", queueARN: "arn:aws:sqs:us-east-1:1:q-\($0)", prefix: "\($0)/data/")
        }
        let merged = NotificationConfigurationXML.merging(
            tenants, into: existing, droppingIDPrefix: "esteira-q-", droppingQueues: ["arn:aws:sqs:us-east-1:1:q"])
        let doc = XMLLite(merged)
        // The catch-all and a tenant no longer in the routes are gone; the foreign target is kept.
        #expect(doc.all("Id") == ["other", "esteira-q-acme", "esteira-q-globex"])
        #expect(doc.all("Value") == ["acme/data/", "globex/data/"])
        // Run again: the same configuration, not doubled.
        let again = NotificationConfigurationXML.merging(
            tenants, into: merged, droppingIDPrefix: "esteira-q-", droppingQueues: ["arn:aws:sqs:us-east-1:1:q"])
        #expect(XMLLite(again).all("Id") == doc.all("Id"))
    }

    @Test(
        "an empty or self-closed configuration gets ours alone",
        arguments: [
            "", "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>",
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></NotificationConfiguration>",
        ])
    func empty(existing: String) {
        let merged = NotificationConfigurationXML.merging(ours, into: existing)
        #expect(XMLLite(merged).all("Queue") == ["arn:aws:sqs:us-east-1:1:q"])
        #expect(merged.hasPrefix("<NotificationConfiguration xmlns="))
    }
}
