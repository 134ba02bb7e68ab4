import EsteiraPipeline
import EsteiraWorkerTestSupport
import Foundation
import Synchronization
import Testing

@testable import EsteiraWorker

/// Which outcomes the worker announces: only a file's final one (loaded, or dead-lettered), never a
/// duplicate delivery or a transient failure given back for later.
@Suite("Worker notifications, without servers")
struct WorkerNotifyTests {
    final class Seen: Sendable {
        let list = Mutex<[FileNotification]>([])
        var all: [FileNotification] { list.withLock { $0 } }
    }

    static func bench(_ seen: Seen) throws -> WorkerBench {
        var settings = Notifier.Settings(
            global: NotifyTargets(
                webhook: try WebhookURL("https://127.0.0.1:1/hook"),
                events: [.failed, .succeeded]),
            webhookSecret: Array("0123456789abcdef".utf8))
        settings.attempts = 1
        let notifier = Notifier(settings: settings, sns: nil, logger: WorkerBench.quiet) { n, targets in
            if targets > 0 { seen.list.withLock { $0.append(n) } }
        }
        return try WorkerBench(notifier: notifier)
    }

    @Test("a loaded file: one SUCCEEDED with its rows, table and job id")
    func loaded() async throws {
        let seen = Seen()
        let bench = try Self.bench(seen)
        let o = bench.object("orders-1.csv")
        bench.loader.script(o.key, .load(rows: 7, rejected: 2))
        _ = try await bench.handle(o)
        let n = try #require(seen.all.first)
        #expect(seen.all.count == 1)
        #expect(n.event == .succeeded && n.rowsLoaded == 7 && n.rowsRejected == 2 && n.code == nil)
        #expect(n.key == o.key && n.bucket == "landing" && n.worker == "w1" && n.jobID == JobLedger.jobID(o))
    }

    @Test("a permanent failure: one FAILED with the DLQ's code and reason")
    func failed() async throws {
        let seen = Seen()
        let bench = try Self.bench(seen)
        let o = bench.object("orders-bad.csv")
        bench.loader.script(o.key, .fail(PipelineError(.badCSV, "line 3: unterminated quote")))
        _ = try await bench.handle(o)
        #expect(seen.all.map(\.event) == [.failed])
        #expect(seen.all.first?.code == "BadCSV")
        #expect(seen.all.first?.reason == "line 3: unterminated quote")
    }

    @Test("a foreign bucket's file is announced FAILED, without a route")
    func foreign() async throws {
        let seen = Seen()
        let bench = try Self.bench(seen)
        _ = try await bench.handle(bench.object("x.csv", bucket: "someone-else"))
        #expect(seen.all.map(\.event) == [.failed])
        #expect(seen.all.first?.code == "ForeignBucket" && seen.all.first?.route == nil)
    }

    @Test("duplicates and transient failures given back are not announced")
    func notFinal() async throws {
        let seen = Seen()
        let bench = try Self.bench(seen)
        let dup = bench.object("orders-dup.csv")
        bench.loader.script(dup.key, .alreadyLoaded)
        _ = try await bench.handle(dup)
        let flaky = bench.object("orders-flaky.csv")
        bench.loader.script(flaky.key, .fail(lostConnection), .fail(lostConnection), .fail(lostConnection))
        _ = try await bench.handle(flaky)
        #expect(bench.queue.deadLetters.isEmpty)
        #expect(seen.all.isEmpty)
    }
}
