import EsteiraAWS
import EsteiraPipeline
import Foundation

/// How one worker process runs. Every field has a default; the CLI and the environment override them.
/// Every span of time is a `Duration`; the CLI converts its seconds and `10m`-style texts at the edge.
public struct WorkerSettings: Sendable {
    public var queueName: String
    public var deadLetterQueueName: String
    public var jobsTable: String
    /// The only buckets whose files are loaded; events naming any other are dead-lettered as ForeignBucket.
    public var landingBuckets: LandingBuckets
    /// Files worked on at once; also the most messages asked for in one receive.
    public var concurrency: Int
    /// Long-poll wait for ReceiveMessage (SQS allows up to 20 s).
    public var receiveWait: Duration = .seconds(20)
    /// Visibility timeout set on each received message and renewed by the heartbeat at half its period.
    public var visibilityTimeout: Duration = .seconds(120)
    /// Claim lease in the jobs table, renewed at half its period.
    public var lease: Duration = .seconds(120)
    /// In-process attempts for a transient failure before the message is given back to the queue.
    public var attempts: Int = 3
    /// Waits between those in-process attempts.
    public var retryBackoff = RetryBackoff(base: .milliseconds(500), cap: .seconds(20))
    /// Waits after a failed receive.
    public var receiveBackoff = RetryBackoff(base: .seconds(1), cap: .seconds(30))
    /// Exit once the queue (waiting and in-flight messages alike) stays empty for this many consecutive
    /// polls with nothing in hand (demo, tests, batch runs).
    public var untilIdle: Bool = false
    public var idlePolls: Int = 2
    /// On SIGTERM, the time files in hand get to finish before they are given back.
    /// Keep it below the pod's terminationGracePeriodSeconds.
    public var shutdownGrace: Duration = .seconds(25)
    /// Files larger than this are refused before download (dead-lettered as TooLarge); nil: no limit.
    public var maxObjectBytes: Int64? = nil
    /// A file that reads no bytes and passes no rows on for this long is abandoned and dead-lettered as
    /// `Stalled` (the heartbeat would otherwise keep it claimed for ever).
    public var stallTimeout: Duration = .seconds(600)
    /// Earlier attempts on one version that ended with the process dying, after which the version is
    /// dead-lettered as `Crashed` without being read again.
    public var maxCrashes: Int = 3
    /// How long after a claim or lease extension was sent the worker takes the lease as still its own
    /// without asking: a load that commits within it skips the lease check before COMMIT. Nobody can claim
    /// the file before the lease runs out, so the check could only say yes; the other three quarters cover
    /// workers whose clocks disagree. nil: a quarter of `lease`; zero: always check.
    public var leaseTrust: Duration? = nil
    /// Identifies this worker in claims, logs and dead letters.
    public var workerID: String
    /// The routes file's `load_budget:` caps on loads in progress, fleet-wide (nil: none).
    public var loadBudget: LoadBudgetConfig? = nil
    /// The MySQL database the files load into: the name of its budget (`budget#database#<db>`).
    public var database: String? = nil
    /// Files that may wait for their budget at once without holding a load slot (`--max-waiting`;
    /// nil: `concurrency`). One more that has to wait keeps its slot while it waits.
    public var maxWaiting: Int? = nil
    /// How often a file waiting for budget looks again: jittered, growing from `base` to `cap`.
    public var budgetPoll = RetryBackoff(base: .milliseconds(200), cap: .seconds(5))

    public init(
        queueName: String, deadLetterQueueName: String, jobsTable: String, landingBuckets: LandingBuckets,
        concurrency: Int = ProcessInfo.processInfo.activeProcessorCount, workerID: String? = nil
    ) {
        self.queueName = queueName
        self.landingBuckets = landingBuckets
        self.deadLetterQueueName = deadLetterQueueName
        self.jobsTable = jobsTable
        self.concurrency = max(1, concurrency)
        self.workerID = workerID ?? WorkerSettings.defaultWorkerID()
    }

    /// The long-poll wait actually used: short when draining (`untilIdle`), so the run ends soon after the queue.
    var pollWait: Duration { untilIdle ? min(receiveWait, .seconds(2)) : receiveWait }

    /// How often the heartbeat renews the message's visibility and the claim's lease: half the shorter one.
    var heartbeatPeriod: Duration { min(visibilityTimeout, lease) / 2 }

    /// `leaseTrust`, or a quarter of the lease.
    var trustedLease: Duration { leaseTrust ?? lease / 4 }

    /// Seconds read from a flag or the routes file as a `Duration`, clamped to [0, 10⁹ s] (about 31 years):
    /// `Duration` traps on a value it cannot hold, and a text such as `1e300` must not stop a worker.
    public static func duration(seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .seconds(min(seconds, 1e9))
    }

    static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
    }
}

/// Capped exponential backoff with full jitter: a random wait in [0, min(cap, base · 2^(attempt-1))],
/// so a fleet that failed together does not retry together.
public struct RetryBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// The wait after attempt `attempt` (counting from 1) failed.
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        RetryPolicy(maxAttempts: 0, baseDelay: base, maxDelay: cap).backoff(afterAttempt: attempt, random: random)
    }
}

/// When a message given back to the queue is seen again: 20 s after the first receive, doubling with each
/// receive, never later than `maxDelay`. The queue's redrive policy dead-letters it after maxReceiveCount.
public enum GiveBackDelay {
    /// The longest a message given back stays hidden.
    public static let maxDelay: Duration = .seconds(900)

    public static func after(receiveCount: Int) -> Duration {
        min(maxDelay, .seconds(10 << min(max(receiveCount, 0), 7)))
    }
}
