import EsteiraAWS
import EsteiraPipeline
import EsteiraTestSupport
import EsteiraWorker
import Foundation
import Testing

/// Files that kill or stall their worker: refused for good after a few tries, and the others still load.
@Suite("Crashed and stalled files on the real stack", .serialized)
struct CrashAndStallTests {
    static let marker = "ESTEIRA-TEST-BOOM-7f3a"

    @Test("a file that aborts the worker process 3 times is dead-lettered as Crashed, unread; the others load")
    func crashLoop() async throws {
        try await TestStack.with(maxReceives: 10) { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            for (i, from) in [0, 100].enumerated() {
                try await stack.s3.putObject(
                    bucket: stack.bucket, key: "acme/data/orders-ok-\(i).csv", body: ordersCSV(from: from, count: 50))
            }
            var boom = ordersCSV(from: 1000, count: 20)
            boom += Array("1020,\(Self.marker),1.00,x\n".utf8)
            let put = try await stack.s3.putObject(bucket: stack.bucket, key: "acme/data/orders-boom.csv", body: boom)
            let object = ObjectCreated(bucket: stack.bucket, key: "acme/data/orders-boom.csv", eTag: put.eTag)

            // Like pods restarted after each crash: run the real binary again until the file is dead-lettered.
            var runs = 0
            var aborted = 0
            var letters: [SQSMessage] = []
            while runs < 8 {
                runs += 1
                let w = try WorkerProcess(
                    [
                        "worker", "--until-idle", "--concurrency", "1", "--visibility-timeout", "12",
                        "--lease", "10", "--no-http",
                    ], stack: stack, routes: routes,
                    extraEnv: ["ESTEIRA_TEST_ABORT_ON_MARKER": Self.marker])
                let status = await w.wait(timeout: 90)
                #expect(status != nil, "worker run \(runs) did not end:\n\(w.log.suffix(1500))")
                if w.process.terminationReason == .uncaughtSignal { aborted += 1 }
                letters = try await stack.deadLetters()
                if !letters.isEmpty { break }
            }
            #expect(aborted == 3, "the file should kill exactly 3 processes before it is refused (runs: \(runs))")
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(letter.messageAttributes["esteira.error-code"] == "Crashed")
            #expect(letter.messageAttributes["esteira.key"] == "acme/data/orders-boom.csv")
            let reason = letter.messageAttributes["esteira.error-message"] ?? ""
            #expect(reason.contains("died 3 times") && reason.contains("last stage reached: read"), "\(reason)")
            // The other files of the run were loaded, and nothing of the crashing one.
            #expect(try await stack.count("orders") == 100)
            #expect(try await stack.sql("SELECT COUNT(*) FROM orders WHERE order_id >= 1000").scalar == "0")
            let item = try await JobLedger(dynamo: stack.dynamo, table: stack.jobsTable).item(object)
            #expect(item?["status"]?.string == "FAILED")
            #expect(item?["stage"]?.string == "read")
            #expect(item?["runs_started"]?.int == 4)
            // The deaths are forgiven once dead-lettered: a replay after the fix starts afresh.
            #expect(item?["runs_ended"]?.int == 4)
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
        }
    }

    @Test("a source that stops sending is abandoned after the stall timeout and dead-lettered as Stalled")
    func stalledSource() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-ok.csv", body: ordersCSV(from: 0, count: 50))
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-stuck.csv", body: ordersCSV(from: 1000, count: 5000))
            // S3 through a proxy that lets the head and a few KB of orders-stuck.csv through, then goes quiet.
            let moto = try #require(URLComponents(string: try requireEnv("AWS_ENDPOINT_URL"))?.port)
            let proxy = try LoopbackHTTPServer { request in
                if request.method == "GET", request.path.hasSuffix("/orders-stuck.csv") {
                    return .forwardThenStall(port: moto, after: 4000, hold: 120)
                }
                return .forward(port: moto)
            }
            defer { proxy.stop() }
            let started = Date()
            let w = try WorkerProcess(
                [
                    "worker", "--until-idle", "--concurrency", "2", "--stall-timeout", "3",
                    "--visibility-timeout", "10", "--lease", "10", "--no-http",
                ],
                stack: stack, routes: routes, extraEnv: ["AWS_ENDPOINT_URL_S3": proxy.url])
            let status = await w.wait(timeout: 90)
            #expect(status == 0, "log:\n\(w.log.suffix(2000))")
            // Well before curl's own 60 s low-speed limit would have ended the transfer.
            #expect(Date().timeIntervalSince(started) < 45)
            let letters = try await stack.deadLetters()
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(letter.messageAttributes["esteira.error-code"] == "Stalled")
            #expect(letter.messageAttributes["esteira.key"] == "acme/data/orders-stuck.csv")
            let reason = letter.messageAttributes["esteira.error-message"] ?? ""
            #expect(reason.contains("no progress for") && reason.contains("in stage read"), "\(reason)")
            #expect(try await stack.count("orders") == 50)
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
        }
    }

    @Test("a file that keeps moving but passes the route's max_duration is Stalled too")
    func maxDuration() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let path = NSTemporaryDirectory() + "esteira-routes-\(UInt32.random(in: 0...UInt32.max)).yaml"
            try """
            routes:
              - name: acme-orders
                tenant: acme
                pattern: "orders*.csv"
                table: orders
                max_duration: 2s
            """.write(toFile: path, atomically: true, encoding: .utf8)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-slow.csv", body: ordersCSV(from: 0, count: 40_000))
            let w = try WorkerProcess(
                ["worker", "--until-idle", "--visibility-timeout", "10", "--lease", "10", "--no-http"],
                stack: stack, routes: path, extraEnv: ["ESTEIRA_TEST_BATCH_DELAY_MS": "300"])
            #expect(await w.wait(timeout: 90) == 0, "log:\n\(w.log.suffix(2000))")
            let letter = try #require(try await stack.deadLetters().first)
            #expect(letter.messageAttributes["esteira.error-code"] == "Stalled")
            #expect(letter.messageAttributes["esteira.error-message"]?.contains("max_duration of 2.0 s") == true)
            #expect(try await stack.count("orders") == 0)
        }
    }
}
