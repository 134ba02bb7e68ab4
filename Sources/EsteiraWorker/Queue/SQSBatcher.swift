import EsteiraAWS
import Synchronization

/// Gathers the single-message calls of one queue made within a short window into batch calls of up to
/// ten entries (DeleteMessageBatch, ChangeMessageVisibilityBatch): the files of a receive end together, and
/// their deletes go out as one request. Each caller still awaits its own entry's outcome, so a refused entry
/// fails only its caller, and a failed batch call fails every entry of it.
final class SQSBatcher<Entry: Sendable>: Sendable {
    /// Sends one batch (1…`maxEntries` entries); returns each refused entry's error by its index.
    typealias Send = @Sendable (_ entries: [Entry]) async throws -> [Int: any Error]

    private struct Pending {
        var entry: Entry
        var done: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var timerArmed = false
    }

    let window: Duration
    let maxEntries: Int
    private let send: Send
    private let state = Mutex(State())

    /// - Parameters:
    ///   - window: how long the first entry of a batch waits for company before the batch goes out.
    ///   - maxEntries: a full batch goes out at once (SQS takes at most 10).
    init(window: Duration, maxEntries: Int = 10, send: @escaping Send) {
        self.window = window
        self.maxEntries = max(1, min(10, maxEntries))
        self.send = send
    }

    /// Adds the entry to the next batch and returns (or throws) once that batch's answer says what became of it.
    func submit(_ entry: Entry) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            let (full, armTimer) = state.withLock { s -> ([Pending]?, Bool) in
                s.pending.append(Pending(entry: entry, done: done))
                if s.pending.count >= maxEntries {
                    defer { s.pending.removeAll(keepingCapacity: true) }
                    return (s.pending, false)
                }
                if s.timerArmed { return (nil, false) }
                s.timerArmed = true
                return (nil, true)
            }
            if let full { Task { await self.flush(full) } }
            if armTimer {
                Task {
                    try? await Task.sleep(for: self.window)
                    let batch = self.state.withLock { s -> [Pending] in
                        s.timerArmed = false
                        defer { s.pending.removeAll(keepingCapacity: true) }
                        return s.pending
                    }
                    if !batch.isEmpty { await self.flush(batch) }
                }
            }
        }
    }

    private func flush(_ batch: [Pending]) async {
        do {
            let refused = try await send(batch.map(\.entry))
            for (i, p) in batch.enumerated() {
                if let error = refused[i] { p.done.resume(throwing: error) } else { p.done.resume() }
            }
        } catch {
            for p in batch { p.done.resume(throwing: error) }
        }
    }
}

extension SQSBatchResult {
    /// The refused entries of a batch of `count` whose ids are the entries' indexes, as errors that read like
    /// the single call's. An entry the answer names neither way was not confirmed, so it counts as refused.
    func refusals(operation: String, count: Int) -> [Int: any Error] {
        var out: [Int: any Error] = [:]
        for f in failed {
            guard let i = Int(f.id), (0..<count).contains(i) else { continue }
            out[i] = AWSError(
                service: "sqs", operation: operation, code: AWSError.Code(rawValue: f.code), message: f.message,
                status: f.senderFault ? 400 : 500, isTransient: !f.senderFault)
        }
        let done = Set(successful.compactMap { Int($0) })
        for i in 0..<count where out[i] == nil && !done.contains(i) {
            out[i] = AWSError(
                service: "sqs", operation: operation, code: .malformedResponse,
                message: "the batch answer named entry \(i) neither successful nor failed", status: 200,
                isTransient: true)
        }
        return out
    }
}
