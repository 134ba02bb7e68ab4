import EsteiraAWS
import EsteiraTestSupport
import EsteiraWorker
import Foundation
import Testing

/// The on-call commands against the real stack: the DLQ, a file's history, replays that lose nothing.
@Suite("Operator commands on the real stack", .serialized)
struct OperatorTests {
    /// Files whose table does not exist yet fail permanently and land in the DLQ.
    static func deadLetterFiles(_ stack: TestStack, count: Int) async throws {
        for f in 0..<count {
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-\(f).csv", body: ordersCSV(from: f * 10, count: 10))
        }
        let summary = try await stack.drain(routes: try EndToEndTests.routes())
        #expect(summary.failed == count)
    }

    static func run(_ args: [String], _ stack: TestStack, routes: String) async throws -> (Int32?, String) {
        let p = try WorkerProcess(args, stack: stack, routes: routes)
        let status = await p.wait(timeout: 120)
        return (status, p.log)
    }

    @Test("dlq list and show explain each dead letter; a fixed cause plus replay loads the files once")
    func listShowReplay() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            try await Self.deadLetterFiles(stack, count: 3)

            let (status, listed) = try await Self.run(["dlq", "list", "--json"], stack, routes: routes)
            #expect(status == 0, "\(listed)")
            let json = try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]] ?? []
            #expect(json.count == 3)
            #expect(
                json.allSatisfy {
                    ($0["code"] as? String) == "Database" && ($0["reason"] as? String ?? "").contains("doesn't exist")
                })
            let id = try #require(json.first?["id"] as? String)

            let (showStatus, shown) = try await Self.run(["dlq", "show", id], stack, routes: routes)
            #expect(showStatus == 0)
            #expect(shown.contains("esteira.error-code = Database"))
            #expect(shown.contains("\"Records\""))

            let (historyStatus, history) = try await Self.run(
                ["jobs", "show", "s3://\(stack.bucket)/acme/data/orders-0.csv"], stack, routes: routes)
            #expect(historyStatus == 0)
            #expect(history.contains("FAILED"))
            #expect(history.contains("in the dead-letter queue: \(id)") || history.contains("(Database)"))

            // The cause is fixed: the table now exists. Replay, and the worker loads each file once.
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let (dryStatus, dry) = try await Self.run(["dlq", "replay", "--all", "--dry-run"], stack, routes: routes)
            #expect(dryStatus == 0)
            #expect(dry.contains("would replay 3"))
            #expect(try await stack.deadLetters().count == 3, "a dry run changes nothing")

            let (replayStatus, replayed) = try await Self.run(
                ["dlq", "replay", "--filter", "tenant=acme"], stack, routes: routes)
            #expect(replayStatus == 0, "\(replayed)")
            #expect(replayed.contains("replayed 3"))
            #expect(try await stack.deadLetters().isEmpty)
            try await stack.drain(routes: try EndToEndTests.routes())
            #expect(try await stack.count("orders") == 30)

            let (jobsStatus, jobs) = try await Self.run(
                ["jobs", "--tenant", "acme", "--status", "succeeded", "--json"], stack, routes: routes)
            #expect(jobsStatus == 0)
            let jobList = try JSONSerialization.jsonObject(with: Data(jobs.utf8)) as? [[String: Any]] ?? []
            #expect(jobList.count == 3)
        }
    }

    @Test("a replay killed halfway and run again loses nothing and duplicates nothing")
    func interruptedReplay() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            let files = 12
            try await Self.deadLetterFiles(stack, count: files)

            let first = try WorkerProcess(["dlq", "replay", "--all", "--rate", "4"], stack: stack, routes: routes)
            // Wait until some, not all, have moved; then kill it without warning.
            let deadline = Date().addingTimeInterval(60)
            while try await stack.depth(stack.provisioned.queueURL) < 3, Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            first.signal(SIGKILL)
            _ = await first.wait(timeout: 10)
            let moved = try await stack.depth(stack.provisioned.queueURL)
            #expect(moved >= 3 && moved < files, "moved \(moved) before the kill")

            let (status, log) = try await Self.run(["dlq", "replay", "--all"], stack, routes: routes)
            #expect(status == 0, "\(log)")
            #expect(try await stack.deadLetters().isEmpty, "nothing left behind")

            // Exactly one message per dead letter in the main queue, each marked with what it replays.
            var replayOf: [String] = []
            var seen = Set<String>()
            for _ in 0..<10 {
                for m in try await stack.sqs.receiveMessages(
                    queueURL: stack.provisioned.queueURL, maxMessages: 10,
                    waitSeconds: 1, visibilityTimeout: 30)
                where seen.insert(m.messageID).inserted {
                    replayOf.append(m.messageAttributes["esteira.replay-of"] ?? "?")
                    #expect(m.messageAttributes["esteira.replay-count"] == "1")
                }
            }
            #expect(replayOf.count == files, "main queue holds \(replayOf.count) messages for \(files) dead letters")
            #expect(Set(replayOf).count == files)
        }
    }

    @Test(
        "dlq purge needs --yes and empties the DLQ; routes check names lines; setup --print creates nothing, setup creates"
    )
    func purgeRoutesSetup() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            try await Self.deadLetterFiles(stack, count: 2)

            let (refused, refusedText) = try await Self.run(["dlq", "purge"], stack, routes: routes)
            #expect(refused == 64, "\(refusedText)")
            #expect(refusedText.contains("add --yes"))
            #expect(try await stack.deadLetters().count == 2, "nothing purged without --yes")
            let (purged, purgedText) = try await Self.run(["dlq", "purge", "--yes"], stack, routes: routes)
            #expect(purged == 0, "\(purgedText)")
            #expect(try await stack.deadLetters().isEmpty)

            let bad = NSTemporaryDirectory() + "routes-bad-\(UInt32.random(in: 0...UInt32.max)).yaml"
            try "routes:\n  - name: ok\n    tenant: acme\n    pattern: \"*.csv\"\n    table: \"a b\"\n"
                .write(toFile: bad, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: bad) }
            let (checkBad, badText) = try await Self.run(["routes", "check", bad, "--json"], stack, routes: routes)
            #expect(checkBad == 1)
            let report = try JSONSerialization.jsonObject(with: Data(badText.utf8)) as? [String: Any] ?? [:]
            let problems = report["problems"] as? [[String: Any]] ?? []
            #expect(report["ok"] as? Bool == false)
            #expect(
                problems.contains {
                    $0["line"] as? Int == 2 && ($0["message"] as? String ?? "").contains("table 'a b'")
                }, "\(badText)")
            let (checkGood, goodText) = try await Self.run(["routes", "check", routes], stack, routes: routes)
            #expect(checkGood == 0)
            #expect(goodText.contains("ok, 1 route(s)"))

            // --print describes and creates nothing; without it, the same names exist afterwards.
            let name = stack.bucket + "-setup"
            let resources = ["--bucket", name, "--queue", name, "--dlq", name + "-dlq", "--jobs-table", name]
            let (planned, plan) = try await Self.run(["setup", "--print"] + resources, stack, routes: routes)
            #expect(planned == 0)
            #expect(plan.contains("S3 bucket          \(name)"))
            await #expect(throws: (any Error).self) { try await stack.sqs.getQueueURL(name: name) }
            let (created, createdText) = try await Self.run(["setup"] + resources, stack, routes: routes)
            #expect(created == 0, "\(createdText)")
            let url = try await stack.sqs.getQueueURL(name: name)
            let attributes = try await stack.sqs.getQueueAttributes(queueURL: url, names: ["RedrivePolicy"])
            #expect(attributes["RedrivePolicy"]?.contains(name + "-dlq") == true)
            let notified = try await stack.s3.bucketNotificationQueues(bucket: name)
            #expect(notified.contains { $0.hasSuffix(":" + name) }, "\(notified)")
            let (again, _) = try await Self.run(["setup"] + resources, stack, routes: routes)
            #expect(again == 0, "setup is idempotent")
        }
    }

    @Test("replay --all without a filter asks SQS to move the messages server-side; a filtered replay never does")
    func moveTask() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            try await Self.deadLetterFiles(stack, count: 2)
            // moto has no StartMessageMoveTask: a proxy in front of it answers that one call as SQS does and
            // passes every other (signed) request through.
            let moto = try #require(URLComponents(string: try requireEnv("AWS_ENDPOINT_URL"))?.port)
            let proxy = try LoopbackHTTPServer { r in
                r.header("x-amz-target") == "AmazonSQS.StartMessageMoveTask"
                    ? .json(200, #"{"TaskHandle":"task-1"}"#) : .forward(port: moto)
            }
            defer { proxy.stop() }
            let viaProxy = ["AWS_ENDPOINT_URL": proxy.url]
            func moveRequests() -> [LoopbackHTTPServer.Request] {
                proxy.requests.filter { $0.header("x-amz-target") == "AmazonSQS.StartMessageMoveTask" }
            }

            let all = try WorkerProcess(
                ["dlq", "replay", "--all", "--rate", "7", "--json"], stack: stack, routes: routes, extraEnv: viaProxy)
            #expect(await all.wait(timeout: 120) == 0, "\(all.log)")
            #expect(all.log.contains("\"move_task\" : true"), "\(all.log)")
            let request = try #require(moveRequests().first)
            let body = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
            #expect(body["SourceArn"] as? String == stack.provisioned.deadLetterARN)
            #expect(body["DestinationArn"] as? String == stack.provisioned.queueARN)
            #expect(body["MaxNumberOfMessagesPerSecond"] as? Int == 7)

            let filtered = try WorkerProcess(
                ["dlq", "replay", "--all", "--filter", "tenant=acme"], stack: stack, routes: routes,
                extraEnv: viaProxy)
            #expect(await filtered.wait(timeout: 120) == 0, "\(filtered.log)")
            #expect(filtered.log.contains("replayed 2"), "\(filtered.log)")
            #expect(moveRequests().count == 1, "a filtered replay goes message by message")
            #expect(try await stack.deadLetters().isEmpty)
        }
    }
}
