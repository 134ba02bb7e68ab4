import EsteiraWorker
import Foundation
import Synchronization

@testable import EsteiraAWS  // SQSMessage has no public init

/// A queue and its dead-letter queue in memory, recording every call the worker makes, in order.
///
/// Time is not modelled: a message hidden for a while (given back with a delay) stays hidden; one made
/// visible at once (`.zero`) can be received again. An empty receive waits for a message or `wait`,
/// whichever comes first, so a test sets a short wait.
public final class InMemoryWorkQueue: WorkQueue {
    public enum Event: Sendable, Equatable {
        case received(id: String)
        case deleted(id: String)
        case visibility(id: String, Duration)
        case sent(body: String, delay: Duration)
        case deadLettered(body: String)
    }

    public struct DeadLetter: Sendable, Equatable {
        public var body: String
        public var attributes: DeadLetterAttributes
    }

    struct State {
        var waiting: [SQSMessage] = []
        var hidden: [String: SQSMessage] = [:]
        var receiveCounts: [String: Int] = [:]
        var delayed = 0
        var events: [Event] = []
        var deadLetters: [DeadLetter] = []
        var failingDeadLetters = false
        var failingReceives = 0
        var next = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Puts a message on the queue as SQS would deliver it; returns its id.
    @discardableResult
    public func put(body: String, messageAttributes: [String: String] = [:], receivedBefore: Int = 0) -> String {
        state.withLock { s in
            s.next += 1
            let id = "m\(s.next)"
            s.receiveCounts[id] = receivedBefore
            s.waiting.append(
                SQSMessage(
                    messageID: id, receiptHandle: "rh-\(id)", body: body, attributes: [:],
                    messageAttributes: messageAttributes))
            return id
        }
    }

    /// Everything the worker did to the queues so far, in order.
    public var events: [Event] { state.withLock { $0.events } }
    /// The calls made about one message (receives excluded).
    public func events(for id: String) -> [Event] {
        events.filter {
            switch $0 {
            case .deleted(let m), .visibility(let m, _): m == id
            default: false
            }
        }
    }
    public var deadLetters: [DeadLetter] { state.withLock { $0.deadLetters } }
    public var sent: [(body: String, delay: Duration)] {
        events.compactMap { if case .sent(let b, let d) = $0 { (b, d) } else { nil } }
    }
    /// Messages received and neither deleted nor made visible again.
    public var hiddenCount: Int { state.withLock { $0.hidden.count } }

    /// Makes every dead-letter send fail (an unreachable DLQ, a refused message).
    public func failDeadLetters(_ failing: Bool = true) { state.withLock { $0.failingDeadLetters = failing } }
    /// Makes the next `count` receives fail with a transient error.
    public func failReceives(_ count: Int) { state.withLock { $0.failingReceives = count } }

    public func receive(max: Int, wait: Duration, visibilityTimeout: Duration) async throws -> [SQSMessage] {
        let deadline = ContinuousClock.now + wait
        while true {
            let taken: [SQSMessage]? = try state.withLock { s in
                if s.failingReceives > 0 {
                    s.failingReceives -= 1
                    throw AWSError(
                        service: "sqs", operation: "ReceiveMessage", code: .init(rawValue: "ServiceUnavailable"),
                        message: "injected", status: 503, isTransient: true)
                }
                guard !s.waiting.isEmpty else { return nil }
                let n = Swift.min(Swift.max(1, max), 10, s.waiting.count)
                var out: [SQSMessage] = []
                for var m in s.waiting.prefix(n) {
                    let count = (s.receiveCounts[m.messageID] ?? 0) + 1
                    s.receiveCounts[m.messageID] = count
                    m.attributes["ApproximateReceiveCount"] = String(count)
                    m.receiptHandle = "rh-\(m.messageID)-\(count)"
                    s.hidden[m.messageID] = m
                    s.events.append(.received(id: m.messageID))
                    out.append(m)
                }
                s.waiting.removeFirst(n)
                return out
            }
            if let taken { return taken }
            if ContinuousClock.now >= deadline { return [] }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    public func delete(_ message: SQSMessage) async throws {
        state.withLock { s in
            s.hidden[message.messageID] = nil
            s.events.append(.deleted(id: message.messageID))
        }
    }

    public func changeVisibility(_ message: SQSMessage, to timeout: Duration) async throws {
        state.withLock { s in
            s.events.append(.visibility(id: message.messageID, timeout))
            if timeout == .zero, let m = s.hidden.removeValue(forKey: message.messageID) {
                s.waiting.append(m)
            }
        }
    }

    public func send(body: String, delay: Duration) async throws {
        state.withLock { s in
            s.events.append(.sent(body: body, delay: delay))
            s.delayed += 1
        }
    }

    public func sendToDeadLetter(body: String, attributes: DeadLetterAttributes) async throws {
        try state.withLock { s in
            if s.failingDeadLetters {
                throw AWSError(
                    service: "sqs", operation: "SendMessage", code: .init(rawValue: "InvalidMessageContents"),
                    message: "injected", status: 400, isTransient: false)
            }
            s.events.append(.deadLettered(body: body))
            s.deadLetters.append(DeadLetter(body: body, attributes: attributes))
        }
    }

    public func depth() async throws -> QueueDepth {
        state.withLock { QueueDepth(waiting: $0.waiting.count, inFlight: $0.hidden.count, delayed: $0.delayed) }
    }
}
