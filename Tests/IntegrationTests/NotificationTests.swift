import EsteiraAWS
import EsteiraCSV
import EsteiraPipeline
import EsteiraTestSupport
import EsteiraWorker
import Foundation
import Testing

/// Notifications from the real worker on the real local stack: moto's SNS delivering to a subscribed
/// SQS queue, and a loopback HTTP server standing in for a partner's webhook.
@Suite("Notifications: SNS and signed webhooks")
struct NotificationTests {
    static let table =
        "CREATE TABLE pedidos (id BIGINT PRIMARY KEY, valor DECIMAL(10,2) NOT NULL) CHARACTER SET utf8mb4"
    static let good = "id,valor\r\n1,10.50\r\n2,20.00\r\n"
    /// Two of three rows refused, above the route's 30 % threshold: TooManyRejects, with a rejects file.
    static let bad = "id,valor\r\n1,10.50\r\n2,dez\r\n3,onze\r\n"

    static func route(notify: RouteNotify? = nil) -> Route {
        let contract = CSVContract(columns: [
            ColumnContract(name: "id", type: "bigint", required: true),
            ColumnContract(name: "valor", type: "decimal(10,2)", required: true),
        ])
        var route = Route(
            name: "loja-pedidos", tenant: "loja", pattern: "pedidos*.csv", table: "pedidos",
            contract: contract, rejectThreshold: 0.3)
        route.notify = notify
        return route
    }

    static func fastSettings(_ global: NotifyTargets, secret: String? = "s3cr3t") -> Notifier.Settings {
        var s = Notifier.Settings(global: global, webhookSecret: secret.map { Array($0.utf8) })
        s.backoff = RetryBackoff(base: .milliseconds(50), cap: .milliseconds(200))
        s.attempts = 4
        s.webhookTimeout = .seconds(3)
        return s
    }

    @Test("a route's SNS topic receives FAILED (code, reason, rejects) and SUCCEEDED (rows) through a subscribed queue")
    func snsToQueue() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            let sns = SNSClient(client: stack.aws)
            let id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            let topic = try await sns.createTopic(name: "esteira-t-\(id)")
            let inboxURL = try await stack.sqs.createQueue(name: "esteira-t-\(id)-inbox")
            let inboxARN = try #require(
                try await stack.sqs.getQueueAttributes(queueURL: inboxURL, names: ["QueueArn"])["QueueArn"])
            try await sns.subscribe(
                topicARN: topic, protocol: "sqs", endpoint: inboxARN,
                attributes: ["RawMessageDelivery": "true"])

            try await stack.s3.putObject(
                bucket: stack.bucket, key: "loja/data/pedidos-ok.csv", body: Array(Self.good.utf8))
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "loja/data/pedidos-ruim.csv", body: Array(Self.bad.utf8))
            let notifier = Notifier(
                settings: Self.fastSettings(NotifyTargets()), sns: sns, logger: TestStack.quietLogger)
            let routes = try RouteTable(routes: [
                Self.route(notify: RouteNotify(snsTopic: topic, on: ["failed", "succeeded"]))
            ])
            let summary = try await stack.drain(routes: routes, notifier: notifier)
            #expect(summary.succeeded == 1)
            #expect(summary.failed == 1)
            await notifier.finish(grace: .seconds(10))
            #expect(notifier.stats.sent == 2, "\(notifier.stats)")

            var bodies: [[String: Any]] = []
            for _ in 0..<5 where bodies.count < 2 {
                for m in try await stack.sqs.receiveMessages(queueURL: inboxURL, maxMessages: 10, waitSeconds: 1) {
                    var object = try #require(
                        try JSONSerialization.jsonObject(with: Data(m.body.utf8)) as? [String: Any])
                    // Without raw delivery, SNS wraps the payload in an envelope: unwrap it.
                    if let inner = object["Message"] as? String {
                        object = try #require(
                            try JSONSerialization.jsonObject(with: Data(inner.utf8)) as? [String: Any])
                    }
                    bodies.append(object)
                }
            }
            let failed = try #require(bodies.first { $0["event"] as? String == "FAILED" })
            let succeeded = try #require(bodies.first { $0["event"] as? String == "SUCCEEDED" })
            #expect(failed["key"] as? String == "loja/data/pedidos-ruim.csv")
            #expect(failed["bucket"] as? String == stack.bucket)
            #expect(failed["code"] as? String == "TooManyRejects")
            #expect((failed["reason"] as? String)?.contains("reject_threshold") == true)
            #expect((failed["rejects_uri"] as? String)?.hasPrefix("s3://\(stack.bucket)/") == true)
            #expect(failed["route"] as? String == "loja-pedidos")
            #expect(failed["tenant"] as? String == "loja")
            #expect(failed["table"] as? String == "pedidos")
            #expect(failed["rows_loaded"] is NSNull)
            #expect(succeeded["key"] as? String == "loja/data/pedidos-ok.csv")
            #expect(succeeded["rows_loaded"] as? Int == 2)
            #expect(succeeded["rows_rejected"] as? Int == 0)
            #expect(succeeded["code"] is NSNull)
            #expect(
                (succeeded["job_id"] as? String)?.hasPrefix("s3://\(stack.bucket)/loja/data/pedidos-ok.csv#") == true)
            _ = try? await sns.deleteTopic(topicARN: topic)
        }
    }

    @Test("a webhook answering 500 twice then 200 gets the signed FAILED notification; the load does not wait for it")
    func webhookRetried() async throws {
        let answers = Counter()
        let server = try LoopbackHTTPServer { _ in
            answers.next() <= 2 ? .respond(status: 500) : .respond(status: 200)
        }
        defer { server.stop() }
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "loja/data/pedidos-ruim.csv", body: Array(Self.bad.utf8))
            var settings = Self.fastSettings(NotifyTargets(webhook: try WebhookURL(server.url + "/hook")))
            // Slow retries: the drain must finish long before the third try is due.
            settings.backoff = RetryBackoff(base: .seconds(2), cap: .seconds(2))
            let notifier = Notifier(settings: settings, sns: nil, logger: TestStack.quietLogger)
            let started = ContinuousClock.now
            let summary = try await stack.drain(routes: try RouteTable(routes: [Self.route()]), notifier: notifier)
            #expect(summary.failed == 1)
            await notifier.finish(grace: .seconds(15))
            let stats = notifier.stats
            #expect(stats.sent == 1 && stats.failed == 0 && stats.dropped == 0 && stats.retries == 2)
            #expect(ContinuousClock.now - started > .seconds(0))
            let requests = server.requests
            #expect(requests.count == 3)
            let last = try #require(requests.last)
            #expect(last.method == "POST")
            #expect(last.path == "/hook")
            #expect(last.header("content-type") == "application/json")
            #expect(last.header("x-esteira-event") == "FAILED")
            let signature = try #require(last.header("x-esteira-signature"))
            #expect(
                WebhookSignature.verify(
                    signature, body: last.body, secret: Array("s3cr3t".utf8),
                    now: Int64(Date().timeIntervalSince1970)))
            #expect(
                !WebhookSignature.verify(
                    signature, body: last.body, secret: Array("wrong".utf8),
                    now: Int64(Date().timeIntervalSince1970)))
            // Every retry is the same delivery: one id a receiver can deduplicate on.
            #expect(Set(requests.compactMap { $0.header("x-esteira-delivery") }).count == 1)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(last.body)) as? [String: Any])
            #expect(object["code"] as? String == "TooManyRejects")
            #expect(object["key"] as? String == "loja/data/pedidos-ruim.csv")
        }
    }

    @Test("the drain does not wait for a webhook's retries")
    func loadNotDelayed() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 503) }
        defer { server.stop() }
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "loja/data/pedidos-ruim.csv", body: Array(Self.bad.utf8))
            var settings = Self.fastSettings(NotifyTargets(webhook: try WebhookURL(server.url + "/hook")))
            settings.backoff = RetryBackoff(base: .seconds(30), cap: .seconds(30))
            let notifier = Notifier(settings: settings, sns: nil, logger: TestStack.quietLogger)
            let drained = ContinuousClock.now
            let summary = try await stack.drain(routes: try RouteTable(routes: [Self.route()]), notifier: notifier)
            let took = ContinuousClock.now - drained
            #expect(summary.failed == 1)
            // A retry is due in up to 30 s; the drain (about two idle polls) did not wait for it.
            #expect(took < .seconds(25))
            let stopping = ContinuousClock.now
            await notifier.finish(grace: .milliseconds(300))
            #expect(ContinuousClock.now - stopping < .seconds(5))
            #expect(notifier.stats.dropped == 1)
            #expect(notifier.stats.sent == 0)
        }
    }

    @Test("an unreachable webhook fails only the notification, never the file")
    func unreachableWebhook() async throws {
        // Port 1 on loopback: nothing listens there, and no other test's server can take it (it is privileged).
        let url = "http://127.0.0.1:1/hook"
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "loja/data/pedidos-ok.csv", body: Array(Self.good.utf8))
            let notifier = Notifier(
                settings: Self.fastSettings(
                    NotifyTargets(
                        webhook: try WebhookURL(url),
                        events: [.failed, .succeeded])),
                sns: nil, logger: TestStack.quietLogger)
            let summary = try await stack.drain(routes: try RouteTable(routes: [Self.route()]), notifier: notifier)
            #expect(summary.succeeded == 1)
            #expect(summary.failed == 0)
            #expect(try await stack.count("pedidos") == 2)
            await notifier.finish(grace: .seconds(10))
            #expect(notifier.stats.failed == 1)
            #expect(notifier.stats.retries == 3)
            #expect(try await stack.deadLetters().isEmpty)
        }
    }

    @Test("a 2xx answer counts as soon as its head is in: a huge (here, cut) answer body is never buffered")
    func answerBodyNotRead() async throws {
        // Claims a 1 GB body, sends 4 bytes and hangs up: reading the body would fail (and buffer it if it came).
        let server = try LoopbackHTTPServer { _ in
            .respond(status: 200, headers: [("content-length", "1000000000")], body: Array("oops".utf8))
        }
        defer { server.stop() }
        var settings = Self.fastSettings(NotifyTargets(webhook: try WebhookURL(server.url + "/hook")))
        settings.attempts = 2
        // Generous deadlines (met at once when it works): the whole suite shares two cores.
        settings.webhookTimeout = .seconds(20)
        let notifier = Notifier(settings: settings, sns: nil, logger: TestStack.quietLogger)
        notifier.enqueue(
            FileNotification(
                event: .failed, bucket: "b", key: "loja/data/x.csv", version: nil, route: nil,
                tenant: nil, table: nil, code: "BadCSV", reason: "r", rowsLoaded: nil,
                rowsRejected: nil, rejectsURI: nil, jobID: "j", worker: "w"), route: nil)
        await notifier.finish(grace: .seconds(45))
        #expect(notifier.stats.sent == 1)
        #expect(notifier.stats.retries == 0)
    }

    @Test("a full delivery queue drops and counts, and never blocks the caller")
    func fullQueueDrops() async throws {
        let server = try LoopbackHTTPServer { _ in .respond(status: 503) }
        defer { server.stop() }
        var settings = Self.fastSettings(NotifyTargets(webhook: try WebhookURL(server.url + "/hook")))
        settings.capacity = 2
        settings.parallel = 1
        settings.backoff = RetryBackoff(base: .seconds(30), cap: .seconds(30))
        let notifier = Notifier(settings: settings, sns: nil, logger: TestStack.quietLogger)
        let n = FileNotification(
            event: .failed, bucket: "b", key: "loja/data/x.csv", version: nil, route: nil, tenant: nil,
            table: nil, code: "BadCSV", reason: "r", rowsLoaded: nil, rowsRejected: nil, rejectsURI: nil,
            jobID: "j", worker: "w")
        let started = ContinuousClock.now
        for _ in 0..<50 { notifier.enqueue(n, route: nil) }
        #expect(ContinuousClock.now - started < .seconds(1))
        // At most capacity (2) wait, one is being delivered and one more is in the consumer's hand.
        #expect(notifier.stats.dropped >= 50 - 2 - 1 - 1)
        await notifier.finish(grace: .milliseconds(100))
        #expect(notifier.stats.dropped + notifier.stats.sent + notifier.stats.failed == 50)
    }
}

/// A thread-safe count of calls.
final class Counter: Sendable {
    private let value = LockedCount()
    func next() -> Int { value.increment() }
}

final class LockedCount: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        n += 1
        return n
    }
}

extension TestStack {
    /// Runs one worker with `notifier` until the queue is drained.
    func drain(routes: RouteTable, notifier: Notifier) async throws -> WorkerSummary {
        var settings = WorkerSettings(
            queueName: queue, deadLetterQueueName: deadLetterQueue, jobsTable: jobsTable,
            landingBuckets: try LandingBuckets([bucket]), concurrency: 2)
        settings.untilIdle = true
        settings.idlePolls = 2
        let pipeline = FilePipeline(s3: s3, mysql: mysql, routes: routes, logger: TestStack.quietLogger)
        let worker = try await Worker.connect(
            settings: settings, sqs: sqs, dynamo: dynamo, pipeline: pipeline,
            notifier: notifier, logger: TestStack.quietLogger)
        try await worker.run()
        return worker.summary
    }
}
