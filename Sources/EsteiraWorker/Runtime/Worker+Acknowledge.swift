import EsteiraAWS
import Foundation
import Logging

extension Worker {
    /// Deletes the message: its files are done (loaded, duplicate or dead-lettered).
    func acknowledge(_ message: SQSMessage, log: Logger) async {
        do {
            try await queue.delete(message)
        } catch {
            // Not fatal: a redelivery finds the job done and is acknowledged then.
            log.warning("could not delete message", metadata: ["error": "\(error)"])
        }
    }

    /// Makes the message visible again after a delay that grows with each receive (`GiveBackDelay`).
    func giveBack(_ message: SQSMessage, log: Logger) async {
        let delay = GiveBackDelay.after(receiveCount: message.receiveCount)
        log.info(
            "giving the message back",
            metadata: [
                "visible_in_s": "\(WholeSeconds.of(delay))", "receive_count": "\(message.receiveCount)",
            ])
        await changeVisibility(message, to: delay, log: log)
    }

    /// A split message: requeues just the records that need another try (after the give-back delay),
    /// then drops the original; if any send fails, the whole message is given back instead.
    func requeue(_ records: [ObjectCreated], of message: SQSMessage, log: Logger) async {
        let delay = GiveBackDelay.after(receiveCount: message.receiveCount)
        var requeued = true
        for object in records {
            do {
                try await queue.send(body: object.notificationBody, delay: delay)
            } catch {
                requeued = false
            }
        }
        if requeued { await acknowledge(message, log: log) } else { await giveBack(message, log: log) }
    }

    func changeVisibility(_ message: SQSMessage, to timeout: Duration, log: Logger) async {
        do {
            try await queue.changeVisibility(message, to: timeout)
        } catch {
            // The visibility timeout runs out by itself; the message comes back either way.
            log.warning("could not change message visibility", metadata: ["error": "\(error)"])
        }
    }

    /// Runs clean-up that must happen even when the calling task was cancelled (giving work back).
    func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
        await Task { await body() }.value
    }

    /// Waits before in-process attempt `attempt + 1`.
    func backoff(_ attempt: Int) async {
        try? await Task.sleep(for: settings.retryBackoff.delay(afterAttempt: attempt))
    }

    // MARK: - Dead letters

    /// The one way to the dead-letter queue: sends `body` with the failure's `esteira.*` attributes, then
    /// counts the failure (`esteira_files_failed{reason}`, and the summary's `failed` for a file). False when the send failed: the message stays in the main queue (SQS redrive
    /// moves it later), so nothing is lost.
    func deadLetter(
        _ body: String, of message: SQSMessage, code: String, reason: String, object: ObjectCreated?,
        route: String?, attempt: Int, rejectsURI: String? = nil, log: Logger
    ) async -> Bool {
        let attributes = DeadLetterAttributes(
            code: code, reason: reason, worker: settings.workerID, attempt: attempt, sourceMessageID: message.messageID,
            failedAt: Date(), bucket: object?.bucket, key: object?.key, route: route,
            // A replayed message keeps its replay count, so the history shows how often it was tried.
            carriedOver: DeadLetterAttributes(message.messageAttributes).replayHistory)
        do {
            try await queue.sendToDeadLetter(body: body, attributes: attributes)
        } catch {
            log.error(
                "could not send to the dead-letter queue; leaving the message in the main queue",
                metadata: ["error": "\(error)"])
            return false
        }
        // The summary counts files; a message that names none (undecodable) is counted by the metric only.
        if let object {
            stats.withLock { $0.record(.failed) }
            announceFailed(object, code: code, reason: reason, route: route, rejectsURI: rejectsURI)
        }
        metrics.failed(code)
        return true
    }

    /// One file of a message, as it is dead-lettered: alone (its own one-record body) when the message was split.
    struct Refusal {
        var object: ObjectCreated
        var message: SQSMessage
        var split: Bool
        var body: String { split ? object.notificationBody : message.body }

        /// How a refused file is recorded in the jobs table before it is dead-lettered.
        enum Record {
            /// Not at all (a bucket that is not ours).
            case none
            /// Refused before any claim.
            case rejected
            /// Failed permanently while we held it.
            case failed(fencingToken: Int64)
        }
    }

    /// Records the refusal in the jobs table, then dead-letters the file. `.retryLater` when the dead
    /// letter could not be sent (the message stays in the main queue).
    func refuse(
        _ r: Refusal, code: String, reason: String, route: String? = nil, attempt: Int = 0,
        record: Refusal.Record = .none, rejectsURI: String? = nil, log: Logger
    ) async -> Disposition {
        switch record {
        case .none:
            break
        case .rejected:
            try? await jobs.recordRejected(r.object, reason: reason)
        case .failed(let token):
            try? await jobs.markFailed(
                r.object, owner: settings.workerID, fencingToken: token, reason: "\(code): \(reason)")
        }
        let sent = await deadLetter(
            r.body, of: r.message, code: code, reason: reason, object: r.object, route: route,
            attempt: attempt, rejectsURI: rejectsURI, log: log)
        return sent ? .deadLettered : .retryLater
    }
}
