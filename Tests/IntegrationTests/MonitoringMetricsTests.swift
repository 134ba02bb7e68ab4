import EsteiraAWS
import EsteiraTestSupport
import EsteiraWorker
import Foundation
import Synchronization
import Testing

/// The chart's alerts and dashboard name only metrics a running worker really serves at `/metrics`.
@Suite("Monitoring: the chart's metric names exist", .serialized)
struct MonitoringMetricsTests {
    @Test("every esteira_* metric of the alert rules and the dashboard is exported by a running worker")
    func chartNamesAreExported() async throws {
        let wanted = try ChartMetricNames.used().filter { !$0.hasPrefix("esteira_sftp_") }
        #expect(wanted.count >= 10, "found only \(wanted.sorted())")
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            // One file loaded with a refused row, one dead-lettered: every counter family has a sample.
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-ok.csv",
                body: Array("order_id,customer,amount,notes\n1,Ana,10.50,\n2,Bruno\n".utf8))
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-bad.csv",
                body: Array("order_id,customer,phone\n1,A,555\n".utf8))
            let port = freePort()
            let worker = try WorkerProcess(
                ["worker", "--concurrency", "2", "--http-port", "\(port)"], stack: stack, routes: routes)
            defer { if worker.process.isRunning { worker.signal(SIGTERM) } }
            let metrics = await worker.metrics(port: port, timeout: 60, every: .milliseconds(300)) {
                wanted.isSubset(of: ChartMetricNames.exported($0)) && $0.contains("esteira_files_succeeded_total 1")
                    && !$0.contains(#"esteira_queue_messages{queue="dead_letter",state="visible"} -1"#)
            }
            let exported = ChartMetricNames.exported(metrics)
            #expect(
                wanted.subtracting(exported).isEmpty,
                "named by the chart but not exported: \(wanted.subtracting(exported).sorted())\n\(metrics)\nlog:\n\(worker.log.suffix(1500))"
            )
            // The values behind the alerts are real: the refused row by route, the failure by reason, both queues sampled.
            #expect(metrics.contains(#"esteira_rows_rejected_total{route="acme-orders"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"esteira_files_failed_total{reason="BadHeader"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"esteira_queue_messages{queue="main",state="visible"}"#))
            #expect(!metrics.contains(#"state="visible"} -1"#), "queue depths were never sampled:\n\(metrics)")
            // The worker counts its own AWS calls: the claim's write and the S3 GET of the loaded file.
            #expect(metrics.contains(#"esteira_aws_requests_total{service="dynamodb",operation="UpdateItem"}"#))
            #expect(metrics.contains(#"esteira_aws_requests_total{service="s3",operation="GetObject"}"#), "\(metrics)")
            worker.signal(SIGTERM)
            #expect(await worker.wait(timeout: 60) == 0, "log:\n\(worker.log.suffix(1500))")
        }
    }

    @Test("every HTTP request to AWS, a retry too, is counted by service and action in esteira_aws_requests_total")
    func awsRequestsAreCounted() async throws {
        let moto = try #require(URLComponents(string: try requireEnv("AWS_ENDPOINT_URL"))?.port)
        // A proxy in front of moto that answers the first request with a 503: the client retries it.
        let answered = Atomic<Int>(0)
        let proxy = try LoopbackHTTPServer { _ in
            answered.add(1, ordering: .relaxed).newValue == 1
                ? .json(503, #"{"__type":"ServiceUnavailable","message":"injected"}"#) : .forward(port: moto)
        }
        defer { proxy.stop() }
        var config = try AWSConfig.fromEnvironment()
        let endpoint = try AWSEndpoint(url: "http://127.0.0.1:\(proxy.port)")
        config.endpointOverrides[.sqs] = endpoint
        config.endpointOverrides[.dynamodb] = endpoint
        let metrics = WorkerMetrics()
        let aws = AWSClient(
            config: config, requestObserver: { metrics.awsRequest(service: $0, operation: $1) })
        let sqs = SQSClient(client: aws)
        let name = "esteira-count-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await sqs.createQueue(name: name)
        _ = try await sqs.getQueueURL(name: name)
        await #expect(throws: AWSError.self) { try await sqs.getQueueURL(name: name + "-missing") }
        _ = try await DynamoDBClient(client: aws).describeTable(name: name)
        let text = metrics.exposition()
        // CreateQueue: the 503 and its retry; GetQueueUrl: the answer and the refusal; DescribeTable once.
        #expect(text.contains(#"esteira_aws_requests_total{service="sqs",operation="CreateQueue"} 2"#), "\(text)")
        #expect(text.contains(#"esteira_aws_requests_total{service="sqs",operation="GetQueueUrl"} 2"#), "\(text)")
        #expect(text.contains(#"esteira_aws_requests_total{service="dynamodb",operation="DescribeTable"} 1"#))
        #expect(proxy.requests.count == 5)
    }

    @Test("the DLQ depth gauge counts what the dead-letter queue holds")
    func deadLetterDepthIsSampled() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            try await stack.sqs.sendMessage(queueURL: stack.provisioned.deadLetterURL, body: "parked")
            try await stack.sqs.sendMessage(queueURL: stack.provisioned.deadLetterURL, body: "parked too")
            let port = freePort()
            let worker = try WorkerProcess(["worker", "--http-port", "\(port)"], stack: stack, routes: routes)
            defer { if worker.process.isRunning { worker.signal(SIGTERM) } }
            let want = #"esteira_queue_messages{queue="dead_letter",state="visible"} 2"#
            let metrics = await worker.metrics(port: port, timeout: 30, every: .milliseconds(300)) {
                $0.contains(want)
            }
            #expect(metrics.contains(want), "\(metrics)\nlog:\n\(worker.log.suffix(1500))")
            worker.signal(SIGTERM)
            #expect(await worker.wait(timeout: 60) == 0, "log:\n\(worker.log.suffix(1500))")
        }
    }
}

/// The `esteira_*` metric names in the chart's alert rules and dashboard, and in an exposition.
enum ChartMetricNames {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func used() throws -> Set<String> {
        var names: Set<String> = []
        for file in ["helm/esteira/files/alerts.yaml", "helm/esteira/files/dashboard.json"] {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /esteira_[a-z0-9_]+/) { names.insert(String(match.output)) }
        }
        return names
    }

    /// Names of the samples in a Prometheus text exposition (`name{labels} value` or `name value`).
    static func exported(_ exposition: String) -> Set<String> {
        var names: Set<String> = []
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            if let end = line.firstIndex(where: { $0 == "{" || $0 == " " }) { names.insert(String(line[..<end])) }
        }
        return names
    }
}
