import Foundation
import Logging
import EsteiraAWS
import EsteiraPipeline
import ServiceLifecycle

/// Long-polls the queue and runs each file through claim → load → acknowledge.
///
/// At-least-once in, exactly-once out: a message is deleted only after its file's rows are committed
/// (or after it was sent to the dead-letter queue); on any doubt it goes back to the queue.
public final class Worker: Sendable {
    public let settings: WorkerSettings
    let sqs: SQSClient
    let ledger: JobLedger
    let pipeline: any FileLoading
    let logger: Logger
    let queueURL: String
    let deadLetterURL: String
    let stats = LockedStats()
    public let metrics: WorkerMetrics
    /// When the receive loop last came round: `/healthz` fails if it stops turning.
    let lastPoll = LockedBox(Date())
    /// Files in hand now; a worker busy with long files is alive even while it does not poll.
    let inHand = LockedBox(0)

    public init(settings: WorkerSettings, sqs: SQSClient, dynamo: DynamoDBClient, pipeline: any FileLoading,
                metrics: WorkerMetrics = WorkerMetrics(), logger: Logger = Logger(label: "esteira.worker")) async throws {
        self.settings = settings
        self.metrics = metrics
        self.sqs = sqs
        self.ledger = JobLedger(dynamo: dynamo, table: settings.jobsTable)
        self.pipeline = pipeline
        var logger = logger
        logger[metadataKey: "worker"] = "\(settings.workerID)"
        self.logger = logger
        self.queueURL = try await sqs.getQueueURL(name: settings.queueName)
        self.deadLetterURL = try await sqs.getQueueURL(name: settings.deadLetterQueueName)
    }

    /// Files handled so far by this process.
    public var summary: WorkerSummary { stats.snapshot }

    /// Seconds since the receive loop last came round (liveness).
    public var secondsSinceLastPoll: Double { -lastPoll.withLock { $0 }.timeIntervalSinceNow }

    /// Alive: the receive loop turned recently, or files are in hand (their heartbeats keep them honest).
    public func isLive(stuckAfter: Double) -> Bool { secondsSinceLastPoll < stuckAfter || inHand.withLock { $0 } > 0 }

    /// Runs until cancelled, or with `untilIdle` until the queue stays empty and nothing is in flight.
    ///
    /// On graceful shutdown (SIGTERM through a ServiceGroup) it stops receiving at once, lets the files in
    /// hand finish for up to `shutdownGrace` seconds, then cancels them: each cancelled file is given back
    /// (lease released, message visible again) before the process exits.
    public func run() async throws {
        let slots = SlotCounter(settings.concurrency)
        try await withThrowingDiscardingTaskGroup { group in
            var emptyPolls = 0
            var receiveBackoff = 0
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                lastPoll.withLock { $0 = Date() }
                // All slots busy: wait for one, but wake at once on SIGTERM to start the drain.
                let free = await withGracefulShutdownHandler {
                    await slots.waitForFree()
                } onGracefulShutdown: {
                    Task { await slots.stopWaiting() }
                }
                if Task.isShuttingDownGracefully || free == 0 { break }
                let wait = settings.untilIdle ? min(settings.waitSeconds, 2) : settings.waitSeconds
                let messages: [SQSMessage]
                do {
                    // A long poll in progress is abandoned on SIGTERM; anything it had taken
                    // reappears after the visibility timeout, so nothing is lost.
                    guard let received = try await cancelWhenGracefulShutdown({
                        try await self.sqs.receiveMessages(queueURL: self.queueURL, maxMessages: free, waitSeconds: wait,
                                                           visibilityTimeout: self.settings.visibilityTimeout)
                    }) as [SQSMessage]? else { break }
                    messages = received
                    receiveBackoff = 0
                } catch is CancellationError {
                    break
                } catch let error as AWSError where error.isTransient {
                    receiveBackoff += 1
                    let delay = RetryPolicy(maxAttempts: 0, baseDelay: 1, maxDelay: 30).delay(afterAttempt: receiveBackoff)
                    logger.warning("receive failed; backing off", metadata: ["error": "\(error)", "delay_s": "\(delay)"])
                    try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                    continue
                }
                if messages.isEmpty {
                    if settings.untilIdle, await slots.inFlight == 0, await queueIsEmpty() {
                        emptyPolls += 1
                        if emptyPolls >= settings.idlePolls { break }
                    } else {
                        emptyPolls = 0
                    }
                    continue
                }
                emptyPolls = 0
                for message in messages {
                    await slots.take()
                    metrics.inFlight.increment()
                    inHand.withLock { $0 += 1 }
                    if let sent = message.attributes["SentTimestamp"].flatMap(Double.init) {
                        let age = max(0, Date().timeIntervalSince1970 - sent / 1000)
                        metrics.receiveLatency.record(.milliseconds(Int64(age * 1000)))
                    }
                    group.addTask {
                        await self.handle(message)
                        self.metrics.inFlight.decrement()
                        self.inHand.withLock { $0 -= 1 }
                        await slots.release()
                    }
                }
            }
            if Task.isShuttingDownGracefully {
                await drain(slots, group: &group)
            }
        }
    }

    /// Nothing waiting and nothing hidden in flight (a file another worker holds, or one given back for later).
    private func queueIsEmpty() async -> Bool {
        guard let a = try? await sqs.getQueueAttributes(queueURL: queueURL, names: [
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
        ]) else { return false }
        return a.values.allSatisfy { $0 == "0" }
    }

    /// Waits for the files in hand, up to the grace period, then cancels the rest (they give themselves back).
    private func drain(_ slots: SlotCounter, group: inout ThrowingDiscardingTaskGroup<any Error>) async {
        let deadline = Date().addingTimeInterval(Double(settings.shutdownGrace))
        let inHand = await slots.inFlight
        logger.info("shutting down: finishing files in hand", metadata: [
            "in_flight": "\(inHand)", "grace_s": "\(settings.shutdownGrace)"])
        while await slots.inFlight > 0, Date() < deadline {
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        let left = await slots.inFlight
        if left > 0 {
            logger.warning("grace period over: giving back unfinished files", metadata: ["in_flight": "\(left)"])
            group.cancelAll()
        }
    }

    // MARK: - One message

    func handle(_ message: SQSMessage) async {
        var log = logger
        log[metadataKey: "message_id"] = "\(message.messageID)"
        let event: QueueEvent
        do {
            event = try S3EventDecoder.decode(message.body)
        } catch {
            log.error("undecodable message; dead-lettering", metadata: ["reason": "\(error.reason)"])
            await deadLetter(message, code: "UndecodableMessage", reason: error.reason, object: nil, route: nil, attempt: 0, log: log)
            metrics.failed("UndecodableMessage")
            return
        }
        switch event {
        case .testEvent:
            log.info("s3:TestEvent acknowledged")
            await acknowledge(message, log: log)
        case .ignored(let reason):
            log.info("event ignored", metadata: ["reason": "\(reason)"])
            await acknowledge(message, log: log)
        case .objectsCreated(let objects):
            metrics.received.increment(by: Int64(objects.count))
            // S3 sends one record per message; a message with several is split only when its records
            // end differently, so each keeps its own fate (and its own DLQ entry).
            let split = objects.count > 1
            var retry: [ObjectCreated] = []
            var givenBack = false
            for object in objects {
                switch await process(object, message: message, split: split, log: log) {
                case .done, .deadLettered: break
                case .retryLater: retry.append(object)
                case .givenBack: givenBack = true
                }
            }
            if givenBack {
                // Shutting down: make the message visible now so another worker takes it at once.
                // Records already loaded are recognised as duplicates when it comes back.
                let log = log
                await uncancelled { await self.changeVisibility(message, to: 0, log: log) }
            } else if retry.isEmpty {
                await acknowledge(message, log: log)
            } else if !split {
                await returnToQueue(message, log: log)
            } else {
                // Requeue just the records that need another try, then drop the original.
                let delay = min(900, 10 << min(message.receiveCount, 7))
                var requeued = true
                for object in retry {
                    do {
                        try await sqs.sendMessage(queueURL: queueURL, body: object.notificationBody, delaySeconds: delay)
                    } catch {
                        requeued = false
                    }
                }
                if requeued { await acknowledge(message, log: log) } else { await returnToQueue(message, log: log) }
            }
        }
    }

    enum Disposition { case done, deadLettered, retryLater, givenBack }

    func process(_ object: ObjectCreated, message: SQSMessage, split: Bool = false, log: Logger) async -> Disposition {
        var log = log
        log[metadataKey: "bucket"] = "\(object.bucket)"
        log[metadataKey: "key"] = "\(object.key)"
        log[metadataKey: "job_id"] = "\(JobLedger.jobID(object))"
        if let refusal = settings.landingBuckets.refusal(object.bucket) {
            // Not read, not recorded in the jobs table: the file is no business of this fleet.
            log.error("event for a bucket that is not a landing bucket; dead-lettering", metadata: ["reason": "\(refusal)"])
            guard await sendDeadLetter(split ? object.notificationBody : message.body, of: message, code: "ForeignBucket",
                                       reason: refusal, object: object, route: nil, attempt: 0, log: log)
            else { return .retryLater }
            stats.record(.failed)
            metrics.failed("ForeignBucket")
            return .deadLettered
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
            try? await ledger.recordRejected(object, reason: error.description)
            guard await sendDeadLetter(split ? object.notificationBody : message.body, of: message, code: "NoRoute",
                                       reason: error.description, object: object, route: nil, attempt: 0, log: log)
            else { return .retryLater }
            stats.record(.failed)
            metrics.failed("NoRoute")
            return .deadLettered
        }
        if let limit = settings.maxObjectBytes, let size = object.size, size > limit {
            let reason = "file is \(size) bytes, over the \(limit)-byte limit (--max-file-size); split it, or raise the limit"
            log.error("file too large; dead-lettering", metadata: ["size": "\(size)"])
            try? await ledger.recordRejected(object, reason: reason)
            guard await sendDeadLetter(split ? object.notificationBody : message.body, of: message, code: "TooLarge",
                                       reason: reason, object: object, route: route.name, attempt: 0, log: log)
            else { return .retryLater }
            stats.record(.failed)
            metrics.failed("TooLarge")
            return .deadLettered
        }
        log[metadataKey: "route"] = "\(route.name)"
        log[metadataKey: "tenant"] = "\(route.tenant)"

        for attempt in 1...max(1, settings.attempts) {
            let token: Int64
            do {
                switch try await ledger.claim(object, owner: settings.workerID, lease: Double(settings.leaseSeconds)) {
                case .alreadySucceeded:
                    log.info("already loaded; acknowledging duplicate delivery")
                    stats.record(.duplicate)
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

            let source = SourceObject(bucket: object.bucket, key: object.key, versionID: object.versionID, eTag: object.eTag)
            let started = ContinuousClock.now
            // A version whose earlier attempts killed their process is refused unread (`Crashed`).
            let result: Result<FileOutcome, PipelineError>
            if let crashed = await crashedEarlier(object, token: token, log: log) {
                result = .failure(crashed)
            } else {
                result = await loadWithHeartbeat(source, route: route, object: object, message: message, token: token)
            }
            metrics.jobDuration.record(ContinuousClock.now - started)
            if case .failure = result, Task.isCancelled {
                // Shutdown ran out of grace: nothing was committed (the load checks before COMMIT); hand it back.
                log.warning("abandoned at shutdown; giving the file back")
                await uncancelled {
                    try? await self.ledger.release(object, owner: self.settings.workerID, fencingToken: token,
                                                   reason: "worker shut down before finishing")
                }
                return .givenBack
            }
            switch result {
            case .success(let outcome):
                log.info(outcome.alreadyLoaded ? "already in MySQL; nothing written" : "file loaded", metadata: [
                    "table": "\(outcome.table)", "rows_loaded": "\(outcome.rowsLoaded)",
                    "rows_rejected": "\(outcome.rowsRejected)", "bytes": "\(outcome.bytesRead)",
                    "rejects": "\(outcome.rejectsURI ?? "none")",
                ])
                do {
                    // Committed: record it even if shutdown cancelled us meanwhile.
                    let owner = settings.workerID
                    let ledger = self.ledger
                    try await Task {
                        try await ledger.markSucceeded(object, owner: owner, fencingToken: token,
                                                       rowsLoaded: outcome.rowsLoaded, rowsRejected: outcome.rowsRejected,
                                                       duplicate: outcome.alreadyLoaded, rejectsURI: outcome.rejectsURI)
                    }.value
                } catch {
                    // The rows are committed and the MySQL ledger keeps a redelivery from loading them again.
                    log.warning("could not mark the job SUCCEEDED; a redelivery will find it already loaded",
                                metadata: ["error": "\(error)"])
                }
                stats.record(outcome.alreadyLoaded ? .duplicate : .succeeded(rows: outcome.rowsLoaded, rejected: outcome.rowsRejected))
                metrics.bytesRead.increment(by: outcome.bytesRead)
                if outcome.alreadyLoaded {
                    metrics.duplicates.increment()
                } else {
                    metrics.succeeded.increment()
                    metrics.rowsLoaded.increment(by: Int64(outcome.rowsLoaded))
                    metrics.rowsRejected.increment(by: Int64(outcome.rowsRejected))
                }
                return .done
            case .failure(let error) where error.isTransient:
                log.warning("transient failure", metadata: ["error": "\(error)", "try": "\(attempt)"])
                try? await ledger.release(object, owner: settings.workerID, fencingToken: token, reason: error.description)
                if attempt == settings.attempts { return .retryLater }
                await backoff(attempt)
            case .failure(let error):
                log.error("permanent failure; dead-lettering", metadata: ["error": "\(error)"])
                try? await ledger.markFailed(object, owner: settings.workerID, fencingToken: token, reason: error.description)
                guard await sendDeadLetter(split ? object.notificationBody : message.body, of: message, code: error.code.rawValue,
                                           reason: error.message, object: object, route: route.name, attempt: Int(token), log: log)
                else { return .retryLater }
                stats.record(.failed)
                metrics.failed(error.code.rawValue)
                return .deadLettered
            }
        }
        return .retryLater
    }

    /// Runs the load while a heartbeat keeps the message invisible and the lease ours.
    /// If the lease cannot be extended, the load is cancelled before it can commit.
    func loadWithHeartbeat(_ source: SourceObject, route: Route, object: ObjectCreated, message: SQSMessage,
                           token: Int64) async -> Result<FileOutcome, PipelineError> {
        let period = Double(min(settings.visibilityTimeout, settings.leaseSeconds)) / 2
        let progress = tracking(object, token: token)
        let watchdog = StallWatchdog(stallTimeout: settings.stallTimeout, maxDuration: try? route.maxDurationSeconds())
        return await withTaskGroup(of: Result<FileOutcome, PipelineError>?.self) { group in
            group.addTask { await watchdog.watch(progress).map { .failure($0) } }
            group.addTask {
                do {
                    // Fencing: the last word before COMMIT is a conditional lease extension in DynamoDB.
                    let ledger = self.ledger, owner = self.settings.workerID, lease = Double(self.settings.leaseSeconds)
                    return .success(try await self.pipeline.load(source, route: route, fencingToken: token, beforeCommit: {
                        do {
                            try await ledger.extendLease(object, owner: owner, fencingToken: token, lease: lease)
                        } catch is ConditionalCheckFailed {
                            throw PipelineError(.leaseLost, "the lease on the file passed to another worker; rolled back before commit",
                                                transient: true)
                        }
                    }, tracking: progress))
                } catch let error as PipelineError {
                    return .failure(error)
                } catch {
                    return .failure(PipelineError(.storage, "\(error)", transient: true))
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(period * 1e9))
                    if Task.isCancelled { return nil }
                    do {
                        try await self.ledger.extendLease(object, owner: self.settings.workerID, fencingToken: token,
                                                          lease: Double(self.settings.leaseSeconds))
                        try await self.sqs.changeMessageVisibility(queueURL: self.queueURL, receiptHandle: message.receiptHandle,
                                                                   timeout: self.settings.visibilityTimeout)
                    } catch is ConditionalCheckFailed {
                        return .failure(PipelineError(.leaseLost, "lease on the file was lost to another worker; abandoned before commit", transient: true))
                    } catch {
                        self.metrics.heartbeatFailures.increment()
                        self.logger.warning("heartbeat failed", metadata: ["error": "\(error)", "key": "\(object.key)"])
                    }
                }
                return nil
            }
            var result: Result<FileOutcome, PipelineError> = .failure(PipelineError(.cancelled, "load did not finish", transient: true))
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

    // MARK: - Acknowledging, giving back, dead letters

    func acknowledge(_ message: SQSMessage, log: Logger) async {
        do {
            try await sqs.deleteMessage(queueURL: queueURL, receiptHandle: message.receiptHandle)
        } catch {
            // Not fatal: a redelivery finds the job done and is acknowledged then.
            log.warning("could not delete message", metadata: ["error": "\(error)"])
        }
    }

    /// Makes the message visible again after a delay that grows with each receive.
    func returnToQueue(_ message: SQSMessage, log: Logger) async {
        let delay = min(900, 10 << min(message.receiveCount, 7))
        log.info("giving the message back", metadata: ["visible_in_s": "\(delay)", "receive_count": "\(message.receiveCount)"])
        await changeVisibility(message, to: delay, log: log)
    }

    func changeVisibility(_ message: SQSMessage, to seconds: Int, log: Logger) async {
        do {
            try await sqs.changeMessageVisibility(queueURL: queueURL, receiptHandle: message.receiptHandle, timeout: seconds)
        } catch {
            // The visibility timeout runs out by itself; the message comes back either way.
            log.warning("could not change message visibility", metadata: ["error": "\(error)"])
        }
    }

    /// Runs clean-up that must happen even when the calling task was cancelled (giving work back).
    func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
        await Task { await body() }.value
    }

    /// Dead-letters a whole message that can never be processed, then deletes it from the main queue.
    /// If the send fails, the message stays in the main queue (redrive moves it later): nothing is lost.
    func deadLetter(_ message: SQSMessage, code: String, reason: String, object: ObjectCreated?, route: String?,
                    attempt: Int, log: Logger) async {
        if await sendDeadLetter(message.body, of: message, code: code, reason: reason, object: object, route: route,
                                attempt: attempt, log: log) {
            await acknowledge(message, log: log)
        }
    }

    /// Sends `body` to the DLQ with the reason as attributes; false when the send failed.
    func sendDeadLetter(_ body: String, of message: SQSMessage, code: String, reason: String, object: ObjectCreated?,
                        route: String?, attempt: Int, log: Logger) async -> Bool {
        // A replayed message keeps its replay count, so the history shows how often it was tried.
        let carried = message.messageAttributes.filter { [DeadLetterAttributes.replayCount, DeadLetterAttributes.replayOf].contains($0.key) }
        let recorded = DeadLetterAttributes(code: code, reason: reason, worker: settings.workerID, attempt: attempt,
                                            sourceMessageID: message.messageID, failedAt: Date(), bucket: object?.bucket,
                                            key: object?.key, route: route, carriedOver: carried)
        let (body, attributes) = DeadLetterAttributes.sendable(body: body, attributes: recorded.values)
        do {
            try await sqs.sendMessage(queueURL: deadLetterURL, body: body, attributes: attributes)
            return true
        } catch {
            log.error("could not send to the dead-letter queue; leaving the message in the main queue",
                      metadata: ["error": "\(error)"])
            return false
        }
    }

    func backoff(_ attempt: Int) async {
        let delay = RetryPolicy(maxAttempts: 0, baseDelay: 0.5, maxDelay: 20).delay(afterAttempt: attempt)
        try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
    }
}

/// Free job slots: the poller asks for only as many messages as it can start.
actor SlotCounter {
    private let capacity: Int
    private(set) var inFlight = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ capacity: Int) { self.capacity = capacity }

    private var stopped = false

    /// Waits until at least one slot is free; returns how many are (0 once `stopWaiting` was called).
    func waitForFree() async -> Int {
        while inFlight >= capacity && !stopped {
            await withCheckedContinuation { waiters.append($0) }
        }
        return stopped ? 0 : capacity - inFlight
    }

    /// Shutdown: nobody waits for a slot any more.
    func stopWaiting() {
        stopped = true
        for w in waiters { w.resume() }
        waiters.removeAll()
    }

    func take() { inFlight += 1 }

    func release() {
        inFlight -= 1
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}

/// Counts of what this process did, for the CLI's closing summary.
public struct WorkerSummary: Sendable, Equatable {
    public var succeeded = 0
    public var failed = 0
    public var duplicates = 0
    public var rowsLoaded = 0
    public var rowsRejected = 0
}

final class LockedStats: @unchecked Sendable {
    // Safety: every access holds `lock`.
    enum Event { case succeeded(rows: Int, rejected: Int), failed, duplicate }
    private let lock = NSLock()
    private var value = WorkerSummary()

    func record(_ e: Event) {
        lock.withLock {
            switch e {
            case .succeeded(let rows, let rejected):
                value.succeeded += 1
                value.rowsLoaded += rows
                value.rowsRejected += rejected
            case .failed: value.failed += 1
            case .duplicate: value.duplicates += 1
            }
        }
    }

    var snapshot: WorkerSummary { lock.withLock { value } }
}

/// A value shared between tasks and threads, behind a lock.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    // Safety: every access holds `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension Worker: Service {}
