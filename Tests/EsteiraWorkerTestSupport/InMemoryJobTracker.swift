import EsteiraWorker
import Foundation
import Synchronization

/// The jobs table in memory, with the same conditions as `JobLedger` on DynamoDB: one holder at a time,
/// every change to a claimed job conditional on holding it, and the attempt counters.
public final class InMemoryJobTracker: JobTracker {
    /// One job's record, as the tests read it.
    public struct Job: Sendable, Equatable {
        public var status: String = "RECEIVED"
        public var owner: String?
        public var attempt: Int64 = 0
        public var leaseExpiresAt: Date?
        public var runsStarted = 0
        public var runsEnded = 0
        public var stage: String?
        public var error: String?
        public var lastError: String?
        public var rowsLoaded: Int?
        public var rowsRejected: Int?
        public var alreadyLoaded = false
        public var rejectsURI: String?

        public init(
            status: String = "RECEIVED", owner: String? = nil, attempt: Int64 = 0, leaseExpiresAt: Date? = nil,
            runsStarted: Int = 0, runsEnded: Int = 0, stage: String? = nil
        ) {
            self.status = status
            self.owner = owner
            self.attempt = attempt
            self.leaseExpiresAt = leaseExpiresAt
            self.runsStarted = runsStarted
            self.runsEnded = runsEnded
            self.stage = stage
        }
    }

    public enum Event: Sendable, Equatable {
        case claimed(token: Int64)
        case leaseExtended(token: Int64)
        case succeeded(token: Int64)
        case failed(token: Int64, reason: String)
        case released(token: Int64, reason: String)
        case rejected(reason: String)
        case stage(String)
        case deathsForgiven
    }

    struct State {
        var jobs: [String: Job] = [:]
        var events: [String: [Event]] = [:]
        var failingClaims = 0
        var historyReads = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The record of one object version, nil when the table has none.
    public func job(_ o: ObjectCreated) -> Job? { state.withLock { $0.jobs[JobLedger.jobID(o)] } }
    /// What the worker did to one job, in order.
    public func events(_ o: ObjectCreated) -> [Event] { state.withLock { $0.events[JobLedger.jobID(o)] ?? [] } }

    /// Sets a job's record as a test needs it (a version loaded before, attempts that died …).
    public func seed(_ o: ObjectCreated, _ job: Job) { state.withLock { $0.jobs[JobLedger.jobID(o)] = job } }

    /// Another worker takes the file (our lease ran out and was claimed): our next extension fails.
    public func steal(_ o: ObjectCreated, by owner: String = "thief") {
        state.withLock { s in
            var job = s.jobs[JobLedger.jobID(o)] ?? Job()
            job.owner = owner
            job.attempt += 1
            job.runsStarted += 1
            job.status = "RUNNING"
            job.leaseExpiresAt = Date().addingTimeInterval(600)
            s.jobs[JobLedger.jobID(o)] = job
        }
    }

    /// Reads of the attempt counters (`attemptHistory`): a GetItem each on DynamoDB.
    public var historyReads: Int { state.withLock { $0.historyReads } }

    /// Makes the next `count` claims fail as if the table did not answer.
    public func failClaims(_ count: Int) { state.withLock { $0.failingClaims = count } }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func record(_ o: ObjectCreated, _ e: Event, in s: inout State) {
        s.events[JobLedger.jobID(o), default: []].append(e)
    }

    /// Runs `change` on the job when `owner` holds attempt `token`, else throws `LeaseLost`.
    private func held<R>(
        _ o: ObjectCreated, owner: String, token: Int64,
        _ change: (inout Job, inout State) -> R
    ) throws -> R {
        try state.withLock { s in
            let id = JobLedger.jobID(o)
            guard var job = s.jobs[id], job.owner == owner, job.attempt == token, job.status == "RUNNING" else {
                throw LeaseLost(jobID: id)
            }
            let r = change(&job, &s)
            s.jobs[id] = job
            return r
        }
    }

    public func claim(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws -> ClaimResult {
        try await claimWithHistory(o, owner: owner, lease: lease, now: now).0
    }

    /// The claim with the counters of its answer, as JobLedger's ALL_NEW update returns them.
    public func claimWithHistory(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws
        -> (ClaimResult, AttemptHistory?)
    {
        try state.withLock { s in
            if s.failingClaims > 0 {
                s.failingClaims -= 1
                throw InjectedFailure(what: "claim")
            }
            let id = JobLedger.jobID(o)
            var job = s.jobs[id] ?? Job()
            if job.status == "SUCCEEDED" { return (.alreadySucceeded, nil) }
            if job.status == "RUNNING", let expires = job.leaseExpiresAt, expires >= now {
                return (.heldByAnother(owner: job.owner ?? "unknown"), nil)
            }
            job.status = "RUNNING"
            job.owner = owner
            job.attempt += 1
            job.runsStarted += 1
            job.leaseExpiresAt = now.addingTimeInterval(seconds(lease))
            s.jobs[id] = job
            record(o, .claimed(token: job.attempt), in: &s)
            return (
                .claimed(fencingToken: job.attempt),
                AttemptHistory(started: job.runsStarted, ended: job.runsEnded, lastStage: job.stage)
            )
        }
    }

    public func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration) async throws {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.leaseExpiresAt = Date().addingTimeInterval(seconds(lease))
            record(o, .leaseExtended(token: fencingToken), in: &s)
        }
    }

    /// One write, as on DynamoDB: the event says the lease was extended; the stage shows in `job(_:)`.
    public func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration, stage: String)
        async throws
    {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.leaseExpiresAt = Date().addingTimeInterval(seconds(lease))
            job.stage = stage
            record(o, .leaseExtended(token: fencingToken), in: &s)
        }
    }

    public func markSucceeded(
        _ o: ObjectCreated, owner: String, fencingToken: Int64, rowsLoaded: Int, rowsRejected: Int,
        duplicate: Bool, rejectsURI: String?
    ) async throws {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.status = "SUCCEEDED"
            job.rowsLoaded = rowsLoaded
            job.rowsRejected = rowsRejected
            job.alreadyLoaded = duplicate
            job.rejectsURI = rejectsURI
            job.runsEnded += 1
            job.leaseExpiresAt = nil
            record(o, .succeeded(token: fencingToken), in: &s)
        }
    }

    public func markFailed(_ o: ObjectCreated, owner: String, fencingToken: Int64, reason: String) async throws {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.status = "FAILED"
            job.error = reason
            job.runsEnded += 1
            job.leaseExpiresAt = nil
            record(o, .failed(token: fencingToken, reason: reason), in: &s)
        }
    }

    public func release(_ o: ObjectCreated, owner: String, fencingToken: Int64, reason: String) async throws {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.status = "RECEIVED"
            job.lastError = reason
            job.runsEnded += 1
            job.leaseExpiresAt = nil
            record(o, .released(token: fencingToken, reason: reason), in: &s)
        }
    }

    public func recordRejected(_ o: ObjectCreated, reason: String) async throws {
        state.withLock { s in
            let id = JobLedger.jobID(o)
            guard s.jobs[id]?.status != "SUCCEEDED" else { return }
            var job = Job()
            job.status = "FAILED"
            job.error = reason
            s.jobs[id] = job
            record(o, .rejected(reason: reason), in: &s)
        }
    }

    public func attemptHistory(_ o: ObjectCreated) async throws -> AttemptHistory {
        let job = state.withLock { s in
            s.historyReads += 1
            return s.jobs[JobLedger.jobID(o)]
        }
        return AttemptHistory(started: job?.runsStarted ?? 0, ended: job?.runsEnded ?? 0, lastStage: job?.stage)
    }

    public func forgiveDeaths(_ o: ObjectCreated, owner: String, fencingToken: Int64) async throws {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.runsEnded = job.runsStarted - 1
            record(o, .deathsForgiven, in: &s)
        }
    }

    public func recordStage(_ o: ObjectCreated, owner: String, fencingToken: Int64, stage: String) async throws {
        try held(o, owner: owner, token: fencingToken) { job, s in
            job.stage = stage
            record(o, .stage(stage), in: &s)
        }
    }
}

/// A failure a test asked for (a call the server did not answer).
public struct InjectedFailure: Error, CustomStringConvertible, Sendable {
    public var what: String
    public init(what: String) { self.what = what }
    public var description: String { "injected failure: \(what)" }
}
