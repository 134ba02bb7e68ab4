import EsteiraTestSupport
import Foundation
import Testing

@testable import EsteiraAWS

/// Every call against moto with its signature checked.
@Suite("S3 calls against moto")
struct S3CallTests {
    static func s3() async throws -> (S3Client, String) {
        let s3 = S3Client(client: try LocalStack.client())
        let bucket = LocalStack.uniqueName("s3calls")
        try await s3.createBucket(bucket)
        return (s3, bucket)
    }

    @Test("head, list with pagination, delete")
    func headListDelete() async throws {
        let (s3, bucket) = try await Self.s3()
        for i in 0..<5 {
            try await s3.putObject(bucket: bucket, key: "in/f\(i) +=%.csv", body: Array("row \(i)\n".utf8))
        }
        try await s3.putObject(bucket: bucket, key: "other/x.csv", body: [1])
        let head = try await s3.headObject(bucket: bucket, key: "in/f2 +=%.csv")
        #expect(head.size == 6)
        #expect(head.eTag != nil)
        let page = try await s3.listObjectsPage(bucket: bucket, prefix: "in/", maxKeys: 2)
        #expect(page.objects.count == 2)
        #expect(page.nextContinuationToken != nil)
        let all = try await s3.listObjects(bucket: bucket, prefix: "in/", pageSize: 2)
        #expect(all.map(\.key) == (0..<5).map { "in/f\($0) +=%.csv" })
        #expect(all.allSatisfy { $0.size == 6 && $0.lastModified != nil })
        try await s3.deleteObject(bucket: bucket, key: "in/f0 +=%.csv")
        let missing = await #expect(throws: AWSError.self) {
            try await s3.headObject(bucket: bucket, key: "in/f0 +=%.csv")
        }
        #expect(missing?.status == 404)
        #expect(try await s3.listObjects(bucket: bucket, prefix: "in/").count == 4)
    }

    @Test("bucket notifications are written and read back")
    func notifications() async throws {
        let (s3, bucket) = try await Self.s3()
        let sqs = SQSClient(client: s3.client)
        let url = try await sqs.createQueue(name: LocalStack.uniqueName("notify"))
        let arn = try #require(try await sqs.getQueueAttributes(queueURL: url, names: ["QueueArn"])["QueueArn"])
        let wanted = S3QueueNotification(id: "landing", queueARN: arn, prefix: "tenant/", suffix: ".csv")
        try await s3.putBucketNotification(bucket: bucket, queues: [wanted])
        #expect(try await s3.bucketNotification(bucket: bucket) == [wanted])
        #expect(try await s3.bucketNotificationQueues(bucket: bucket) == [arn])
    }

    @Test("a file is uploaded in parts from disk; an aborted upload leaves nothing")
    func multipartFile() async throws {
        let (s3, bucket) = try await Self.s3()
        let dir = try temporaryDirectory()
        let data = (0..<(11 << 20)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
        try Data(data).write(to: URL(fileURLWithPath: dir + "/big.csv"))
        let info = try await s3.uploadFile(bucket: bucket, key: "big.csv", path: dir + "/big.csv", partSize: 5 << 20)
        #expect(info.eTag?.hasSuffix("-3\"") == true, "three parts: 5 + 5 + 1 MiB")
        #expect(try await s3.getObject(bucket: bucket, key: "big.csv") == data)

        let id = try await s3.createMultipartUpload(bucket: bucket, key: "aborted.csv")
        _ = try await s3.uploadPart(bucket: bucket, key: "aborted.csv", uploadID: id, partNumber: 1, body: [1, 2, 3])
        try await s3.abortMultipartUpload(bucket: bucket, key: "aborted.csv", uploadID: id)
        let gone = await #expect(throws: AWSError.self) { try await s3.headObject(bucket: bucket, key: "aborted.csv") }
        #expect(gone?.status == 404)
        // Aborting twice is fine: a retried abort must not fail the cleanup.
        try await s3.abortMultipartUpload(bucket: bucket, key: "aborted.csv", uploadID: id)
    }
}

@Suite("GetObject resumes after a dropped connection")
struct RangeResumeTests {
    static func sha(_ body: S3ObjectBody) async throws -> ([UInt8], Int) {
        var hasher = SHA256Hasher()
        var count = 0
        for try await chunk in body {
            hasher.update(chunk)
            count += chunk.count
        }
        return (hasher.finalize(), count)
    }

    @Test("a 100 MB object cut halfway arrives byte-identical through a Range request with If-Match")
    func hundredMegabytes() async throws {
        let (s3, bucket) = try await S3CallTests.s3()
        let dir = try temporaryDirectory()
        let size = 100 << 20
        var data = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 8) {
            data[i] = UInt8(truncatingIfNeeded: i >> 3)
            data[i + 3] = UInt8(truncatingIfNeeded: i >> 11)
        }
        try Data(data).write(to: URL(fileURLWithPath: dir + "/object"))
        try await s3.uploadFile(bucket: bucket, key: "big/object.bin", path: dir + "/object", partSize: 32 << 20)

        let moto = try LocalStack.motoPort()
        let proxy = try faultProxy([.forward(port: moto, cutAfter: size / 2)])
        defer { proxy.stop() }
        let viaProxy = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let (info, body) = try await viaProxy.getObjectStream(bucket: bucket, key: "big/object.bin")
        #expect(info.size == Int64(size))
        let (digest, count) = try await Self.sha(body)
        #expect(count == size)
        #expect(digest == Digest.sha256(data))
        #expect(body.resumeCount == 1)
        let resumed = try #require(proxy.requests.last)
        #expect(resumed.header("if-match") == info.eTag)
        #expect(resumed.header("range")?.hasPrefix("bytes=") == true)
    }

    @Test("if the object changed before the resume, reading fails instead of stitching two versions")
    func refusesChangedObject() async throws {
        let (s3, bucket) = try await S3CallTests.s3()
        try await s3.putObject(bucket: bucket, key: "v.csv", body: [UInt8](repeating: 65, count: 2 << 20))
        let moto = try LocalStack.motoPort()
        let replaced = DispatchSemaphore(value: 0)
        let proxy = try faultProxy([.forward(port: moto, cutAfter: 1 << 20, beforeCut: { replaced.wait() })])
        defer { proxy.stop() }
        let viaProxy = S3Client(client: try LocalStack.client(endpoint: proxy.url))
        let (_, body) = try await viaProxy.getObjectStream(bucket: bucket, key: "v.csv")
        _ = try await body.next()
        try await s3.putObject(bucket: bucket, key: "v.csv", body: [UInt8](repeating: 66, count: 2 << 20))
        replaced.signal()
        let error = await #expect(throws: AWSError.self) { while try await body.next() != nil {} }
        #expect(error?.status == 412)
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("refusing to join bytes of two versions") == true)
    }
}

@Suite("SQS calls against moto")
struct SQSCallTests {
    @Test("batch send with attributes, batch visibility change, batch delete with a per-entry failure")
    func batches() async throws {
        let sqs = SQSClient(client: try LocalStack.client())
        let url = try await sqs.createQueue(name: LocalStack.uniqueName("batch"))
        let sent = try await sqs.sendMessageBatch(
            queueURL: url,
            messages: (0..<3).map {
                SQSBatchMessage(id: "m\($0)", body: "body \($0)", attributes: ["reason": "r\($0)"])
            })
        #expect(Set(sent.successful) == ["m0", "m1", "m2"])
        #expect(sent.messageIDs.count == 3)
        let received = try await sqs.receiveMessages(queueURL: url, maxMessages: 10, waitSeconds: 1)
        #expect(received.count == 3)
        #expect(Set(received.compactMap { $0.messageAttributes["reason"] }) == ["r0", "r1", "r2"])
        let changed = try await sqs.changeMessageVisibilityBatch(
            queueURL: url,
            entries: received.enumerated().map {
                (id: "c\($0.offset)", receiptHandle: $0.element.receiptHandle, timeout: 60)
            })
        #expect(changed.successful.count == 3)
        let deleted = try await sqs.deleteMessageBatch(
            queueURL: url,
            entries: received.enumerated().map { (id: "d\($0.offset)", receiptHandle: $0.element.receiptHandle) }
                + [(id: "bad", receiptHandle: "not-a-receipt-handle")])
        #expect(deleted.successful.count == 3)
        #expect(deleted.failed.map(\.id) == ["bad"])
        #expect(deleted.failed.first?.code.isEmpty == false)
        #expect(try await sqs.getQueueAttributes(queueURL: url)["ApproximateNumberOfMessages"] == "0")
    }

    @Test("dead-letter source queues are listed; message move tasks report moto's missing support as a server error")
    func deadLetters() async throws {
        let sqs = SQSClient(client: try LocalStack.client(maxAttempts: 1))
        let dlq = try await sqs.createQueue(name: LocalStack.uniqueName("dlq"))
        let dlqARN = try #require(try await sqs.getQueueAttributes(queueURL: dlq, names: ["QueueArn"])["QueueArn"])
        let source = try await sqs.createQueue(
            name: LocalStack.uniqueName("src"),
            attributes: [
                "RedrivePolicy": #"{"deadLetterTargetArn":"\#(dlqARN)","maxReceiveCount":"3"}"#
            ])
        #expect(try await sqs.listDeadLetterSourceQueues(queueURL: dlq) == [source])
        let error = await #expect(throws: AWSError.self) { try await sqs.startMessageMoveTask(sourceARN: dlqARN) }
        #expect(error?.status == 500)
    }

    @Test("message move tasks are started and listed in the documented shape")
    func moveTasks() async throws {
        let server = try LoopbackHTTPServer { r in
            switch r.header("x-amz-target") {
            case "AmazonSQS.StartMessageMoveTask":
                return .json(200, #"{"TaskHandle":"handle-1"}"#)
            case "AmazonSQS.ListMessageMoveTasks":
                return .json(
                    200,
                    #"{"Results":[{"Status":"RUNNING","TaskHandle":"handle-1","SourceArn":"arn:dlq","ApproximateNumberOfMessagesMoved":4,"ApproximateNumberOfMessagesToMove":10}]}"#
                )
            default:
                return .json(400, #"{"__type":"InvalidAction"}"#)
            }
        }
        defer { server.stop() }
        let sqs = SQSClient(client: try LocalStack.client(endpoint: server.url))
        #expect(try await sqs.startMessageMoveTask(sourceARN: "arn:dlq", maxMessagesPerSecond: 50) == "handle-1")
        let body = try JSONValue.decode(server.requests[0].body)
        #expect(body["SourceArn"]?.string == "arn:dlq")
        #expect(body["MaxNumberOfMessagesPerSecond"]?.int == 50)
        let tasks = try await sqs.listMessageMoveTasks(sourceARN: "arn:dlq")
        #expect(tasks.first?.status == "RUNNING")
        #expect(tasks.first?.messagesMoved == 4)
        #expect(tasks.first?.messagesToMove == 10)
    }
}

@Suite("DynamoDB, Secrets Manager and STS calls against moto")
struct OtherServiceCallTests {
    @Test("Query follows LastEvaluatedKey; DescribeTable, consistent GetItem and UpdateTimeToLive work")
    func dynamo() async throws {
        let dynamo = DynamoDBClient(client: try LocalStack.client())
        let table = LocalStack.uniqueName("query")
        try await dynamo.createTable(name: table, partitionKey: "tenant", sortKey: "file")
        for i in 0..<7 {
            try await dynamo.putItem(
                table: table, item: ["tenant": .s("acme"), "file": .s("f\(i)"), "rows": .number(i)])
        }
        try await dynamo.putItem(table: table, item: ["tenant": .s("other"), "file": .s("x")])
        let page = try await dynamo.queryPage(
            table: table,
            keyCondition: DynamoExpression(
                "#t = :t", names: ["#t": "tenant"],
                values: [":t": .s("acme")]), limit: 3)
        #expect(page.items.count == 3)
        #expect(page.lastEvaluatedKey != nil)
        let items = try await dynamo.query(
            table: table,
            keyCondition: DynamoExpression(
                "tenant = :t AND begins_with(#f, :p)", names: ["#f": "file"], values: [":t": .s("acme"), ":p": .s("f")]),
            consistent: true, pageSize: 3)
        #expect(items.compactMap { $0["file"]?.string } == (0..<7).map { "f\($0)" })
        let described = try #require(try await dynamo.describeTableDetails(name: table))
        #expect(described.status == "ACTIVE")
        #expect(described.keySchema == ["tenant", "file"])
        #expect(try await dynamo.describeTableDetails(name: LocalStack.uniqueName("none")) == nil)
        #expect(
            try await dynamo.getItem(table: table, key: ["tenant": .s("acme"), "file": .s("f6")])?["rows"]?.int == 6)
        try await dynamo.updateTimeToLive(table: table, attribute: "expires")
    }

    @Test("GetSecretValue returns the RDS-format secret")
    func secrets() async throws {
        let secrets = SecretsManagerClient(client: try LocalStack.client())
        let name = LocalStack.uniqueName("esteira/mysql")
        let text = #"{"username":"esteira","password":"p@ss","host":"127.0.0.1","port":3306,"dbname":"esteira"}"#
        let arn = try await secrets.createSecret(name: name, string: text)
        let value = try await secrets.getSecretValue(secretID: name)
        #expect(value.string == text)
        #expect(value.arn == arn)
        let missing = await #expect(throws: AWSError.self) { try await secrets.getSecretValue(secretID: name + "-no") }
        #expect(missing?.code == .resourceNotFound)
    }

    @Test("GetCallerIdentity and AssumeRole; the assumed role's credentials sign calls")
    func sts() async throws {
        let client = try LocalStack.client()
        let sts = STSClient(client: client)
        #expect(try await sts.getCallerIdentity().account == "123456789012")
        let creds = try await sts.assumeRole(
            roleARN: "arn:aws:iam::123456789012:role/esteira-worker",
            sessionName: "sts-test", durationSeconds: 900)
        #expect(creds.expiration.map { $0 > Date() } == true)
        var config = client.config
        config.credentials = StaticCredentials(creds)
        let assumed = STSClient(client: AWSClient(config: config, logger: LocalStack.quietLogger))
        #expect(
            try await assumed.getCallerIdentity().arn
                == "arn:aws:sts::123456789012:assumed-role/esteira-worker/sts-test")
    }
}
