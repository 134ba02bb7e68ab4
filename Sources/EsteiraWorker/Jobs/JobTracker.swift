import Foundation

/// What the worker needs from the jobs table: one record per object version, RECEIVED → RUNNING →
/// SUCCEEDED | FAILED, with a claim that only one worker holds at a time and counters of the attempts.
///
/// `JobLedger` (DynamoDB) is the real one; tests use an in-memory tracker (EsteiraWorkerTestSupport).
/// Every call that changes a claimed job is conditional on the caller still holding it (`owner` and
/// `fencingToken`), so a worker that lost the file can never overwrite the new holder's record.
public protocol JobTracker: Sendable {
    /// Takes the file if nobody holds it, or if the holder's lease ran out and it has not succeeded.
    /// Counts a started attempt (`runs_started`).
    func claim(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws -> ClaimResult
    /// Extends our lease; throws `LeaseLost` when we no longer hold the file.
    func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration) async throws
    /// Records success with counts, ending the attempt; `rejectsURI` names the refused rows' object.
    func markSucceeded(
        _ o: ObjectCreated, owner: String, fencingToken: Int64, rowsLoaded: Int, rowsRejected: Int,
        duplicate: Bool, rejectsURI: String?) async throws
    /// Records a permanent failure with its reason, ending the attempt.
    func markFailed(_ o: ObjectCreated, owner: String, fencingToken: Int64, reason: String) async throws
    /// Gives the file back (shutdown, transient failure), ending the attempt: the next claim need not wait.
    func release(_ o: ObjectCreated, owner: String, fencingToken: Int64, reason: String) async throws
    /// Records a file refused before any claim (no route, too large), so its history shows why.
    func recordRejected(_ o: ObjectCreated, reason: String) async throws
    /// The counters of the attempts so far (a consistent read).
    func attemptHistory(_ o: ObjectCreated) async throws -> AttemptHistory
    /// Forgives the deaths counted so far, so a replay of the dead letter starts with a clean count.
    func forgiveDeaths(_ o: ObjectCreated, owner: String, fencingToken: Int64) async throws
    /// Records the stage the holder's load entered, so a process that dies leaves it on record.
    func recordStage(_ o: ObjectCreated, owner: String, fencingToken: Int64, stage: String) async throws
    /// `claim`, with the attempt counters that the claim's own answer carried: nil when the tracker cannot
    /// tell, and then `attemptHistory` reads them.
    func claimWithHistory(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws
        -> (ClaimResult, AttemptHistory?)
    /// `extendLease` that also records the stage the load is in (the heartbeat's one write).
    func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration, stage: String)
        async throws
}

extension JobTracker {
    public func claim(_ o: ObjectCreated, owner: String, lease: Duration) async throws -> ClaimResult {
        try await claim(o, owner: owner, lease: lease, now: Date())
    }

    public func claimWithHistory(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws
        -> (ClaimResult, AttemptHistory?)
    {
        (try await claim(o, owner: owner, lease: lease, now: now), nil)
    }

    /// Two writes where the tracker has no combined one.
    public func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration, stage: String)
        async throws
    {
        try await extendLease(o, owner: owner, fencingToken: fencingToken, lease: lease)
        try await recordStage(o, owner: owner, fencingToken: fencingToken, stage: stage)
    }
}

/// The claim on a file passed to another worker (our lease ran out and was taken), or the job was finished
/// by someone else: whatever we were doing with it must not commit.
public struct LeaseLost: Error, CustomStringConvertible, Sendable {
    public var jobID: String
    public init(jobID: String) { self.jobID = jobID }
    public var description: String { "the lease on \(jobID) is no longer ours" }
}
