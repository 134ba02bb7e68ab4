import EsteiraAWS
import EsteiraPipeline
import EsteiraWorkerTestSupport
import Foundation
import Logging
import Testing

@testable import EsteiraWorker

/// One worker on an in-memory queue, jobs table and scripted loader, with settings short enough that a
/// heartbeat, a stall or a grace period passes in a fraction of a second.
struct WorkerBench {
    let queue = InMemoryWorkQueue()
    let jobs = InMemoryJobTracker()
    let loader: ScriptedFileLoader
    let budget = InMemoryLoadBudget()
    let worker: Worker

    static let quiet = Logger(label: "esteira.test") { _ in SwiftLogNoOpLogHandler() }

    /// For a test that asserts every call the worker makes: a lease and visibility timeout of a minute, so
    /// no heartbeat comes within the test however loaded the machine. With the bench's 100 ms period the
    /// first beat falls on the shared tick 25 to 125 ms after the claim, and a test slowed past 25 ms (on
    /// CI, every test of one run took 130 ms) found a lease extension or a visibility change it did not list.
    static func noHeartbeat(_ s: inout WorkerSettings) {
        s.lease = .seconds(60)
        s.visibilityTimeout = .seconds(60)
    }

    /// `loadBudget` gives the worker the in-memory budget with these caps (database `db`).
    init(
        notifier: Notifier? = nil, loader: ScriptedFileLoader = ScriptedFileLoader(),
        loadBudget: LoadBudgetConfig? = nil, _ configure: (inout WorkerSettings) -> Void = { _ in }
    ) throws {
        self.loader = loader
        var s = WorkerSettings(
            queueName: "q", deadLetterQueueName: "q-dlq", jobsTable: "jobs",
            landingBuckets: try LandingBuckets(["landing"]), concurrency: 2, workerID: "w1")
        s.receiveWait = .milliseconds(20)
        // Heartbeat every 100 ms.
        s.visibilityTimeout = .milliseconds(200)
        s.lease = .milliseconds(200)
        s.retryBackoff = RetryBackoff(base: .milliseconds(1), cap: .milliseconds(4))
        s.receiveBackoff = RetryBackoff(base: .milliseconds(1), cap: .milliseconds(4))
        s.shutdownGrace = .milliseconds(150)
        s.stallTimeout = .seconds(60)
        s.untilIdle = true
        s.idlePolls = 1
        s.loadBudget = loadBudget
        s.database = "db"
        s.budgetPoll = RetryBackoff(base: .milliseconds(2), cap: .milliseconds(10))
        configure(&s)
        worker = Worker(
            settings: s, queue: queue, jobs: jobs, pipeline: loader, notifier: notifier,
            budget: loadBudget == nil ? nil : budget, logger: Self.quiet)
    }

    func object(_ name: String, bucket: String = "landing", size: Int64 = 100) -> ObjectCreated {
        ObjectCreated(bucket: bucket, key: "acme/data/\(name)", size: size, eTag: "etag-\(name)")
    }

    /// Puts the object's S3 event on the queue and receives it, as the receive loop would.
    func deliver(_ o: ObjectCreated, receivedBefore: Int = 0, attributes: [String: String] = [:]) async throws
        -> SQSMessage
    {
        try await deliver(body: o.notificationBody, receivedBefore: receivedBefore, attributes: attributes)
    }

    func deliver(body: String, receivedBefore: Int = 0, attributes: [String: String] = [:]) async throws -> SQSMessage {
        let id = queue.put(body: body, messageAttributes: attributes, receivedBefore: receivedBefore)
        let received = try await queue.receive(max: 10, wait: .zero, visibilityTimeout: .seconds(30))
        return try #require(received.first { $0.messageID == id })
    }

    /// Delivers the object and lets the worker handle its message to the end.
    func handle(_ o: ObjectCreated, receivedBefore: Int = 0) async throws -> SQSMessage {
        let m = try await deliver(o, receivedBefore: receivedBefore)
        await worker.handle(m)
        return m
    }

    /// The only dead letter, which the test expects.
    func deadLetter() throws -> InMemoryWorkQueue.DeadLetter {
        #expect(queue.deadLetters.count == 1)
        return try #require(queue.deadLetters.first)
    }
}

/// Waits (polling briefly) until `condition` holds; records an issue after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("timed out waiting for: \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}

/// A transient failure, as the pipeline classifies a lost connection.
let lostConnection = PipelineError(.database, "lost connection to MySQL server during query", transient: true)
