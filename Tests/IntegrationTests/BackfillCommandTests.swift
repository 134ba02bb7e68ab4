import EsteiraAWS
import EsteiraWorker
import Foundation
import Testing

/// `esteira backfill` and `esteira reconcile` as an operator runs them, against the real stack: history that
/// landed in a bucket before it had a notification, one file of it already loaded by hand.
@Suite("esteira backfill and reconcile on the real stack", .serialized)
struct BackfillCommandTests {
    static func run(_ args: [String], _ stack: TestStack, routes: String, buckets: String) async throws -> (
        Int32?, String
    ) {
        let p = try WorkerProcess(args, stack: stack, routes: routes, extraEnv: ["ESTEIRA_BUCKET": buckets])
        let status = await p.wait(timeout: 120)
        return (status, p.log)
    }

    /// The messages now in the main queue, peeked (visibility 0) and decoded as the worker decodes them.
    static func queued(_ stack: TestStack) async throws -> [String: String] {
        var seen: [String: String] = [:]
        for _ in 0..<4 {
            for m in try await stack.sqs.receiveMessages(
                queueURL: stack.provisioned.queueURL, maxMessages: 10, waitSeconds: 1,
                visibilityTimeout: 0)
            {
                seen[m.messageID] = m.body
                #expect(m.messageAttributes["esteira.source"] == "backfill")
            }
        }
        return seen
    }

    @Test(
        "backfill queues exactly the unloaded files once; a second run after the workers drained them queues nothing; reconcile exits 1 then 0"
    )
    func backfillAndReconcile() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            // A second landing bucket with no notification: its files never produced an event.
            let history = stack.bucket + "-history"
            try await stack.s3.createBucket(history)
            let buckets = "\(stack.bucket),\(history)"
            // S3's test event from provisioning the main bucket: not ours to count.
            try await stack.sqs.purgeQueue(queueURL: stack.provisioned.queueURL)
            let files = [
                "acme/data/orders-1.csv": 0, "acme/data/orders-2.csv": 10, "acme/data/orders-3.csv": 20,
                "acme/data/orders 4+x.csv": 30,
            ]
            for (key, from) in files {
                _ = try await stack.s3.putObject(bucket: history, key: key, body: ordersCSV(from: from, count: 10))
            }
            _ = try await stack.s3.putObject(
                bucket: history, key: "acme/data/readme.md", body: Array("no route\n".utf8))
            _ = try await stack.s3.putObject(
                bucket: history, key: "esteira-rejects/acme/data/orders-0.csv.rejects.csv",
                body: Array("x\n".utf8))

            // One file loaded by hand before the backfill: it has its ledger row.
            let (loaded, loadText) = try await Self.run(
                ["load", "s3://\(history)/acme/data/orders-1.csv", "--route", "acme-orders"],
                stack, routes: routes, buckets: buckets)
            #expect(loaded == 0, "\(loadText)")
            #expect(try await stack.count("orders") == 10)

            // Reconcile (every landing bucket's acme/data/) finds the three others, and exits 1.
            let (missing, missingText) = try await Self.run(
                ["reconcile", "--older-than", "0s", "--json"],
                stack, routes: routes, buckets: buckets)
            #expect(missing == 1, "\(missingText)")
            let report = try LoadCommandTests.json(missingText)
            let missingFiles = (report["missing"] as? [[String: Any]] ?? []).compactMap { $0["file"] as? String }
            #expect(
                Set(missingFiles)
                    == Set(
                        ["orders-2.csv", "orders-3.csv", "orders 4+x.csv"].map { "s3://\(history)/acme/data/\($0)" }))
            #expect(report["already_loaded"] as? Int == 1)
            #expect((report["missing"] as? [[String: Any]])?.first?["backfill"] as? String != nil)
            // Files newer than --older-than are not reported.
            let (young, youngText) = try await Self.run(
                ["reconcile", "--older-than", "1h"], stack, routes: routes, buckets: buckets)
            #expect(young == 0, "\(youngText)")

            // A dry run says the same and sends nothing.
            let (dry, dryText) = try await Self.run(
                ["backfill", "s3://\(history)/", "--dry-run", "--json"],
                stack, routes: routes, buckets: buckets)
            #expect(dry == 0, "\(dryText)")
            let preview = try LoadCommandTests.json(dryText)
            #expect(preview["queued"] as? Int == 3)
            #expect(preview["dry_run"] as? Bool == true)
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)

            // The real run: three S3 events in the main queue, keys encoded as S3 encodes them.
            // At 1 message a second the third goes no sooner than 2 s after the first.
            let clock = ContinuousClock()
            let began = clock.now
            let (first, firstText) = try await Self.run(
                ["backfill", "s3://\(history)/", "--rate", "1/s", "--json"],
                stack, routes: routes, buckets: buckets)
            #expect(clock.now - began >= .seconds(2), "--rate 1/s sent 3 messages in \(clock.now - began)")
            #expect(first == 0, "\(firstText)")
            let summary = try LoadCommandTests.json(firstText)
            #expect(summary["found"] as? Int == 6)
            #expect(summary["already_loaded"] as? Int == 1)
            #expect(summary["queued"] as? Int == 3)
            let skipped = (summary["skipped"] as? [[String: Any]] ?? []).compactMap { $0["file"] as? String }
            #expect(
                Set(skipped) == [
                    "s3://\(history)/acme/data/readme.md",
                    "s3://\(history)/esteira-rejects/acme/data/orders-0.csv.rejects.csv",
                ])
            let bodies = try await Self.queued(stack)
            #expect(bodies.count == 3)
            var keys: [String] = []
            for body in bodies.values {
                guard case .objectsCreated(let objects) = try S3EventDecoder.decode(body) else {
                    Issue.record("not an ObjectCreated event: \(body)")
                    continue
                }
                #expect(objects.count == 1)
                #expect(objects.first?.bucket == history)
                #expect(objects.first?.eventName == "ObjectCreated:Put")
                #expect(objects.first?.size != nil && objects.first?.eTag != nil)
                keys += objects.map(\.key)
            }
            #expect(Set(keys) == ["acme/data/orders-2.csv", "acme/data/orders-3.csv", "acme/data/orders 4+x.csv"])
            #expect(
                bodies.values.contains { $0.contains("orders+4%2Bx.csv") },
                "key not form-encoded as S3 does: \(bodies.values)")

            // The workers load them; a second backfill then queues nothing, and reconcile is happy.
            let w = try WorkerProcess(
                ["worker", "--until-idle", "--no-http"], stack: stack, routes: routes,
                extraEnv: ["ESTEIRA_BUCKET": buckets])
            let drained = await w.wait(timeout: 120)
            #expect(drained == 0, "\(w.log.suffix(2000))")
            #expect(try await stack.count("orders") == 40)
            #expect(try await stack.deadLetters().isEmpty)

            let (second, secondText) = try await Self.run(
                ["backfill", "s3://\(history)/", "--json"], stack, routes: routes, buckets: buckets)
            #expect(second == 0, "\(secondText)")
            let again = try LoadCommandTests.json(secondText)
            #expect(again["queued"] as? Int == 0)
            #expect(again["already_loaded"] as? Int == 4)
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)

            let (clean, cleanText) = try await Self.run(
                ["reconcile", "--older-than", "0s"], stack, routes: routes, buckets: buckets)
            #expect(clean == 0, "\(cleanText)")
            #expect(cleanText.contains("every file older than 0s is loaded"), "\(cleanText)")
        }
    }

    @Test(
        "on a versioned bucket the events carry the version id, a new version of a loaded file is queued, and the old one is not"
    )
    func versionedBucket() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let history = stack.bucket + "-versioned"
            try await stack.s3.createBucket(history)
            try await stack.s3.putBucketVersioning(bucket: history, enabled: true)
            let buckets = "\(stack.bucket),\(history)"
            try await stack.sqs.purgeQueue(queueURL: stack.provisioned.queueURL)
            _ = try await stack.s3.putObject(
                bucket: history, key: "acme/data/orders-a.csv", body: ordersCSV(from: 0, count: 5))
            _ = try await stack.s3.putObject(
                bucket: history, key: "acme/data/orders-b.csv", body: ordersCSV(from: 5, count: 5))
            let (loaded, loadText) = try await Self.run(
                ["load", "s3://\(history)/acme/data/orders-a.csv", "--route", "acme-orders"],
                stack, routes: routes, buckets: buckets)
            #expect(loaded == 0, "\(loadText)")
            let ledgerVersion = try await stack.sql(
                "SELECT version FROM esteira_ledger WHERE object_key = 'acme/data/orders-a.csv'"
            ).scalar
            let head = try await stack.s3.headObject(bucket: history, key: "acme/data/orders-a.csv")
            #expect(head.versionID != nil && ledgerVersion == head.versionID, "the ledger should key the version id")

            let (first, firstText) = try await Self.run(
                ["backfill", "s3://\(history)/", "--json"], stack, routes: routes, buckets: buckets)
            #expect(first == 0, "\(firstText)")
            let summary = try LoadCommandTests.json(firstText)
            #expect(summary["already_loaded"] as? Int == 1)
            #expect(summary["queued"] as? Int == 1)
            let bodies = try await Self.queued(stack)
            let headB = try await stack.s3.headObject(bucket: history, key: "acme/data/orders-b.csv")
            var events: [ObjectCreated] = []
            for body in bodies.values {
                if case .objectsCreated(let o) = try S3EventDecoder.decode(body) { events += o }
            }
            #expect(events.map(\.key) == ["acme/data/orders-b.csv"])
            #expect(events.first?.versionID != nil && events.first?.versionID == headB.versionID)
            let w = try WorkerProcess(
                ["worker", "--until-idle", "--no-http"], stack: stack, routes: routes,
                extraEnv: ["ESTEIRA_BUCKET": buckets])
            #expect(await w.wait(timeout: 120) == 0, "\(w.log.suffix(2000))")
            #expect(try await stack.count("orders") == 10)

            // A new version of the loaded file is a new file to the ledger: queued, and only it.
            _ = try await stack.s3.putObject(
                bucket: history, key: "acme/data/orders-a.csv", body: ordersCSV(from: 100, count: 5))
            let (second, secondText) = try await Self.run(
                ["backfill", "s3://\(history)/", "--json"], stack, routes: routes, buckets: buckets)
            #expect(second == 0, "\(secondText)")
            let again = try LoadCommandTests.json(secondText)
            #expect(again["queued_files"] as? [String] == ["s3://\(history)/acme/data/orders-a.csv"])
            #expect(again["already_loaded"] as? Int == 1)
        }
    }

    @Test(
        "files a worker holds, will retry, or dead-lettered are neither queued by backfill nor reported missing by reconcile"
    )
    func inFlightAndFailed() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            let history = stack.bucket + "-inflight"
            try await stack.s3.createBucket(history)
            let buckets = "\(stack.bucket),\(history)"
            try await stack.sqs.purgeQueue(queueURL: stack.provisioned.queueURL)
            let jobs = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            var objects: [String: ObjectCreated] = [:]
            for name in ["running", "failed", "missing"] {
                let key = "acme/data/orders-\(name).csv"
                let put = try await stack.s3.putObject(bucket: history, key: key, body: ordersCSV(from: 0, count: 3))
                objects[name] = ObjectCreated(bucket: history, key: key, eTag: put.eTag)
            }
            _ = try await jobs.claim(objects["running"]!, owner: "another-worker", lease: .seconds(600), now: Date())
            try await jobs.recordRejected(objects["failed"]!, reason: "refused for the test")

            let (status, text) = try await Self.run(
                ["backfill", "s3://\(history)/acme/data/", "--json"], stack, routes: routes, buckets: buckets)
            #expect(status == 0, "\(text)")
            let summary = try LoadCommandTests.json(text)
            #expect(summary["in_progress"] as? Int == 1)
            #expect(summary["failed"] as? Int == 1)
            #expect(summary["queued"] as? Int == 1)
            #expect(summary["queued_files"] as? [String] == ["s3://\(history)/acme/data/orders-missing.csv"])

            // --since: only objects last modified since then are looked at.
            let (_, recentText) = try await Self.run(
                ["backfill", "s3://\(history)/acme/data/", "--since", "1d", "--dry-run", "--json"],
                stack, routes: routes, buckets: buckets)
            #expect(try LoadCommandTests.json(recentText)["found"] as? Int == 3)
            let (_, futureText) = try await Self.run(
                ["backfill", "s3://\(history)/acme/data/", "--since", "2999-01-01", "--dry-run", "--json"],
                stack, routes: routes, buckets: buckets)
            #expect(try LoadCommandTests.json(futureText)["found"] as? Int == 0)

            // Reconcile with the queued one now in flight too (the worker's RECEIVED/RUNNING): nothing missing.
            _ = try await jobs.claim(objects["missing"]!, owner: "another-worker", lease: .seconds(600), now: Date())
            let (clean, cleanText) = try await Self.run(
                ["reconcile", "s3://\(history)/acme/data/", "--older-than", "0s"],
                stack, routes: routes, buckets: buckets)
            #expect(clean == 0, "\(cleanText)")
            #expect(cleanText.contains("1 dead-lettered, 2 in progress"), "\(cleanText)")
        }
    }

    @Test(
        "backfill refuses a foreign bucket and a bad --rate; reconcile exits 2 when it cannot check (MySQL, jobs table, foreign bucket)"
    )
    func refusals() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            let (foreign, foreignText) = try await Self.run(
                ["backfill", "s3://someone-elses-bucket/x/"], stack, routes: routes,
                buckets: stack.bucket)
            #expect(foreign == 1)
            #expect(foreignText.contains("not a landing bucket"), "\(foreignText)")
            let (rate, rateText) = try await Self.run(
                ["backfill", "s3://\(stack.bucket)/", "--rate", "0"], stack, routes: routes,
                buckets: stack.bucket)
            #expect(rate != 0)
            #expect(rateText.contains("--rate"), "\(rateText)")

            // A check that cannot reach MySQL or the jobs table is not "nothing missing" (0) nor "missing" (1),
            // even when no object needs a lookup.
            let p = try WorkerProcess(
                ["reconcile"], stack: stack, routes: routes,
                extraEnv: ["ESTEIRA_MYSQL_URL": "mysql://nobody:x@127.0.0.1:1/none"])
            let unreachable = await p.wait(timeout: 60)
            #expect(unreachable == 2, "\(p.log)")
            #expect(p.log.contains("cannot reach MySQL"), "\(p.log)")
            let q = try WorkerProcess(
                ["reconcile", "--jobs-table", "no-such-table-\(UInt32.random(in: 0...UInt32.max))"],
                stack: stack, routes: routes)
            let noTable = await q.wait(timeout: 60)
            #expect(noTable == 2, "\(q.log)")
            #expect(q.log.contains("does not exist"), "\(q.log)")
            let (foreignReconcile, foreignReconcileText) = try await Self.run(
                ["reconcile", "s3://someone-elses-bucket/"],
                stack, routes: routes, buckets: stack.bucket)
            #expect(foreignReconcile == 2)
            #expect(foreignReconcileText.contains("not a landing bucket"), "\(foreignReconcileText)")
        }
    }
}
