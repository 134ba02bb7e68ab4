import EsteiraAWS
import EsteiraWorker
import Foundation
import Testing

/// What a small file costs in AWS calls, on the real stack: batched deletes and visibility changes, and
/// two jobs-table writes (claim and success) for a file that loads at once.
@Suite("The cost of a small file on the real stack", .serialized)
struct SmallFileCostTests {
    /// A client that counts its requests into `metrics`, as the worker's does.
    static func counted(_ metrics: WorkerMetrics) throws -> AWSClient {
        AWSClient(
            config: try AWSConfig.fromEnvironment(), logger: TestStack.quietLogger,
            requestObserver: { metrics.awsRequest(service: $0, operation: $1) })
    }

    static func count(_ metrics: WorkerMetrics, _ service: String, _ operation: String) -> Int {
        count(metrics.exposition(), service, operation)
    }

    /// `esteira_aws_requests_total{service,operation}` in a /metrics text; 0 when absent.
    static func count(_ exposition: String, _ service: String, _ operation: String) -> Int {
        let prefix = #"esteira_aws_requests_total{service="\#(service)",operation="\#(operation)"} "#
        for line in exposition.split(separator: "\n") where line.hasPrefix(prefix) {
            return Int(Double(line.dropFirst(prefix.count)) ?? -1)
        }
        return 0
    }

    @Test("deletes and visibility changes made together go out as one batch request per queue")
    func batchedOnMoto() async throws {
        try await TestStack.with { stack in
            let metrics = WorkerMetrics()
            let sqs = SQSClient(client: try Self.counted(metrics))
            let queue = SQSWorkQueue(
                sqs: sqs, queueURL: stack.provisioned.queueURL, deadLetterURL: stack.provisioned.deadLetterURL)
            for i in 0..<6 { try await stack.sqs.sendMessage(queueURL: stack.provisioned.queueURL, body: "m\(i)") }
            var messages: [SQSMessage] = []
            while messages.count < 6 {
                messages += try await queue.receive(max: 10, wait: .seconds(1), visibilityTimeout: .seconds(60))
            }
            let receives = Self.count(metrics, "sqs", "ReceiveMessage")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for m in messages.prefix(3) { group.addTask { try await queue.changeVisibility(m, to: .seconds(90)) } }
                try await group.waitForAll()
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for m in messages { group.addTask { try await queue.delete(m) } }
                try await group.waitForAll()
            }
            #expect(Self.count(metrics, "sqs", "ChangeMessageVisibilityBatch") == 1)
            #expect(Self.count(metrics, "sqs", "DeleteMessageBatch") == 1)
            #expect(Self.count(metrics, "sqs", "DeleteMessage") == 0)
            #expect(Self.count(metrics, "sqs", "ReceiveMessage") == receives)
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
        }
    }

    @Test("one-row files that load at once cost two jobs-table writes each and no read")
    func twoWritesPerFile() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let files = 6
            for i in 0..<files {
                try await stack.s3.putObject(
                    bucket: stack.bucket, key: "acme/data/orders-one-\(i).csv",
                    body: Array("order_id,customer,amount,notes\n\(i),Ana,10.50,\n".utf8))
            }
            let port = freePort()
            let worker = try WorkerProcess(
                ["worker", "--concurrency", "3", "--http-port", "\(port)"], stack: stack, routes: routes)
            defer { if worker.process.isRunning { worker.signal(SIGTERM) } }
            let metrics = await worker.metrics(port: port, timeout: 90) {
                $0.contains("esteira_files_succeeded_total \(files)")
            }
            #expect(metrics.contains("esteira_files_succeeded_total \(files)"), "log:\n\(worker.log.suffix(1500))")
            func count(_ service: String, _ operation: String) -> Int { Self.count(metrics, service, operation) }
            #expect(count("dynamodb", "UpdateItem") == 2 * files, "\(metrics)")
            #expect(count("dynamodb", "GetItem") == 0)
            #expect(count("s3", "GetObject") == files)
            #expect(count("sqs", "DeleteMessage") == 0)
            // One per file at most (plus the s3:TestEvent setup sends); files that end together share one.
            #expect((1...files + 1).contains(count("sqs", "DeleteMessageBatch")), "\(metrics)")
            #expect(try await stack.count("orders") == files)
            worker.signal(SIGTERM)
            #expect(await worker.wait(timeout: 60) == 0, "log:\n\(worker.log.suffix(1500))")
        }
    }
}
