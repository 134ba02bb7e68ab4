import EsteiraAWS
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Synchronization
import Testing

/// The worker as a fleet of real processes: at-least-once in, exactly-once out, nothing lost when one dies.
@Suite("Worker fleet on the real stack", .serialized)
struct WorkerFleetTests {
    @Test("200 files through 3 worker processes: every row exactly once")
    func manyFilesManyWorkers() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let files = 200
            let rowsPerFile = 5
            try await withThrowingTaskGroup(of: Void.self) { group in
                for f in 0..<files {
                    group.addTask {
                        try await stack.s3.putObject(
                            bucket: stack.bucket, key: "acme/data/orders-\(f).csv",
                            body: ordersCSV(from: f * rowsPerFile, count: rowsPerFile))
                    }
                    if f % 16 == 15 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
            let workers = try (0..<3).map { _ in
                try WorkerProcess(
                    ["worker", "--until-idle", "--concurrency", "4", "--no-http"], stack: stack, routes: routes)
            }
            for w in workers {
                let status = await w.wait(timeout: 240)
                #expect(status == 0, "worker exited with \(String(describing: status)):\n\(w.log.suffix(2000))")
            }
            #expect(try await stack.count("orders") == files * rowsPerFile)
            let distinct = try await stack.sql("SELECT COUNT(DISTINCT order_id) FROM orders").scalar
            #expect(distinct == "\(files * rowsPerFile)")
            #expect(try await stack.sql("SELECT COUNT(*) FROM esteira_ledger").scalar == "\(files)")
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
            #expect(try await stack.deadLetters().isEmpty)
            // Every process did some of the work: the queue really was shared.
            let busy = workers.filter { $0.log.contains("file loaded") }.count
            #expect(busy >= 2, "only \(busy) of 3 workers loaded files")
        }
    }

    @Test("a worker SIGKILLed mid-file: another worker finishes the file, once")
    func killedMidFile() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let rows = 150_000
            let put = try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-big.csv",
                body: ordersCSV(from: 0, count: rows))
            let args = ["worker", "--visibility-timeout", "10", "--lease", "10", "--no-http"]
            let first = try WorkerProcess(
                args, stack: stack, routes: routes,
                extraEnv: ["ESTEIRA_TEST_BATCH_DELAY_MS": "40"])
            let jobs = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            let object = ObjectCreated(bucket: stack.bucket, key: "acme/data/orders-big.csv", eTag: put.eTag)
            let claimDeadline = Date().addingTimeInterval(60)
            while try await jobs.item(object)?["status"]?.string != "RUNNING", Date() < claimDeadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(
                try await jobs.item(object)?["status"]?.string == "RUNNING",
                "the first worker never claimed the file:\n\(first.log.suffix(1500))")
            // Let it write some batches inside its transaction, then kill it without warning.
            try await Task.sleep(for: .seconds(1))
            first.signal(SIGKILL)
            _ = await first.wait(timeout: 10)
            #expect(try await stack.count("orders") == 0, "an uncommitted file must leave no rows")

            let second = try WorkerProcess(
                [
                    "worker", "--until-idle", "--visibility-timeout", "10", "--lease", "10",
                    "--no-http",
                ], stack: stack, routes: routes)
            // The message reappears once the dead worker's visibility runs out, and its lease lapses too.
            let deadline = Date().addingTimeInterval(90)
            while try await stack.count("orders") == 0, Date() < deadline, second.process.isRunning {
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(await second.wait(timeout: 60) == 0, "log:\n\(second.log.suffix(1500))")
            #expect(try await stack.count("orders") == rows, "log:\n\(second.log.suffix(1500))")
            let ledger = try await stack.sql("SELECT fencing_token FROM esteira_ledger")
            #expect(ledger.rows.count == 1)
            #expect(ledger.rows.first?.first == "2", "the second attempt holds fencing token 2")
        }
    }

    @Test("SIGTERM: stops receiving, finishes the file in hand, exits 0; /metrics and probes answer meanwhile")
    func sigtermDrains() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-small.csv", body: ordersCSV(from: 0, count: 3))
            let rows = 60_000
            let slow = try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-slow.csv", body: ordersCSV(from: 100, count: rows))
            let port = freePort()
            let worker = try WorkerProcess(
                ["worker", "--concurrency", "1", "--http-port", "\(port)", "--shutdown-grace", "60"],
                stack: stack, routes: routes, extraEnv: ["ESTEIRA_TEST_BATCH_DELAY_MS": "100"])
            // Wait until the small file is in and the slow one is being worked on.
            let metrics = await worker.metrics(port: port, timeout: 60) {
                $0.contains("esteira_files_succeeded_total 1") && $0.contains("esteira_files_in_flight 1")
            }
            #expect(
                metrics.contains("esteira_files_succeeded_total 1"),
                "metrics:\n\(metrics)\nlog:\n\(worker.log.suffix(1500))")
            #expect(metrics.contains(#"esteira_rows_loaded_total{route="acme-orders"} 3"#))
            #expect(metrics.contains("esteira_files_in_flight 1"))
            #expect(metrics.contains("esteira_job_duration_seconds_bucket"))
            // "In flight 1" can still be the small file on its way out (deleting its message): wait until the
            // slow one is claimed, so SIGTERM finds it in hand.
            let jobs = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            let slowObject = ObjectCreated(bucket: stack.bucket, key: "acme/data/orders-slow.csv", eTag: slow.eTag)
            let claimDeadline = Date().addingTimeInterval(60)
            while try await jobs.item(slowObject)?["status"]?.string != "RUNNING", Date() < claimDeadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await jobs.item(slowObject)?["status"]?.string == "RUNNING", "log:\n\(worker.log.suffix(1500))")
            let http = HTTPTransport.shared
            let health = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/healthz"))
            #expect(health.status == 200)
            let ready = try await http.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/readyz"))
            #expect(ready.status == 200, "readyz: \(ready.bodyText)")

            worker.signal(SIGTERM)
            let status = await worker.wait(timeout: 90)
            #expect(status == 0, "exit status \(String(describing: status)); log:\n\(worker.log.suffix(2000))")
            #expect(worker.log.contains("shutting down"))
            #expect(try await stack.count("orders") == 3 + rows, "the file in hand was finished")
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
        }
    }

    @Test("SIGTERM with no grace left: the file in hand is given back at once, lease released, nothing written")
    func sigtermGivesBack() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let put = try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-slow.csv", body: ordersCSV(from: 0, count: 60_000))
            let worker = try WorkerProcess(
                ["worker", "--concurrency", "1", "--no-http", "--shutdown-grace", "0"],
                stack: stack, routes: routes, extraEnv: ["ESTEIRA_TEST_BATCH_DELAY_MS": "100"])
            let ledger = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            let object = ObjectCreated(bucket: stack.bucket, key: "acme/data/orders-slow.csv", eTag: put.eTag)
            let deadline = Date().addingTimeInterval(60)
            while try await ledger.item(object)?["status"]?.string != "RUNNING", Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(500))
            worker.signal(SIGTERM)
            #expect(await worker.wait(timeout: 30) == 0, "log:\n\(worker.log.suffix(2000))")
            #expect(try await stack.count("orders") == 0)
            #expect(try await ledger.item(object)?["status"]?.string == "RECEIVED", "lease released")
            let attrs = try await stack.sqs.getQueueAttributes(
                queueURL: stack.provisioned.queueURL, names: ["ApproximateNumberOfMessages"])
            #expect(attrs["ApproximateNumberOfMessages"] == "1", "the message is visible again at once")
        }
    }

    @Test("a file slower than 3× the visibility timeout is not processed twice")
    func slowFileIsNotDuplicated() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-1.csv", body: ordersCSV(from: 0, count: 10))
            let routes = try EndToEndTests.routes()
            let pipeline = CountingSlowPipeline(
                real: FilePipeline(
                    s3: stack.s3, mysql: stack.mysql, routes: routes,
                    logger: TestStack.quietLogger), delay: 7)
            var settings = WorkerSettings(
                queueName: stack.queue, deadLetterQueueName: stack.deadLetterQueue,
                jobsTable: stack.jobsTable, landingBuckets: try LandingBuckets([stack.bucket]),
                concurrency: 1)
            settings.visibilityTimeout = .seconds(2)
            settings.lease = .seconds(2)
            settings.untilIdle = true
            settings.idlePolls = 3
            // Two workers poll the same queue while the only file takes 3.5× the visibility timeout.
            let a = try await Worker.connect(
                settings: settings, sqs: stack.sqs, dynamo: stack.dynamo, pipeline: pipeline,
                logger: TestStack.quietLogger)
            let b = try await Worker.connect(
                settings: settings, sqs: stack.sqs, dynamo: stack.dynamo, pipeline: pipeline,
                logger: TestStack.quietLogger)
            async let ra: Void = a.run()
            async let rb: Void = b.run()
            _ = try await (ra, rb)
            #expect(pipeline.calls == 1, "the pipeline ran \(pipeline.calls) times")
            #expect(try await stack.count("orders") == 10)
            #expect(a.summary.succeeded + b.summary.succeeded == 1)
        }
    }
}

/// The real pipeline behind a delay, counting how often it is asked to load.
final class CountingSlowPipeline: FileLoading, @unchecked Sendable {
    // Safety: `count` is a Mutex; the rest is set once.
    let real: FilePipeline
    let delay: Double
    private let count = Mutex(0)

    init(real: FilePipeline, delay: Double) {
        self.real = real
        self.delay = delay
    }

    var calls: Int { count.withLock { $0 } }

    func isOwnOutput(key: String) -> Bool { real.isOwnOutput(key: key) }
    func route(forKey key: String) throws(RoutingError) -> Route { try real.route(forKey: key) }
    func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void
    ) async throws(PipelineError) -> FileOutcome {
        count.withLock { $0 += 1 }
        try? await Task.sleep(for: .seconds(delay))
        return try await real.load(source, route: route, fencingToken: fencingToken, beforeCommit: beforeCommit)
    }
}

/// Steals the file's claim (as a worker that took over would) just before the real pre-commit check runs.
final class LeaseThiefPipeline: FileLoading, @unchecked Sendable {
    let real: FilePipeline
    let ledger: JobLedger
    init(real: FilePipeline, ledger: JobLedger) {
        self.real = real
        self.ledger = ledger
    }
    func isOwnOutput(key: String) -> Bool { real.isOwnOutput(key: key) }
    func route(forKey key: String) throws(RoutingError) -> Route { try real.route(forKey: key) }
    func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void
    ) async throws(PipelineError) -> FileOutcome {
        let ledger = self.ledger
        let object = ObjectCreated(bucket: source.bucket, key: source.key, eTag: source.eTag)
        return try await real.load(source, route: route, fencingToken: fencingToken) {
            // Another worker's claim after our lease ran out: a later claim time, a higher token.
            _ = try await ledger.claim(
                object, owner: "thief", lease: .seconds(60), now: Date().addingTimeInterval(10_000))
            try await beforeCommit()
        }
    }
}

@Suite("Fencing before commit")
struct FencingTests {
    @Test("a worker whose lease passed to another cannot commit: the load is rolled back")
    func staleHolderCannotCommit() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-f.csv", body: ordersCSV(from: 0, count: 5))
            let ledger = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            let pipeline = LeaseThiefPipeline(
                real: FilePipeline(
                    s3: stack.s3, mysql: stack.mysql, routes: try EndToEndTests.routes(),
                    logger: TestStack.quietLogger), ledger: ledger)
            var settings = WorkerSettings(
                queueName: stack.queue, deadLetterQueueName: stack.deadLetterQueue,
                jobsTable: stack.jobsTable, landingBuckets: try LandingBuckets([stack.bucket]),
                concurrency: 1)
            settings.attempts = 1
            settings.untilIdle = true
            settings.idlePolls = 1
            // The thief claims as if our lease had run out, which takes a pause past the trusted span
            // (a quarter lease after the claim, when the check is skipped): trust it for no time at all.
            settings.leaseTrust = .zero
            let worker = try await Worker.connect(
                settings: settings, sqs: stack.sqs, dynamo: stack.dynamo, pipeline: pipeline,
                logger: TestStack.quietLogger)
            // The message comes back later (given back); stop after the first attempt.
            let run = Task { try await worker.run() }
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let items = try await stack.dynamo.scan(table: stack.jobsTable)
                if items.contains(where: { $0["owner"]?.string == "thief" }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            try await Task.sleep(for: .seconds(1))
            run.cancel()
            _ = try? await run.value
            #expect(worker.summary.succeeded == 0)
            #expect(try await stack.count("orders") == 0, "the stale holder's rows were rolled back")
            #expect(try await stack.sql("SELECT COUNT(*) FROM esteira_ledger").scalar == "0")
        }
    }
}
