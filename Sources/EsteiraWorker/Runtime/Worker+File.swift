import EsteiraAWS
import EsteiraPipeline
import EsteiraSync
import Foundation
import Logging
import Synchronization

extension Worker {
    /// One file: refused unread when it is not ours to load, else claimed and loaded, with transient
    /// failures retried in process up to `settings.attempts` times.
    func process(_ object: ObjectCreated, message: SQSMessage, split: Bool = false, log: Logger) async -> Disposition {
        var log = log
        log[metadataKey: "bucket"] = "\(object.bucket)"
        log[metadataKey: "key"] = "\(object.key)"
        log[metadataKey: "job_id"] = "\(JobLedger.jobID(object))"
        let refusal = Refusal(object: object, message: message, split: split)
        if let reason = settings.landingBuckets.refusal(object.bucket) {
            // Not read, not recorded in the jobs table: the file is no business of this fleet.
            log.error(
                "event for a bucket that is not a landing bucket; dead-lettering", metadata: ["reason": "\(reason)"])
            return await refuse(refusal, code: "ForeignBucket", reason: reason, log: log)
        }
        if pipeline.isOwnOutput(key: object.key) {
            log.debug("event for a file Esteira wrote itself; ignored")
            return .done
        }
        let route: Route
        do {
            route = try pipeline.route(forKey: object.key)
        } catch {
            log.error("no route; dead-lettering", metadata: ["reason": "\(error)"])
            return await refuse(refusal, code: "NoRoute", reason: error.description, record: .rejected, log: log)
        }
        if let limit = settings.maxObjectBytes, let size = object.size, size > limit {
            let reason =
                "file is \(size) bytes, over the \(limit)-byte limit (--max-file-size); split it, or raise the limit"
            log.error("file too large; dead-lettering", metadata: ["size": "\(size)"])
            return await refuse(
                refusal, code: "TooLarge", reason: reason, route: route.name, record: .rejected, log: log)
        }
        log[metadataKey: "route"] = "\(route.name)"
        log[metadataKey: "tenant"] = "\(route.tenant)"

        for attempt in 1...max(1, settings.attempts) {
            let token: Int64
            let claimedHistory: AttemptHistory?
            // Sent no later than the claim: the lease runs from here at the earliest.
            let claimSent = ContinuousClock.now
            do {
                let (claim, history) = try await jobs.claimWithHistory(
                    object, owner: settings.workerID, lease: settings.lease, now: Date())
                claimedHistory = history
                switch claim {
                case .alreadySucceeded:
                    log.info("already loaded; acknowledging duplicate delivery")
                    stats.withLock { $0.record(.duplicate) }
                    metrics.duplicates.increment()
                    return .done
                case .heldByAnother(let owner):
                    log.info("held by another worker; leaving it to them", metadata: ["owner": "\(owner)"])
                    return .retryLater
                case .claimed(let t):
                    token = t
                }
            } catch {
                log.warning("claim failed", metadata: ["error": "\(error)"])
                if attempt == settings.attempts { return .retryLater }
                await backoff(attempt)
                continue
            }
            log[metadataKey: "attempt"] = "\(token)"

            let source = SourceObject(
                bucket: object.bucket, key: object.key, versionID: object.versionID, eTag: object.eTag)
            let started = ContinuousClock.now
            // A version whose earlier attempts killed their process is refused unread (`Crashed`).
            let history = await attemptsSoFar(object, answered: claimedHistory, log: log)
            let result: Result<FileOutcome, PipelineError>
            if let crashed = await crashedEarlier(object, token: token, history: history, log: log) {
                result = .failure(crashed)
            } else {
                result = await loadWithHeartbeat(
                    source, route: route, object: object, message: message, token: token, history: history,
                    lease: LeaseClock(sent: claimSent, trust: settings.trustedLease), log: log)
            }
            metrics.jobDuration.record(ContinuousClock.now - started)
            if case .failure(let error) = result, Task.isCancelled || error.code == .budgetWait {
                // Shutdown ran out of grace: nothing was committed (the load checks before COMMIT); hand it back.
                log.warning("abandoned at shutdown; giving the file back")
                await uncancelled {
                    try? await self.jobs.release(
                        object, owner: self.settings.workerID, fencingToken: token,
                        reason: "worker shut down before finishing")
                }
                return .givenBack
            }
            switch result {
            case .success(let outcome):
                await succeeded(object, route: route.name, outcome: outcome, token: token, log: log)
                return .done
            case .failure(let error) where error.isTransient:
                log.warning("transient failure", metadata: ["error": "\(error)", "try": "\(attempt)"])
                try? await jobs.release(
                    object, owner: settings.workerID, fencingToken: token, reason: error.description)
                if attempt == settings.attempts { return .retryLater }
                await backoff(attempt)
            case .failure(let error):
                log.error("permanent failure; dead-lettering", metadata: ["error": "\(error)"])
                return await refuse(
                    refusal, code: error.code.rawValue, reason: error.message, route: route.name,
                    attempt: Int(token), record: .failed(fencingToken: token),
                    rejectsURI: error.rejectsURI, log: log)
            }
        }
        return .retryLater
    }

    /// Records a committed file: the job SUCCEEDED (even if shutdown cancelled us meanwhile), counts, metrics.
    private func succeeded(_ object: ObjectCreated, route: String, outcome: FileOutcome, token: Int64, log: Logger)
        async
    {
        log.info(
            outcome.alreadyLoaded ? "already in MySQL; nothing written" : "file loaded",
            metadata: [
                "table": "\(outcome.table)", "rows_loaded": "\(outcome.rowsLoaded)",
                "rows_rejected": "\(outcome.rowsRejected)", "bytes": "\(outcome.bytesRead)",
                "rejects": "\(outcome.rejectsURI ?? "none")",
            ])
        do {
            let owner = settings.workerID
            let jobs = self.jobs
            try await Task {
                try await jobs.markSucceeded(
                    object, owner: owner, fencingToken: token,
                    rowsLoaded: outcome.rowsLoaded, rowsRejected: outcome.rowsRejected,
                    duplicate: outcome.alreadyLoaded, rejectsURI: outcome.rejectsURI)
            }.value
        } catch {
            // The rows are committed and the MySQL ledger keeps a redelivery from loading them again.
            log.warning(
                "could not mark the job SUCCEEDED; a redelivery will find it already loaded",
                metadata: ["error": "\(error)"])
        }
        if !outcome.alreadyLoaded { announceSucceeded(object, outcome: outcome) }
        stats.withLock {
            $0.record(
                outcome.alreadyLoaded
                    ? .duplicate : .succeeded(rows: outcome.rowsLoaded, rejected: outcome.rowsRejected))
        }
        metrics.bytesRead.increment(by: outcome.bytesRead)
        if outcome.alreadyLoaded {
            metrics.duplicates.increment()
        } else {
            metrics.succeeded.increment()
            metrics.rows(route: route, loaded: outcome.rowsLoaded, rejected: outcome.rowsRejected)
        }
    }

    /// Runs the load while a heartbeat keeps the message invisible and the lease ours (and records the
    /// load's stage with it), and a watchdog abandons a load that stopped moving. If the lease cannot be
    /// extended, the load is cancelled before it can commit; a load that commits while the lease is still
    /// known to be ours (`lease`) commits without asking the jobs table again.
    ///
    /// With a `load_budget`, the file first takes its budget units (waiting, parked, while they are full);
    /// the heartbeat renews them too, a unit lost stops the load before COMMIT, and every unit is given
    /// back however the file ends.
    func loadWithHeartbeat(
        _ source: SourceObject, route: Route, object: ObjectCreated, message: SQSMessage,
        token: Int64, history: AttemptHistory?, lease leaseClock: LeaseClock, log: Logger? = nil
    ) async -> Result<FileOutcome, PipelineError> {
        let log = log ?? logger
        let hold = BudgetHold(
            holder: Self.budgetHolder(worker: settings.workerID, object: object, token: token),
            needs: budgetNeeds(route))
        let result = await loadWithHeartbeat(
            source, route: route, object: object, message: message, token: token, history: history,
            lease: leaseClock, hold: hold, log: log)
        if !hold.held.isEmpty {
            await uncancelled { await self.releaseBudget(hold, log: log) }
        }
        return result
    }

    private func loadWithHeartbeat(
        _ source: SourceObject, route: Route, object: ObjectCreated, message: SQSMessage,
        token: Int64, history: AttemptHistory?, lease leaseClock: LeaseClock, hold: BudgetHold, log: Logger
    ) async -> Result<FileOutcome, PipelineError> {
        let period = settings.heartbeatPeriod
        let watchdog = StallWatchdog(
            stallTimeout: settings.stallTimeout,
            maxDuration: (try? route.maxDurationSeconds()).map(WorkerSettings.duration(seconds:)))
        let jobs = self.jobs
        let owner = settings.workerID
        let lease = settings.lease
        let budgetLost = PipelineError(
            .leaseLost, "a database budget unit (load_budget) was lost; rolled back before commit", transient: true)
        // The load's progress, once it starts (nil while the file waits for its budget): the heartbeat
        // records its stage.
        let current = Locked<LoadProgress?>(nil)
        return await withTaskGroup(of: Result<FileOutcome, PipelineError>?.self) { group in
            group.addTask {
                // Budget first: the stall watchdog and the progress it reads start with the load, not the wait.
                if let failure = await self.acquireBudget(hold, log: log) { return .failure(failure) }
                let progress = self.tracking(object, token: token, history: history)
                current.withLock { $0 = progress }
                return await withTaskGroup(of: Result<FileOutcome, PipelineError>?.self) { inner in
                    inner.addTask { await watchdog.watch(progress).map { .failure($0) } }
                    inner.addTask {
                        await self.load(
                            source, route: route, object: object, token: token, hold: hold, progress: progress,
                            lease: leaseClock)
                    }
                    var result: Result<FileOutcome, PipelineError>? = nil
                    for await r in inner {
                        if let r {
                            result = r
                            inner.cancelAll()
                            break
                        }
                    }
                    return result
                }
            }
            group.addTask {
                var beat = leaseClock.sent
                while !Task.isCancelled {
                    // On the process's shared tick, so the heartbeats of the files in hand reach the queue
                    // together and go out as one ChangeMessageVisibilityBatch.
                    beat = HeartbeatTick.next(after: beat, period: period)
                    try? await Task.sleep(until: beat, clock: .continuous)
                    if Task.isCancelled { return nil }
                    do {
                        let sent = ContinuousClock.now
                        if let stage = current.value?.snapshot.stage.rawValue {
                            try await jobs.extendLease(
                                object, owner: owner, fencingToken: token, lease: lease, stage: stage)
                        } else {
                            try await jobs.extendLease(object, owner: owner, fencingToken: token, lease: lease)
                        }
                        leaseClock.renewed(sent: sent)
                        try await self.queue.changeVisibility(message, to: self.settings.visibilityTimeout)
                    } catch is LeaseLost {
                        return .failure(
                            PipelineError(
                                .leaseLost, "lease on the file was lost to another worker; abandoned before commit",
                                transient: true))
                    } catch {
                        self.metrics.heartbeatFailures.increment()
                        self.logger.warning(
                            "heartbeat failed", metadata: ["error": "\(error)", "key": "\(object.key)"])
                    }
                    do {
                        try await self.renewBudget(hold)
                    } catch is BudgetLost {
                        return .failure(budgetLost)
                    } catch {
                        self.metrics.heartbeatFailures.increment()
                        self.logger.warning(
                            "budget renewal failed", metadata: ["error": "\(error)", "key": "\(object.key)"])
                    }
                }
                return nil
            }
            var result: Result<FileOutcome, PipelineError> = .failure(
                PipelineError(.cancelled, "load did not finish", transient: true))
            for await r in group {
                if let r {
                    result = r
                    group.cancelAll()
                    break
                }
            }
            return result
        }
    }

    /// The pipeline's load, fenced: the last word before COMMIT is a conditional lease extension in the
    /// jobs table, and a budget unit the heartbeat found lost stops it too.
    private func load(
        _ source: SourceObject, route: Route, object: ObjectCreated, token: Int64, hold: BudgetHold,
        progress: LoadProgress, lease leaseClock: LeaseClock
    ) async -> Result<FileOutcome, PipelineError> {
        let jobs = self.jobs
        let owner = settings.workerID
        let lease = settings.lease
        do {
            return .success(
                try await self.pipeline.load(
                    source, route: route, fencingToken: token,
                    beforeCommit: {
                        if hold.lost != nil {
                            throw PipelineError(
                                .leaseLost, "a database budget unit (load_budget) was lost; rolled back before commit",
                                transient: true)
                        }
                        // Within the trusted span nobody else can hold the file: the check could only say yes.
                        if leaseClock.isTrusted() { return }
                        do {
                            try await jobs.extendLease(object, owner: owner, fencingToken: token, lease: lease)
                        } catch is LeaseLost {
                            throw PipelineError(
                                .leaseLost,
                                "the lease on the file passed to another worker; rolled back before commit",
                                transient: true)
                        }
                    }, tracking: progress))
        } catch {
            return .failure(error)
        }
    }
}

/// When the claim's lease was last made ours (the claim or a heartbeat's extension, as sent), and for how
/// long after that the worker takes it as still its own without asking.
final class LeaseClock: Sendable {
    let sent: ContinuousClock.Instant
    let trust: Duration
    private let last: Mutex<ContinuousClock.Instant>

    init(sent: ContinuousClock.Instant, trust: Duration) {
        self.sent = sent
        self.trust = trust
        last = Mutex(sent)
    }

    func renewed(sent: ContinuousClock.Instant) { last.withLock { $0 = max($0, sent) } }

    /// True while the last renewal is more recent than `trust`.
    func isTrusted(now: ContinuousClock.Instant = .now) -> Bool { now < last.withLock { $0 } + trust }
}

/// The heartbeats of one process beat on a shared grid of one period, so those of the files in hand fall
/// on the same instants. The next beat is the first grid instant at least a quarter period after the
/// last: 0.25 to 1.25 periods later, within the visibility timeout and the lease (twice the period at least).
enum HeartbeatTick {
    static let epoch = ContinuousClock.now

    static func next(after last: ContinuousClock.Instant, period: Duration) -> ContinuousClock.Instant {
        guard period > .zero else { return last }
        let earliest = last + period / 4
        let since = (earliest - epoch) / period
        // Before the epoch (or absurd), the epoch itself is the first instant not before `earliest`.
        guard since.isFinite, since > 0 else { return max(epoch, earliest) }
        return epoch + period * Int64(min(since.rounded(.up), 1e15))
    }
}
