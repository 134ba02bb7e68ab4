import EsteiraAWS
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Testing

/// Fair share on the real stack: `esteira setup --routes` creates one queue per tenant, and a fleet of
/// worker processes serves a tenant's few files while another tenant's backlog is still large.
@Suite("Fair share on the real stack", .serialized)
struct FairShareFleetTests {
    static func routes() throws -> String {
        let path = NSTemporaryDirectory() + "esteira-routes-fair-\(UInt32.random(in: 0...UInt32.max)).yaml"
        try """
        routes:
          - name: acme-orders
            tenant: acme
            pattern: "orders*.csv"
            table: acme_orders
          - name: globex-orders
            tenant: globex
            pattern: "orders*.csv"
            table: globex_orders
        fair_share:
          queues: per_tenant
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("setup --routes: a queue per tenant with the shared DLQ, one prefix-filtered notification each, idempotent")
    func setupCreatesTenantQueues() async throws {
        try await TestStack.with { stack in
            let routes = try Self.routes()
            let (planned, plan) = try await OperatorTests.run(
                ["setup", "--print", "--routes", routes], stack, routes: routes)
            #expect(planned == 0, "\(plan)")
            #expect(plan.contains("\(stack.queue)-acme") && plan.contains("prefix globex/data/"), "\(plan)")
            await #expect(throws: (any Error).self) { try await stack.sqs.getQueueURL(name: stack.queue + "-acme") }

            for run in 1...2 {
                let (status, text) = try await OperatorTests.run(["setup", "--routes", routes], stack, routes: routes)
                #expect(status == 0, "setup run \(run): \(text)")
            }
            var arns: [String: String] = [:]
            for tenant in ["acme", "globex"] {
                let url = try await stack.sqs.getQueueURL(name: "\(stack.queue)-\(tenant)")
                let a = try await stack.sqs.getQueueAttributes(
                    queueURL: url,
                    names: ["RedrivePolicy", "VisibilityTimeout", "MessageRetentionPeriod", "Policy", "QueueArn"])
                #expect(a["RedrivePolicy"]?.contains(stack.deadLetterQueue) == true, "\(a)")
                #expect(a["VisibilityTimeout"] == "120" && a["MessageRetentionPeriod"] == "1209600")
                #expect(a["Policy"]?.contains("arn:aws:s3:::\(stack.bucket)") == true)
                arns[tenant] = a["QueueArn"]
            }
            let config = try await stack.s3.bucketNotification(bucket: stack.bucket)
            #expect(config.count == 2, "one configuration per tenant, the catch-all gone: \(config)")
            for tenant in ["acme", "globex"] {
                #expect(config.contains { $0.queueARN == arns[tenant] && $0.prefix == "\(tenant)/data/" }, "\(config)")
            }
            #expect(!config.contains { $0.queueARN == stack.provisioned.queueARN })

            // An upload under acme/data/ lands in acme's queue, not the shared one.
            _ = try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-1.csv", body: ordersCSV(from: 0, count: 1))
            let acmeURL = try await stack.sqs.getQueueURL(name: "\(stack.queue)-acme")
            // Setting a notification sends an s3:TestEvent to its queue first: look past those.
            func events(_ url: String) async throws -> [String] {
                var bodies: [String] = []
                for _ in 0..<3 {
                    bodies += try await stack.sqs.receiveMessages(
                        queueURL: url, maxMessages: 10, waitSeconds: 1, visibilityTimeout: 0
                    ).map(\.body).filter { !$0.contains("s3:TestEvent") }
                }
                return bodies
            }
            let acme = try await events(acmeURL)
            // moto form-encodes the key (acme%2Fdata%2Forders-1.csv).
            #expect(acme.contains { $0.contains("orders-1.csv") }, "\(acme)")
            let main = try await events(stack.provisioned.queueURL)
            #expect(!main.contains { $0.contains("orders-1.csv") }, "the shared queue got it too: \(main)")
            // Without the section (or --routes), setup puts the catch-all back in place of the tenants'.
            let (shared, sharedText) = try await OperatorTests.run(["setup"], stack, routes: try writeRoutes())
            #expect(shared == 0, "\(sharedText)")
            let back = try await stack.s3.bucketNotification(bucket: stack.bucket)
            #expect(back.map(\.queueARN) == [stack.provisioned.queueARN], "\(back)")
        }
    }

    @Test("a worker refuses to start when a tenant's queue is missing, naming esteira setup --routes")
    func missingTenantQueue() async throws {
        try await TestStack.with { stack in
            let routes = try Self.routes()
            let w = try WorkerProcess(["worker", "--until-idle", "--no-http"], stack: stack, routes: routes)
            let status = await w.wait(timeout: 60)
            #expect(status != 0 && status != nil)
            #expect(
                w.log.contains("\(stack.queue)-acme") && w.log.contains("esteira setup --routes"),
                "\(w.log.suffix(1500))")
        }
    }

    @Test("3 worker processes, two tenants: globex's few files are committed while acme's backlog is still large")
    func fewFilesNotStuckBehindBacklog() async throws {
        try await TestStack.with { stack in
            let routes = try Self.routes()
            for t in ["acme_orders", "globex_orders"] {
                _ = try await stack.sql(
                    EndToEndTests.ordersTable.replacingOccurrences(of: "TABLE orders", with: "TABLE \(t)"))
            }
            let setup = try await OperatorTests.run(["setup", "--routes", routes], stack, routes: routes)
            #expect(setup.0 == 0, "\(setup.1)")
            let acmeFiles = 400
            let globexFiles = 6
            try await withThrowingTaskGroup(of: Void.self) { group in
                for f in 0..<acmeFiles {
                    group.addTask {
                        try await stack.s3.putObject(
                            bucket: stack.bucket, key: "acme/data/orders-\(f).csv", body: ordersCSV(from: f, count: 1))
                    }
                    if f % 16 == 15 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
            // The backlog is in acme's queue before any worker starts; globex's files arrive afterwards.
            let workers = try (0..<3).map { _ in
                try WorkerProcess(
                    ["worker", "--until-idle", "--concurrency", "2", "--no-http"], stack: stack, routes: routes)
            }
            // Once the fleet is busy with acme's backlog, globex uploads its few files.
            let started = Date().addingTimeInterval(120)
            while try await stack.count("acme_orders") < 1, Date() < started {
                try await Task.sleep(for: .milliseconds(50))
            }
            for f in 0..<globexFiles {
                _ = try await stack.s3.putObject(
                    bucket: stack.bucket, key: "globex/data/orders-\(f).csv", body: ordersCSV(from: f, count: 1))
            }
            let deadline = Date().addingTimeInterval(120)
            while try await stack.count("globex_orders") < globexFiles, Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let acmeDone = try await stack.count("acme_orders")
            #expect(try await stack.count("globex_orders") == globexFiles)
            #expect(
                acmeDone < acmeFiles / 2,
                "globex's files waited behind acme's backlog: \(acmeDone) of \(acmeFiles) acme files were already in")

            for w in workers {
                let status = await w.wait(timeout: 300)
                #expect(status == 0, "worker exited with \(String(describing: status)):\n\(w.log.suffix(2000))")
            }
            #expect(try await stack.count("acme_orders") == acmeFiles)
            #expect(try await stack.count("globex_orders") == globexFiles)
            #expect(try await stack.deadLetters().isEmpty)
            // Every file was loaded once, from a message received once: fairness gave nothing back.
            let lines = workers.flatMap { $0.log.split(separator: "\n") }
            let loaded = lines.filter { $0.contains(#""msg":"file loaded""#) }
            #expect(loaded.count == acmeFiles + globexFiles)
            let again = lines.filter { $0.contains("receive_count") && !$0.contains(#""receive_count":"1""#) }
            #expect(again.isEmpty, "messages received more than once: \(again.prefix(3))")
            #expect(!lines.contains { $0.contains("giving the message back") })
            // Work came from the tenants' queues, and every process served some of it.
            #expect(loaded.contains { $0.contains("\(stack.queue)-globex") })
            #expect(workers.filter { $0.log.contains("file loaded") }.count >= 2)
        }
    }
}
