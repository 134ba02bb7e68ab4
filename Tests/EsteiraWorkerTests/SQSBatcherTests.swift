import Foundation
import Synchronization
import Testing

@testable import EsteiraAWS
@testable import EsteiraWorker

/// Deletes and visibility changes of files that end together share one batch request per queue.
@Suite("SQS batches of deletes and visibility changes")
struct SQSBatcherTests {
    /// A batcher whose batch call records what it was sent and refuses the entries named in `refuse`.
    final class Recorder: Sendable {
        let batches = Mutex<[[String]]>([])
        let refuse: Set<String>
        let failCall: Bool
        init(refuse: Set<String> = [], failCall: Bool = false) {
            self.refuse = refuse
            self.failCall = failCall
        }

        func batcher(window: Duration = .milliseconds(500)) -> SQSBatcher<String> {
            SQSBatcher(window: window) { entries in
                self.batches.withLock { $0.append(entries) }
                if self.failCall {
                    throw AWSError(
                        service: "sqs", operation: "DeleteMessageBatch", code: .init(rawValue: "ServiceUnavailable"),
                        message: "injected", status: 503)
                }
                var refused: [Int: any Error] = [:]
                for (i, e) in entries.enumerated() where self.refuse.contains(e) {
                    refused[i] = AWSError(
                        service: "sqs", operation: "DeleteMessageBatch",
                        code: .init(rawValue: "ReceiptHandleIsInvalid"), message: e, status: 400)
                }
                return refused
            }
        }
    }

    /// Submits every entry at once and returns, per entry, whether its caller saw success.
    static func submitAll(_ batcher: SQSBatcher<String>, _ entries: [String]) async -> [String: Bool] {
        await withTaskGroup(of: (String, Bool).self) { group in
            for e in entries {
                group.addTask {
                    do {
                        try await batcher.submit(e)
                        return (e, true)
                    } catch {
                        return (e, false)
                    }
                }
            }
            var out: [String: Bool] = [:]
            for await (e, ok) in group { out[e] = ok }
            return out
        }
    }

    @Test("calls within the window go out as one batch; a full batch of ten goes at once, the rest in another")
    func batches() async throws {
        let r = Recorder()
        let outcome = await Self.submitAll(r.batcher(), (0..<13).map { "h\($0)" })
        #expect(outcome.values.allSatisfy { $0 } && outcome.count == 13)
        let sizes = r.batches.withLock { $0.map(\.count) }.sorted()
        #expect(sizes == [3, 10], "\(sizes)")
        #expect(Set(r.batches.withLock { $0.flatMap { $0 } }) == Set((0..<13).map { "h\($0)" }))
    }

    @Test("one call alone still goes out, after the window")
    func alone() async throws {
        let r = Recorder()
        let batcher = r.batcher(window: .milliseconds(5))
        try await batcher.submit("only")
        try await batcher.submit("next")
        #expect(r.batches.withLock { $0 } == [["only"], ["next"]])
    }

    @Test("a refused entry fails its own caller only")
    func refusedEntry() async throws {
        let r = Recorder(refuse: ["h2"])
        let outcome = await Self.submitAll(r.batcher(), ["h1", "h2", "h3"])
        #expect(outcome == ["h1": true, "h2": false, "h3": true])
        #expect(r.batches.withLock { $0.count } == 1)
    }

    @Test("a batch call that fails fails every entry of it")
    func failedCall() async throws {
        let r = Recorder(failCall: true)
        let outcome = await Self.submitAll(r.batcher(), ["h1", "h2"])
        #expect(outcome == ["h1": false, "h2": false])
    }

    @Test("a batch answer that names an entry neither way counts it as refused")
    func unconfirmed() {
        let result = SQSBatchResult(
            successful: ["0"],
            failed: [SQSBatchFailure(id: "2", code: "ReceiptHandleIsInvalid", message: "bad", senderFault: true)])
        let refused = result.refusals(operation: "DeleteMessageBatch", count: 3)
        #expect(Set(refused.keys) == [1, 2])
        #expect((refused[2] as? AWSError)?.code.rawValue == "ReceiptHandleIsInvalid")
        #expect((refused[2] as? AWSError)?.isTransient == false)
    }
}
