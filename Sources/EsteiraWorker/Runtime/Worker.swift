import EsteiraAWS
import EsteiraPipeline
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Long-polls the queue and runs each file through claim → load → acknowledge.
///
/// At-least-once in, exactly-once out: a message is deleted only after its file's rows are committed
/// (or after it was sent to the dead-letter queue); on any doubt it goes back to the queue.
///
/// The worker reaches the world through three seams: the queue (`WorkQueue`), the jobs table
/// (`JobTracker`) and the pipeline (`FileLoading`). Building one calls nothing; `connect` resolves the
/// real queues first. Its work is split by responsibility:
/// - Worker+ReceiveLoop: polling only as many messages as there are free slots, and the drain on SIGTERM.
/// - Worker+Message: one message, which may name several files.
/// - Worker+File: one file: checks, claim, load with its heartbeat, outcome.
/// - Worker+Acknowledge: deleting, giving back, and the one way to the dead-letter queue.
public final class Worker: Sendable {
    public let settings: WorkerSettings
    let queue: any WorkQueue
    let jobs: any JobTracker
    let pipeline: any FileLoading
    /// The fleet-wide database budget (nil: loads are capped only by `concurrency`).
    let budget: (any LoadBudget)?
    /// Load slots (`concurrency`) and the files parked waiting for budget.
    let slots: SlotCounter
    /// Told of each file's final outcome, in the background (nil: no notifications).
    let notifier: Notifier?
    let logger: Logger
    public let metrics: WorkerMetrics
    let stats = Mutex(WorkerSummary())
    /// When the receive loop last came round: `/healthz` fails if it stops turning.
    let lastPoll = Mutex(ContinuousClock.now)
    /// Files in hand now; a worker busy with long files is alive even while it does not poll.
    let inHand = Mutex(0)

    /// A worker on the given queue and jobs table; nothing is called until `run`.
    public init(
        settings: WorkerSettings, queue: any WorkQueue, jobs: any JobTracker, pipeline: any FileLoading,
        metrics: WorkerMetrics = WorkerMetrics(), notifier: Notifier? = nil, budget: (any LoadBudget)? = nil,
        logger: Logger = Logger(label: "esteira.worker")
    ) {
        self.settings = settings
        self.budget = budget
        self.slots = SlotCounter(settings.concurrency, maxParked: settings.maxWaiting)
        self.notifier = notifier
        self.metrics = metrics
        self.queue = queue
        self.jobs = jobs
        self.pipeline = pipeline
        var logger = logger
        logger[metadataKey: "worker"] = "\(settings.workerID)"
        self.logger = logger
    }

    /// A worker on SQS and DynamoDB: resolves the queues named in `settings` (failing with
    /// `queueDoesNotExist` when `esteira setup` was not run), then builds the worker.
    public static func connect(
        settings: WorkerSettings, sqs: SQSClient, dynamo: DynamoDBClient, pipeline: any FileLoading,
        metrics: WorkerMetrics = WorkerMetrics(), notifier: Notifier? = nil,
        logger: Logger = Logger(label: "esteira.worker")
    ) async throws -> Worker {
        let queue = try await SQSWorkQueue.connect(
            sqs: sqs, queueName: settings.queueName,
            deadLetterQueueName: settings.deadLetterQueueName)
        return Worker(
            settings: settings, queue: queue, jobs: JobLedger(dynamo: dynamo, table: settings.jobsTable),
            pipeline: pipeline, metrics: metrics, notifier: notifier,
            budget: settings.loadBudget == nil ? nil : DynamoLoadBudget(dynamo: dynamo, table: settings.jobsTable),
            logger: logger)
    }

    /// Files handled so far by this process.
    public var summary: WorkerSummary { stats.withLock { $0 } }

    /// Time since the receive loop last came round (liveness).
    public var sinceLastPoll: Duration { ContinuousClock.now - lastPoll.withLock { $0 } }

    /// Alive: the receive loop turned recently, or files are in hand (their heartbeats keep them honest).
    public func isLive(stuckAfter: Duration) -> Bool { sinceLastPoll < stuckAfter || inHand.withLock { $0 } > 0 }
}

extension Worker: Service {}
