import EsteiraSync
import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

/// Answers a scripted fault for each of the first requests, then passes everything to moto.
func faultProxy(_ faults: [LoopbackHTTPServer.Reply]) throws -> LoopbackHTTPServer {
    let moto = try LocalStack.motoPort()
    let remaining = Locked(faults)
    return try LoopbackHTTPServer { _ in
        remaining.withLock { f in f.isEmpty ? .forward(port: moto) : f.removeFirst() }
    }
}

let slowDown = LoopbackHTTPServer.Reply.xml(
    503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
let serverError = LoopbackHTTPServer.Reply.xml(500, "<Error><Code>InternalError</Code><Message>boom</Message></Error>")

@Suite("Standard retry mode through a fault-injecting proxy")
struct RetryTests {
    @Test("503 SlowDown and 500 are retried, and the call succeeds")
    func serverErrors() async throws {
        let bucket = LocalStack.uniqueName("retry")
        try await S3Client(client: try LocalStack.client()).createBucket(bucket)
        let proxy = try faultProxy([slowDown, serverError])
        defer { proxy.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let info = try await s3.putObject(bucket: bucket, key: "a.csv", body: Array("x\n".utf8))
        #expect(info.eTag != nil)
        #expect(proxy.requests.count == 3)
    }

    @Test("a throttling error of a JSON service is retried")
    func throttling() async throws {
        let proxy = try faultProxy([
            .json(400, #"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#)
        ])
        defer { proxy.stop() }
        let dynamo = DynamoDBClient(client: try LocalStack.client(endpoint: proxy.url))
        #expect(try await dynamo.describeTable(name: LocalStack.uniqueName("none")) == nil)
        #expect(proxy.requests.count == 2)
    }

    @Test("Retry-After is honoured")
    func retryAfter() async throws {
        let proxy = try faultProxy([
            .json(
                429, #"{"__type":"TooManyRequestsException","message":"wait"}"#,
                headers: [("retry-after", "1")])
        ])
        defer { proxy.stop() }
        let sqs = SQSClient(client: try LocalStack.client(endpoint: proxy.url))
        let start = Date()
        _ = try await sqs.createQueue(name: LocalStack.uniqueName("retry-after"))
        #expect(Date().timeIntervalSince(start) >= 1)
        #expect(proxy.requests.count == 2)
    }

    @Test("a connection dropped mid-answer is retried")
    func droppedConnection() async throws {
        let moto = try LocalStack.motoPort()
        let proxy = try faultProxy([.forward(port: moto, cutAfter: 40)])
        defer { proxy.stop() }
        let sqs = SQSClient(client: try LocalStack.client(endpoint: proxy.url))
        let url = try await sqs.createQueue(name: LocalStack.uniqueName("dropped"))
        #expect(url.contains("dropped"))
        #expect(proxy.requests.count == 2)
    }

    @Test("after the last attempt the error says how many were made")
    func exhausted() async throws {
        let proxy = try LoopbackHTTPServer { _ in serverError }
        defer { proxy.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: proxy.url, maxAttempts: 3))
        let error = await #expect(throws: AWSError.self) { try await s3.headObject(bucket: "b", key: "k") }
        #expect(error?.attempts == 3)
        #expect(error?.description.contains("after 3 attempts") == true)
        #expect(error?.isTransient == true)
        #expect(proxy.requests.count == 3)
    }

    @Test("once the retry quota is spent, calls are not retried until successes refill it")
    func retryQuota() async throws {
        let failing = Locked(true)
        let proxy = try LoopbackHTTPServer { _ in
            failing.withLock { $0 } ? serverError : .xml(200, "<ok/>")
        }
        defer { proxy.stop() }
        var config = try LocalStack.client(endpoint: proxy.url).config
        config.retry.retryQuota = 10
        config.retry.baseDelay = .milliseconds(1)
        let client = AWSClient(config: config, logger: LocalStack.quietLogger)
        let s3 = S3Client(client: client)
        _ = try? await s3.headObject(bucket: "b", key: "k")  // 3 attempts, 2 retries: quota 10 → 0
        #expect(proxy.requests.count == 3)
        let error = await #expect(throws: AWSError.self) { try await s3.headObject(bucket: "b", key: "k") }
        #expect(proxy.requests.count == 4, "no retry without quota")
        #expect(error?.retryNote?.contains("retry quota") == true)
        failing.withLock { $0 = false }
        _ = try await s3.headObject(bucket: "b", key: "k")
        #expect(client.retryQuota.available == 1, "a success without retries adds one token")
    }

    @Test(
        "RequestTimeTooSkewed (or a bare 403 to a HEAD): the clock is corrected from the server's Date and the call retried",
        arguments: ["GET", "HEAD"])
    func clockSkew(method: String) async throws {
        let serverClock = Date().addingTimeInterval(3600)
        let proxy = try LoopbackHTTPServer { r in
            let amzDate = r.header("x-amz-date") ?? ""
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
            let signed = f.date(from: amzDate) ?? .distantPast
            if abs(signed.timeIntervalSince(serverClock)) > 300 {
                return .xml(
                    403,
                    "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>",
                    headers: [("date", HTTPDate.format(serverClock))])
            }
            return .respond(status: 200, headers: [("etag", "\"e\""), ("content-length", "0")])
        }
        defer { proxy.stop() }
        let client = try LocalStack.client(endpoint: proxy.url)
        let s3 = S3Client(client: client)
        if method == "HEAD" {
            _ = try await s3.headObject(bucket: "b", key: "k")
        } else {
            _ = try await s3.getObject(bucket: "b", key: "k")
        }
        #expect(proxy.requests.count == 2)
        #expect(abs(client.clockSkew - 3600) < 120)
    }

    @Test("Retry-After and backoff combine: never shorter than asked, capped")
    func retryAfterDelay() {
        var p = RetryPolicy.standard
        p.maxRetryAfter = .seconds(30)
        #expect(p.backoff(afterAttempt: 1, retryAfter: .seconds(2), random: 1) == .seconds(2))
        #expect(p.backoff(afterAttempt: 1, retryAfter: .seconds(500), random: 1) == .seconds(30))
        #expect(p.backoff(afterAttempt: 1, retryAfter: nil, random: 1) == .milliseconds(100))
        #expect(HTTPDate.retryAfter("7") == .seconds(7))
        #expect(HTTPDate.retryAfter("1e300") == .seconds(86_400))
        let now = Date()
        let fromDate = HTTPDate.retryAfter(HTTPDate.format(now.addingTimeInterval(120)), now: now) ?? .zero
        #expect(fromDate > .seconds(118.5) && fromDate < .seconds(121.5))
    }
}

@Suite("Streamed request bodies")
struct UploadTests {
    static func bucket() async throws -> String {
        let bucket = LocalStack.uniqueName("upload")
        try await S3Client(client: try LocalStack.client()).createBucket(bucket)
        return bucket
    }

    static func chunks(_ data: [UInt8], size: Int) -> AsyncStream<[UInt8]> {
        AsyncStream { c in
            var offset = 0
            while offset < data.count {
                c.yield(Array(data[offset..<min(offset + size, data.count)]))
                offset += size
            }
            c.finish()
        }
    }

    @Test("a file part is read from disk while sent, and retried after a server error")
    func filePartRetried() async throws {
        let bucket = try await Self.bucket()
        let dir = try temporaryDirectory()
        let data = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(data).write(to: URL(fileURLWithPath: dir + "/part"))
        let direct = S3Client(client: try LocalStack.client())
        let id = try await direct.createMultipartUpload(bucket: bucket, key: "f.bin")
        let proxy = try faultProxy([serverError])
        defer { proxy.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let part = try await s3.uploadPart(
            bucket: bucket, key: "f.bin", uploadID: id, partNumber: 1,
            upload: .file(path: dir + "/part", offset: 0, length: Int64(data.count)))
        #expect(proxy.requests.count == 2)
        #expect(proxy.requests.last?.body.count == data.count)
        try await direct.completeMultipartUpload(bucket: bucket, key: "f.bin", uploadID: id, parts: [part])
        #expect(try await direct.getObject(bucket: bucket, key: "f.bin") == data)
    }

    @Test("a one-shot stream that was partly sent is not retried, and says so")
    func streamNotRetried() async throws {
        let bucket = try await Self.bucket()
        let direct = S3Client(client: try LocalStack.client())
        let id = try await direct.createMultipartUpload(bucket: bucket, key: "s.bin")
        let proxy = try faultProxy([serverError])
        defer { proxy.stop() }
        let s3 = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let data = [UInt8](repeating: 7, count: 300_000)
        let error = await #expect(throws: AWSError.self) {
            try await s3.uploadPart(
                bucket: bucket, key: "s.bin", uploadID: id, partNumber: 1,
                upload: .stream(HTTPUploadStream(length: Int64(data.count), Self.chunks(data, size: 10_000))))
        }
        #expect(error?.retryNote?.contains("one-shot stream") == true)
        #expect(proxy.requests.count == 1)
        try await direct.abortMultipartUpload(bucket: bucket, key: "s.bin", uploadID: id)
    }

    @Test("a streamed part arrives whole")
    func streamedPart() async throws {
        let bucket = try await Self.bucket()
        let s3 = S3Client(client: try LocalStack.client())
        let data = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 / 7) }
        let id = try await s3.createMultipartUpload(bucket: bucket, key: "streamed.bin")
        let part = try await s3.uploadPart(
            bucket: bucket, key: "streamed.bin", uploadID: id, partNumber: 1,
            upload: .stream(
                HTTPUploadStream(
                    length: Int64(data.count), highWater: 64 << 10,
                    Self.chunks(data, size: 50_000))))
        try await s3.completeMultipartUpload(bucket: bucket, key: "streamed.bin", uploadID: id, parts: [part])
        #expect(try await s3.getObject(bucket: bucket, key: "streamed.bin") == data)
    }

    @Test("a stream shorter than it declared fails the request with a clear error")
    func shortStream() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let stream = HTTPUploadStream(length: 100, Self.chunks([UInt8](repeating: 1, count: 60), size: 30))
        await #expect {
            _ = try await HTTPTransport.shared.send(
                HTTPRequest(method: "PUT", url: server.url + "/x", upload: .stream(stream)))
        } throws: { "\($0)".contains("produced 60 bytes but declared 100") }
    }

    @Test("a missing upload file is named in the error")
    func missingFile() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        await #expect {
            _ = try await HTTPTransport.shared.send(
                HTTPRequest(
                    method: "PUT", url: server.url + "/x",
                    upload: .file(path: "/nonexistent/part", offset: 0, length: 5)))
        } throws: { "\($0)".contains("cannot open upload file /nonexistent/part") }
    }
}

@Suite("Transport settings")
struct TransportSettingsTests {
    @Test("an explicit proxy receives the request with the absolute URL")
    func proxy() async throws {
        let proxy = try LoopbackHTTPServer { _ in .respond(status: 200, body: Array("via proxy".utf8)) }
        defer { proxy.stop() }
        var options = HTTPTransportOptions()
        options.proxy = proxy.url
        let r = try await withTransport(options) { transport in
            try await transport.send(HTTPRequest(method: "GET", url: "http://example.invalid/some/path"))
        }
        #expect(r.bodyText == "via proxy")
        #expect(proxy.requests.first?.target == "http://example.invalid/some/path")
    }

    @Test("AWS_CA_BUNDLE sets the CA bundle; a missing bundle fails TLS with curl's reason")
    func caBundle() async throws {
        let options = HTTPTransportOptions.fromEnvironment(["AWS_CA_BUNDLE": "/nonexistent/ca.pem"])
        #expect(options.caBundlePath == "/nonexistent/ca.pem")
        #expect(options.verifyTLS)
        let server = try LoopbackHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        try await withTransport(options) { transport in
            await #expect(throws: TransportError.self) {
                _ = try await transport.send(
                    HTTPRequest(
                        method: "GET", url: "https://127.0.0.1:\(server.port)/",
                        timeout: .seconds(5)))
            }
        }
    }
}
