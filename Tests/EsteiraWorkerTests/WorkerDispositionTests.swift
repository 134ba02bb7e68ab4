import EsteiraAWS
import EsteiraPipeline
import EsteiraWorkerTestSupport
import Foundation
import Testing

@testable import EsteiraWorker

/// What the worker does with one message, told as the calls it makes on the queue and the jobs table.
@Suite("Worker dispositions, without servers")
struct WorkerDispositionTests {
    @Test("loaded: claimed, committed, job SUCCEEDED, then the message deleted")
    func loaded() async throws {
        // No heartbeat within the test, however loaded the machine.
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-1.csv")
        bench.loader.script(o.key, .load(rows: 7, rejected: 2))
        let m = try await bench.handle(o)

        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
        // A file that loads at once writes the claim and the success, nothing else: the claim's answer
        // carries the attempt counters (no read), the stage is left to a heartbeat that never came, and
        // the lease, sent moments ago, needs no check before COMMIT.
        #expect(bench.jobs.events(o) == [.claimed(token: 1), .succeeded(token: 1)])
        #expect(bench.jobs.historyReads == 0)
        #expect(bench.jobs.job(o)?.stage == nil)
        let job = try #require(bench.jobs.job(o))
        #expect(job.status == "SUCCEEDED" && job.rowsLoaded == 7 && job.rowsRejected == 2)
        #expect(job.runsStarted == 1 && job.runsEnded == 1)
        #expect(bench.loader.committed == [o.key])
        #expect(bench.worker.summary == WorkerSummary(succeeded: 1, rowsLoaded: 7, rowsRejected: 2))
        #expect(bench.queue.deadLetters.isEmpty)
    }

    @Test("duplicate: a version the jobs table has as SUCCEEDED is acknowledged without loading")
    func duplicateInJobsTable() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-dup.csv")
        bench.jobs.seed(o, .init(status: "SUCCEEDED", attempt: 1, runsStarted: 1, runsEnded: 1))
        let m = try await bench.handle(o)

        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
        #expect(bench.loader.started.isEmpty)
        #expect(bench.jobs.events(o).isEmpty)
        #expect(bench.worker.summary == WorkerSummary(duplicates: 1))
    }

    @Test("duplicate: a version MySQL's ledger already holds is marked SUCCEEDED as already loaded, nothing written")
    func duplicateInMySQL() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-dup2.csv")
        bench.loader.script(o.key, .alreadyLoaded)
        let m = try await bench.handle(o)

        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
        #expect(bench.jobs.job(o)?.status == "SUCCEEDED")
        #expect(bench.jobs.job(o)?.alreadyLoaded == true)
        #expect(bench.worker.summary == WorkerSummary(duplicates: 1))
    }

    @Test(
        "permanent failure: job FAILED, a dead letter with the esteira.* attributes, then deleted from the main queue")
    func permanentFailure() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-bad.csv")
        bench.loader.script(o.key, .fail(PipelineError(.badCSV, "line 3: unterminated quote")))
        let m = try await bench.handle(o)

        let letter = try bench.deadLetter()
        #expect(letter.body == m.body)
        let a = letter.attributes
        #expect(a.errorCode == "BadCSV")
        #expect(a.reason == "line 3: unterminated quote")
        #expect(a[DeadLetterAttributes.bucket] == "landing")
        #expect(a.objectKey == o.key)
        #expect(a[DeadLetterAttributes.route] == "orders")
        #expect(a[DeadLetterAttributes.attempt] == "1")
        #expect(a[DeadLetterAttributes.worker] == "w1")
        #expect(a[DeadLetterAttributes.sourceMessageID] == m.messageID)
        // Sent to the DLQ before the message is deleted: a crash in between leaves it in the main queue.
        #expect(bench.queue.events.suffix(2) == [.deadLettered(body: m.body), .deleted(id: m.messageID)])
        #expect(
            bench.jobs.events(o) == [
                .claimed(token: 1), .failed(token: 1, reason: "BadCSV: line 3: unterminated quote"),
            ])
        #expect(bench.jobs.job(o)?.status == "FAILED")
        #expect(bench.worker.summary == WorkerSummary(failed: 1))
    }

    @Test("transient failure: retried in process, each attempt released, then the message given back for 20 s")
    func transientThenGiveBack() async throws {
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.attempts = 3
        }
        let o = bench.object("orders-flaky.csv")
        bench.loader.script(o.key, .fail(lostConnection))
        let m = try await bench.handle(o)

        #expect(bench.loader.started == [o.key, o.key, o.key])
        let reason = lostConnection.description
        #expect(
            bench.jobs.events(o) == [
                .claimed(token: 1), .released(token: 1, reason: reason),
                .claimed(token: 2), .released(token: 2, reason: reason),
                .claimed(token: 3), .released(token: 3, reason: reason),
            ])
        #expect(bench.jobs.job(o)?.status == "RECEIVED")
        #expect(bench.queue.events(for: m.messageID) == [.visibility(id: m.messageID, .seconds(20))])
        #expect(bench.queue.deadLetters.isEmpty)
        #expect(bench.worker.summary == WorkerSummary())
    }

    @Test("transient failure, then success on the next try: loaded once, with the second fencing token")
    func transientThenLoaded() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-once-flaky.csv")
        bench.loader.script(o.key, .fail(lostConnection), .load(rows: 3))
        let m = try await bench.handle(o)

        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
        #expect(bench.jobs.events(o).last == .succeeded(token: 2))
        #expect(bench.loader.committed == [o.key])
    }

    @Test(
        "the give-back delay grows with each receive and stops at the cap",
        arguments: [
            (receivedBefore: 0, seconds: 20), (receivedBefore: 1, seconds: 40), (receivedBefore: 3, seconds: 160),
            (receivedBefore: 5, seconds: 640), (receivedBefore: 6, seconds: 900), (receivedBefore: 50, seconds: 900),
        ])
    func giveBackDelayGrows(receivedBefore: Int, seconds: Int) async throws {
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.attempts = 1
        }
        let o = bench.object("orders-again.csv")
        bench.loader.script(o.key, .fail(lostConnection))
        let m = try await bench.handle(o, receivedBefore: receivedBefore)
        #expect(bench.queue.events(for: m.messageID) == [.visibility(id: m.messageID, .seconds(seconds))])
        #expect(GiveBackDelay.after(receiveCount: receivedBefore + 1) == .seconds(seconds))
    }

    @Test("held by another worker: left alone and given back, nothing loaded")
    func heldByAnother() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-held.csv")
        bench.jobs.steal(o, by: "w2")
        let m = try await bench.handle(o)
        #expect(bench.loader.started.isEmpty)
        #expect(bench.queue.events(for: m.messageID) == [.visibility(id: m.messageID, .seconds(20))])
        #expect(bench.jobs.job(o)?.owner == "w2")
    }

    @Test("a claim the jobs table does not answer is retried; the file still loads")
    func claimRetried() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-claim.csv")
        bench.jobs.failClaims(1)
        let m = try await bench.handle(o)
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
        #expect(bench.loader.committed == [o.key])
    }

    @Test(
        "lease lost: the heartbeat finds another holder, the load is cancelled before commit and the message given back"
    )
    func leaseLostToHeartbeat() async throws {
        let bench = try WorkerBench { $0.attempts = 1 }
        let o = bench.object("orders-stolen.csv")
        bench.loader.script(o.key, .hang)
        let m = try await bench.deliver(o)
        let handling = Task { await bench.worker.handle(m) }
        try await eventually("the load started") { bench.loader.started == [o.key] }
        bench.jobs.steal(o)
        await handling.value

        #expect(bench.loader.cancelled == [o.key])
        #expect(bench.loader.committed.isEmpty)
        // The thief's record is untouched: our release was refused, as the fencing condition requires.
        #expect(bench.jobs.job(o)?.owner == "thief")
        #expect(bench.jobs.job(o)?.status == "RUNNING")
        #expect(!bench.jobs.events(o).contains { if case .released = $0 { true } else { false } })
        #expect(bench.queue.events(for: m.messageID).last == .visibility(id: m.messageID, .seconds(20)))
        #expect(!bench.queue.events(for: m.messageID).contains(.deleted(id: m.messageID)))
    }

    @Test("lease lost at the last check before COMMIT: rolled back, nothing committed")
    func leaseLostBeforeCommit() async throws {
        // A heartbeat far away: only the check before COMMIT can notice. The steal below cannot happen
        // within a live lease, so the test trusts the lease for no time at all (as after a long pause).
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.attempts = 1
            $0.leaseTrust = .zero
        }
        let o = bench.object("orders-late.csv")
        bench.loader.script(o.key, .hang)
        let m = try await bench.deliver(o)
        let handling = Task { await bench.worker.handle(m) }
        try await eventually("the load started") { bench.loader.started == [o.key] }
        bench.jobs.steal(o)
        bench.loader.finish(key: o.key)
        await handling.value

        #expect(bench.loader.committed.isEmpty)
        #expect(bench.loader.cancelled == [o.key])
        #expect(bench.queue.events(for: m.messageID) == [.visibility(id: m.messageID, .seconds(20))])
    }

    @Test("a version whose earlier attempt died records each stage as the load enters it")
    func suspectRecordsStages() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders-suspect.csv")
        // An attempt that never ended: its process died.
        bench.jobs.seed(
            o,
            .init(
                status: "RUNNING", owner: "w0", attempt: 1, leaseExpiresAt: Date(timeIntervalSinceNow: -1),
                runsStarted: 1))
        _ = try await bench.handle(o)
        #expect(
            bench.jobs.events(o) == [.claimed(token: 2), .stage("fetch"), .stage("read"), .succeeded(token: 2)])
        #expect(bench.jobs.historyReads == 0)
    }

    @Test("a load that outlives a heartbeat period has its stage recorded by the lease extension, in one write")
    func heartbeatRecordsStage() async throws {
        let bench = try WorkerBench()
        let o = bench.object("orders-slow.csv")
        bench.loader.script(o.key, .hang)
        let m = try await bench.deliver(o)
        let handling = Task { await bench.worker.handle(m) }
        try await eventually("a heartbeat") { bench.jobs.events(o).contains(.leaseExtended(token: 1)) }
        #expect(bench.jobs.job(o)?.stage == "read")
        bench.loader.finish(key: o.key)
        await handling.value
        #expect(!bench.jobs.events(o).contains { if case .stage = $0 { true } else { false } })
        #expect(bench.jobs.events(o).last == .succeeded(token: 1))
    }

    @Test("heartbeats fall on the process's shared tick, between a quarter and one and a quarter periods apart")
    func heartbeatTicks() {
        let period = Duration.milliseconds(100)
        let epoch = HeartbeatTick.epoch
        for offset in [0, 1, 24, 25, 26, 99, 100, 101, 250, 1234] {
            let last = epoch + .milliseconds(offset)
            let next = HeartbeatTick.next(after: last, period: period)
            #expect(next - last >= period / 4 && next - last <= period * 5 / 4, "after +\(offset) ms")
            let onGrid = (next - epoch) / period
            #expect(abs(onGrid - onGrid.rounded()) < 1e-9, "after +\(offset) ms: \(onGrid)")
        }
        // Two files claimed apart beat together from their first heartbeat on.
        #expect(
            HeartbeatTick.next(after: epoch + .milliseconds(130), period: period)
                == HeartbeatTick.next(after: epoch + .milliseconds(170), period: period))
    }

    @Test("the heartbeat renews the lease and the visibility while a long file loads")
    func heartbeatRenews() async throws {
        let bench = try WorkerBench()
        let o = bench.object("orders-long.csv")
        bench.loader.script(o.key, .hang)
        let m = try await bench.deliver(o)
        let handling = Task { await bench.worker.handle(m) }
        try await eventually("two heartbeats") {
            bench.jobs.events(o).filter { $0 == .leaseExtended(token: 1) }.count >= 2
        }
        bench.loader.finish(key: o.key)
        await handling.value
        #expect(bench.queue.events(for: m.messageID).contains(.visibility(id: m.messageID, .milliseconds(200))))
        #expect(bench.queue.events(for: m.messageID).last == .deleted(id: m.messageID))
        #expect(bench.loader.committed == [o.key])
    }

    @Test("ForeignBucket: an event naming another bucket is dead-lettered unread and unrecorded")
    func foreignBucket() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("orders.csv", bucket: "someone-elses")
        let m = try await bench.handle(o)
        let letter = try bench.deadLetter()
        #expect(letter.attributes.errorCode == "ForeignBucket")
        #expect(letter.attributes.reason.contains("not a landing bucket"))
        #expect(bench.jobs.job(o) == nil)
        #expect(bench.loader.started.isEmpty)
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
    }

    @Test("NoRoute: recorded as refused in the jobs table, dead-lettered, deleted")
    func noRoute() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("noroute.csv")
        let m = try await bench.handle(o)
        let letter = try bench.deadLetter()
        #expect(letter.attributes.errorCode == "NoRoute")
        #expect(letter.attributes[DeadLetterAttributes.route] == nil)
        #expect(bench.jobs.job(o)?.status == "FAILED")
        #expect(bench.jobs.events(o) == [.rejected(reason: letter.attributes.reason)])
        #expect(bench.loader.started.isEmpty)
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
    }

    @Test("TooLarge: a file over --max-file-size is refused before download")
    func tooLarge() async throws {
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.maxObjectBytes = 50
        }
        let o = bench.object("orders-huge.csv", size: 51)
        let m = try await bench.handle(o)
        let letter = try bench.deadLetter()
        #expect(letter.attributes.errorCode == "TooLarge")
        #expect(letter.attributes.reason.contains("51 bytes, over the 50-byte limit"))
        #expect(letter.attributes[DeadLetterAttributes.route] == "orders")
        #expect(bench.jobs.job(o)?.status == "FAILED")
        #expect(bench.loader.started.isEmpty)
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
    }

    @Test("Crashed: after three attempts that died, the version is dead-lettered unread and its deaths forgiven")
    func crashed() async throws {
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.maxCrashes = 3
        }
        let o = bench.object("orders-boom.csv")
        bench.jobs.seed(
            o,
            .init(
                status: "RUNNING", owner: "dead-pod", attempt: 3, leaseExpiresAt: Date(timeIntervalSinceNow: -1),
                runsStarted: 3, runsEnded: 0, stage: "read"))
        let m = try await bench.handle(o)
        let letter = try bench.deadLetter()
        #expect(letter.attributes.errorCode == "Crashed")
        #expect(
            letter.attributes.reason.contains("died 3 times")
                && letter.attributes.reason.contains("last stage reached: read"))
        #expect(letter.attributes[DeadLetterAttributes.attempt] == "4")
        #expect(bench.loader.started.isEmpty)
        let job = try #require(bench.jobs.job(o))
        #expect(job.status == "FAILED")
        #expect(job.runsStarted == 4 && job.runsEnded == 4, "a replay after the fix starts with a clean count")
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
    }

    @Test("two deaths are below the limit: the file is loaded")
    func diedBelowLimit() async throws {
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.maxCrashes = 3
        }
        let o = bench.object("orders-twice.csv")
        bench.jobs.seed(o, .init(status: "RECEIVED", attempt: 2, runsStarted: 2, runsEnded: 0))
        _ = try await bench.handle(o)
        #expect(bench.loader.committed == [o.key])
        #expect(bench.queue.deadLetters.isEmpty)
    }

    @Test("Stalled: a load that makes no progress for the stall timeout is abandoned and dead-lettered")
    func stalled() async throws {
        let bench = try WorkerBench { $0.stallTimeout = .milliseconds(100) }
        let o = bench.object("orders-stuck.csv")
        bench.loader.script(o.key, .hang)
        let m = try await bench.handle(o)
        let letter = try bench.deadLetter()
        #expect(letter.attributes.errorCode == "Stalled")
        #expect(letter.attributes.reason.contains("stall timeout"))
        #expect(bench.loader.cancelled == [o.key])
        #expect(bench.jobs.job(o)?.status == "FAILED")
        #expect(bench.queue.events(for: m.messageID).last == .deleted(id: m.messageID))
    }

    @Test("an undecodable message is dead-lettered whole and deleted")
    func undecodable() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let m = try await bench.deliver(body: "not json at all")
        await bench.worker.handle(m)
        let letter = try bench.deadLetter()
        #expect(letter.body == "not json at all")
        #expect(letter.attributes.errorCode == "UndecodableMessage")
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
        #expect(bench.worker.summary.failed == 0, "the summary counts files, and this message names none")
    }

    @Test("a dead letter that cannot be sent leaves the message in the main queue, never deleted")
    func deadLetterSendFails() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        bench.queue.failDeadLetters()
        let o = bench.object("orders-bad.csv")
        bench.loader.script(o.key, .fail(PipelineError(.badHeader, "no header")))
        let m = try await bench.handle(o)
        #expect(bench.queue.events(for: m.messageID) == [.visibility(id: m.messageID, .seconds(20))])
        let undecodable = try await bench.deliver(body: "{")
        await bench.worker.handle(undecodable)
        #expect(bench.queue.events(for: undecodable.messageID).isEmpty)
        #expect(bench.worker.summary.failed == 0)
    }

    @Test("a replayed message that fails again keeps its replay count in the new dead letter")
    func replayCountCarried() async throws {
        let bench = try WorkerBench(WorkerBench.noHeartbeat)
        let o = bench.object("noroute-again.csv")
        let m = try await bench.deliver(
            o,
            attributes: [
                DeadLetterAttributes.replayCount: "2", DeadLetterAttributes.replayOf: "old-id",
                "esteira.error-code": "NoRoute",
            ])
        await bench.worker.handle(m)
        let a = try bench.deadLetter().attributes
        #expect(a.replays == 2)
        #expect(a[DeadLetterAttributes.replayOf] == "old-id")
        #expect(a[DeadLetterAttributes.sourceMessageID] == m.messageID)
    }

    @Test("a message with two records that end differently: the loaded one stays done, the other is requeued alone")
    func splitMessage() async throws {
        let bench = try WorkerBench {
            WorkerBench.noHeartbeat(&$0)
            $0.attempts = 1
        }
        let ok = bench.object("orders-a.csv")
        let flaky = bench.object("orders-b.csv")
        let bad = bench.object("noroute-c.csv")
        bench.loader.script(flaky.key, .fail(lostConnection))
        let m = try await bench.deliver(body: try Self.records(ok, flaky, bad))
        await bench.worker.handle(m)

        #expect(bench.loader.committed == [ok.key])
        #expect(bench.queue.sent.map(\.body) == [flaky.notificationBody])
        #expect(bench.queue.sent.map(\.delay) == [.seconds(20)])
        // The refused record is dead-lettered on its own, with a body naming only it.
        #expect(try bench.deadLetter().body == bad.notificationBody)
        #expect(bench.queue.events(for: m.messageID) == [.deleted(id: m.messageID)])
    }

    /// One S3 notification holding the records of several objects.
    static func records(_ objects: ObjectCreated...) throws -> String {
        let records = try objects.flatMap { o -> [Any] in
            let json = try JSONSerialization.jsonObject(with: Data(o.notificationBody.utf8)) as? [String: Any]
            return json?["Records"] as? [Any] ?? []
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: ["Records": records]), as: UTF8.self)
    }
}
