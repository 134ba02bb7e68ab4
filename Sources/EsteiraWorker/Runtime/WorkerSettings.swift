import Foundation

/// How one worker process runs. Every field has a default; the CLI and the environment override them.
public struct WorkerSettings: Sendable {
    public var queueName: String
    public var deadLetterQueueName: String
    public var jobsTable: String
    /// The only buckets whose files are loaded; events naming any other are dead-lettered as ForeignBucket.
    public var landingBuckets: LandingBuckets
    /// Files worked on at once; also the most messages asked for in one receive.
    public var concurrency: Int
    /// Long-poll wait for ReceiveMessage (SQS allows up to 20 s).
    public var waitSeconds: Int = 20
    /// Visibility timeout set on each received message and renewed by the heartbeat at half its period.
    public var visibilityTimeout: Int = 120
    /// Claim lease in DynamoDB, renewed at half its period.
    public var leaseSeconds: Int = 120
    /// In-process attempts for a transient failure before the message is given back to the queue.
    public var attempts: Int = 3
    /// Exit once the queue (waiting and in-flight messages alike) stays empty for this many consecutive
    /// polls with nothing in hand (demo, tests, batch runs).
    public var untilIdle: Bool = false
    public var idlePolls: Int = 2
    /// On SIGTERM, seconds to let files in hand finish before they are given back.
    /// Keep it below the pod's terminationGracePeriodSeconds.
    public var shutdownGrace: Int = 25
    /// Files larger than this are refused before download (dead-lettered as TooLarge); nil: no limit.
    public var maxObjectBytes: Int64? = nil
    /// A file that reads no bytes and passes no rows on for this many seconds is abandoned and
    /// dead-lettered as `Stalled` (the heartbeat would otherwise keep it claimed for ever).
    public var stallTimeout: Double = 600
    /// Earlier attempts on one version that ended with the process dying, after which the version is
    /// dead-lettered as `Crashed` without being read again.
    public var maxCrashes: Int = 3
    /// Identifies this worker in claims, logs and dead letters.
    public var workerID: String

    public init(queueName: String, deadLetterQueueName: String, jobsTable: String, landingBuckets: LandingBuckets,
                concurrency: Int = ProcessInfo.processInfo.activeProcessorCount, workerID: String? = nil) {
        self.queueName = queueName
        self.landingBuckets = landingBuckets
        self.deadLetterQueueName = deadLetterQueueName
        self.jobsTable = jobsTable
        self.concurrency = max(1, concurrency)
        self.workerID = workerID ?? WorkerSettings.defaultWorkerID()
    }

    static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
    }
}
