import EsteiraAWS
import EsteiraPipeline
import EsteiraTestSupport
import EsteiraWorker
import Foundation
import Synchronization
import Testing

/// A proxy in front of moto that enforces what real AWS enforces and moto does not: SQS refuses a message
/// with characters outside XML's set or over 256 KiB in all, S3 refuses a key over 1,024 bytes.
func awsRulesProxy() throws -> LoopbackHTTPServer {
    let moto = try motoPort()
    return try LoopbackHTTPServer { r in
        if r.header("x-amz-target") == "AmazonSQS.SendMessage",
            let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        {
            let body = json["MessageBody"] as? String ?? ""
            var size = body.utf8.count
            var texts = [body]
            for (name, value) in json["MessageAttributes"] as? [String: [String: Any]] ?? [:] {
                let text = value["StringValue"] as? String ?? ""
                texts.append(text)
                size += name.utf8.count + (value["DataType"] as? String ?? "").utf8.count + text.utf8.count
            }
            if texts.contains(where: { !$0.unicodeScalars.allSatisfy(DeadLetterAttributes.isAllowed) }) {
                return .json(
                    400, #"{"__type":"com.amazonaws.sqs#InvalidMessageContents","message":"Invalid characters found."}"#
                )
            }
            if size > 262_144 {
                return .json(
                    400,
                    #"{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes."}"#
                )
            }
        }
        if r.method == "PUT" || r.method == "POST", r.header("x-amz-target") == nil {
            // Path-style S3: /bucket/key; the key as S3 counts it is the percent-decoded UTF-8.
            let path = r.path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
            if path.count == 3, (path[2].removingPercentEncoding ?? String(path[2])).utf8.count > 1024 {
                return .xml(400, "<Error><Code>KeyTooLongError</Code><Message>Your key is too long</Message></Error>")
            }
        }
        return .forward(port: moto)
    }
}

func motoPort() throws -> Int {
    guard let port = URLComponents(string: try requireEnv("AWS_ENDPOINT_URL"))?.port else {
        throw MissingStack(variable: "AWS_ENDPOINT_URL (with a port)")
    }
    return port
}

/// An AWS client that reaches moto through `proxy`.
func client(through proxy: LoopbackHTTPServer, maxAttempts: Int = 3) throws -> AWSClient {
    var env = ProcessInfo.processInfo.environment
    env["AWS_ENDPOINT_URL"] = proxy.url
    for name in env.keys where name.hasPrefix("AWS_ENDPOINT_URL_") { env[name] = nil }
    var config = try AWSConfig.fromEnvironment(env)
    config.retry.maxAttempts = maxAttempts
    config.retry.baseDelay = .milliseconds(10)
    return AWSClient(config: config, logger: TestStack.quietLogger)
}

extension TestStack {
    /// One worker, draining the queue, whose SQS (and, with `s3Too`, S3) calls go through `proxy`.
    @discardableResult
    func drain(through proxy: LoopbackHTTPServer, routes: RouteTable, s3Too: Bool = false) async throws -> WorkerSummary
    {
        let aws = try client(through: proxy)
        var settings = WorkerSettings(
            queueName: queue, deadLetterQueueName: deadLetterQueue, jobsTable: jobsTable,
            landingBuckets: try LandingBuckets([bucket]), concurrency: 2)
        settings.untilIdle = true
        settings.idlePolls = 2
        let pipeline = FilePipeline(
            s3: s3Too ? S3Client(client: aws) : s3, mysql: mysql, routes: routes, logger: TestStack.quietLogger)
        let worker = try await Worker.connect(
            settings: settings, sqs: SQSClient(client: aws), dynamo: dynamo, pipeline: pipeline,
            logger: TestStack.quietLogger)
        try await worker.run()
        return worker.summary
    }

    func letters(code: String) async throws -> [SQSMessage] {
        try await deadLetters().filter { $0.messageAttributes[DeadLetterAttributes.code] == code }
    }
}

@Suite("Worker under hostile messages and lost answers")
struct WorkerFaultTests {
    @Test(
        "an event for another existing bucket, or for a name that is no bucket, is dead-lettered as ForeignBucket and nothing is loaded; dlq replay leaves them"
    )
    func foreignBucket() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let other = stack.bucket + "-other"
            try await stack.s3.createBucket(other)
            try await stack.s3.putObject(
                bucket: other, key: "acme/data/orders-1.csv", body: ordersCSV(from: 0, count: 3))
            for bucket in [other, "Not_A/../Bucket"] {
                let body =
                    #"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"\#(bucket)"},"object":{"key":"acme/data/orders-1.csv","size":10}}}]}"#
                try await stack.sqs.sendMessage(queueURL: stack.provisioned.queueURL, body: body)
            }
            let routes = try writeRoutes()
            let worker = try WorkerProcess(["worker", "--until-idle", "--no-http"], stack: stack, routes: routes)
            #expect(await worker.wait(timeout: 120) == 0, "log:\n\(worker.log.suffix(2000))")
            #expect(try await stack.count("orders") == 0)
            let letters = try await stack.letters(code: "ForeignBucket")
            #expect(letters.count == 2, "log:\n\(worker.log.suffix(2000))")
            #expect(
                letters.contains {
                    $0.messageAttributes[DeadLetterAttributes.message]?.contains("not a landing bucket") == true
                })
            #expect(
                letters.contains {
                    $0.messageAttributes[DeadLetterAttributes.message]?.contains("not a valid S3 bucket name") == true
                })
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)

            let replay = try WorkerProcess(["dlq", "replay", "--all"], stack: stack, routes: routes)
            #expect(await replay.wait(timeout: 60) == 0, "log:\n\(replay.log.suffix(2000))")
            #expect(replay.log.contains("2 left in the DLQ"), "\(replay.log.suffix(1000))")
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
            #expect(try await stack.letters(code: "ForeignBucket").count == 2)
        }
    }

    @Test("a key holding U+0001, a 900-byte reason and a body near 256 KiB all reach the DLQ with readable reasons")
    func deadLettersAlwaysSend() async throws {
        try await TestStack.with { stack in
            let proxy = try awsRulesProxy()
            defer { proxy.stop() }
            let url = stack.provisioned.queueURL
            try await stack.sqs.sendMessage(
                queueURL: url, body: stack.event(key: "acme/data/invoices\u{1}.csv", eTag: "e1"))
            let long = "acme/data/" + String(repeating: "ação-", count: 130) + ".csv"
            #expect(long.utf8.count > 900)
            try await stack.sqs.sendMessage(queueURL: url, body: stack.event(key: long, eTag: "e2"))
            try await stack.sqs.sendMessage(queueURL: url, body: String(repeating: "z", count: 262_000))

            try await stack.drain(through: proxy, routes: try EndToEndTests.routes())
            #expect(try await stack.depth(url) == 0, "nothing may be left cycling in the main queue")
            let noRoute = try await stack.letters(code: "NoRoute")
            #expect(noRoute.count == 2)
            let control = try #require(
                noRoute.first { $0.messageAttributes[DeadLetterAttributes.key]?.contains("invoices") == true })
            #expect(control.messageAttributes[DeadLetterAttributes.key] == "acme/data/invoices\\u{1}.csv")
            #expect(control.messageAttributes[DeadLetterAttributes.message]?.contains("no route") == true)
            let longLetter = try #require(
                noRoute.first { $0.messageAttributes[DeadLetterAttributes.key]?.contains("ação") == true })
            #expect(longLetter.messageAttributes[DeadLetterAttributes.key] == long)
            // The reason names the file (over 900 bytes of it), whole and readable.
            let file = String(long.dropFirst("acme/data/".count))
            #expect(longLetter.messageAttributes[DeadLetterAttributes.message]?.contains(file) == true)
            #expect((longLetter.messageAttributes[DeadLetterAttributes.message]?.utf8.count ?? 0) > 900)
            let big = try #require(try await stack.letters(code: "UndecodableMessage").first)
            #expect(big.messageAttributes[DeadLetterAttributes.message]?.contains("not JSON") == true)
            #expect(big.messageAttributes[DeadLetterAttributes.bodyTruncated] == "262000")
        }
    }

    @Test("a gzip bomb is dead-lettered as TooLarge, naming the limit it hit")
    func gzipBomb() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            // 24 MiB of blank lines: gzip makes about 24 KiB of them (1000×), past the 250× limit.
            let bomb = try CSVContractEndToEndTests.gzip(
                Array("order_id,customer,amount,notes\n".utf8) + [UInt8](repeating: 10, count: 24 << 20))
            try await stack.s3.putObject(bucket: stack.bucket, key: "acme/data/orders-bomb.csv", body: bomb)
            try await stack.drain(routes: try EndToEndTests.routes())
            let all = try await stack.deadLetters()
            let letter = try #require(
                all.first { $0.messageAttributes[DeadLetterAttributes.code] == "TooLarge" },
                "letters: \(all.map(\.messageAttributes))")
            #expect(letter.messageAttributes[DeadLetterAttributes.message]?.contains("250×") == true)
            #expect(try await stack.count("orders") == 0)
        }
    }

    @Test("a ~1,000-byte key with a refused row: the rejects object gets a hashed name, recorded in the job item")
    func longKeyRejects() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let proxy = try awsRulesProxy()
            defer { proxy.stop() }
            let key = "acme/data/orders-" + String(repeating: "x", count: 979) + ".csv"
            #expect(key.utf8.count == 1000)
            let csv = "order_id,customer,amount,notes\n1,Ana,10.50,\n2,Bruno\n"
            let put = try await stack.s3.putObject(bucket: stack.bucket, key: key, body: Array(csv.utf8))
            let summary = try await stack.drain(through: proxy, routes: try EndToEndTests.routes(), s3Too: true)
            #expect(summary.succeeded == 1)
            #expect(summary.rowsRejected == 1)
            #expect(try await stack.count("orders") == 1)
            let job = try await JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
                .item(ObjectCreated(bucket: stack.bucket, key: key, eTag: put.eTag))
            let uri = try #require(job?["rejects_uri"]?.string)
            let rejectsKey = FilePipeline.rejectsKey(for: key)
            #expect(uri == "s3://\(stack.bucket)/\(rejectsKey)")
            // The MySQL ledger names it too, committed with the rows.
            #expect(try await stack.sql("SELECT rejects_uri FROM esteira_ledger").scalar == uri)
            #expect(rejectsKey.hasPrefix("esteira-rejects/acme/") && rejectsKey.hasSuffix(".rejects.csv"))
            #expect(rejectsKey.utf8.count <= 1024)
            let rejects = try await stack.s3.getObject(bucket: stack.bucket, key: rejectsKey)
            #expect(String(decoding: rejects, as: UTF8.self).contains("Bruno"))
        }
    }

    @Test("a claim whose answer was lost is recognised as our own on the retry, not as held by another")
    func claimAnswerLost() async throws {
        try await TestStack.with { stack in
            let moto = try motoPort()
            let dropped = LockedFlag()
            let proxy = try LoopbackHTTPServer { r in
                if r.header("x-amz-target") == "DynamoDB_20120810.UpdateItem", dropped.setOnce() {
                    return .forward(port: moto, cutAfter: 0)
                }
                return .forward(port: moto)
            }
            defer { proxy.stop() }
            let object = ObjectCreated(bucket: stack.bucket, key: "acme/data/orders-1.csv", eTag: "\"abc\"")
            let ledger = JobLedger(dynamo: DynamoDBClient(client: try client(through: proxy)), table: stack.jobsTable)
            // A long lease: on two cores busy with the whole suite, the dropped answer's retry has taken over a
            // minute, and a lease that ran out meanwhile is rightly no longer ours.
            let claim = try await ledger.claim(object, owner: "worker-a", lease: .seconds(900))
            #expect(claim == .claimed(fencingToken: 1))
            #expect(
                proxy.requests.filter { $0.header("x-amz-target") == "DynamoDB_20120810.UpdateItem" }.count == 2,
                "the first answer was dropped and the claim retried")
            // The claim is really held: another worker is kept off, and the token fences our own writes.
            let direct = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            #expect(
                try await direct.claim(object, owner: "worker-b", lease: .seconds(900))
                    == .heldByAnother(owner: "worker-a"))
            try await direct.extendLease(object, owner: "worker-a", fencingToken: 1, lease: .seconds(900))
        }
    }
}

/// True exactly once.
final class LockedFlag: Sendable {
    private let done = Mutex(false)
    func setOnce() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
