import EsteiraAWS
import EsteiraPipeline
import EsteiraWorkerTestSupport
import Foundation
import Testing

@testable import EsteiraWorker

@Suite("Fair share: deficit round robin across tenant queues")
struct FairShareTests {
    // MARK: - The scheduler's decisions alone

    @Test("all backlogged: over many passes each member gets its weight's share, whatever the budget")
    func weightsRespected() {
        for budget in [1, 2, 3, 7, 10] {
            var drr = DeficitRoundRobin(weights: [3, 1, 1])
            var got = [0, 0, 0]
            for _ in 0..<500 {
                for ask in drr.plan(budget: budget) {
                    #expect(ask.count >= 1)
                    got[ask.member] += ask.count
                    drr.record(member: ask.member, asked: ask.count, got: ask.count)
                }
            }
            let total = got.reduce(0, +)
            #expect(total == 500 * budget, "budget \(budget): every slot handed out")
            // 3 : 1 : 1, within one round (5 slots) of the exact share.
            #expect(abs(got[0] - total * 3 / 5) <= 5, "budget \(budget): \(got)")
            #expect(abs(got[1] - total / 5) <= 5, "budget \(budget): \(got)")
            #expect(abs(got[2] - total / 5) <= 5, "budget \(budget): \(got)")
        }
    }

    @Test("a plan never asks for more than the budget, nor a member for more than one request holds")
    func boundedAsks() {
        var drr = DeficitRoundRobin(weights: [100, 1])
        for budget in [1, 4, 25, 64] {
            let asks = drr.plan(budget: budget)
            #expect(asks.map(\.count).reduce(0, +) <= budget)
            #expect(asks.allSatisfy { $0.count <= 10 })
            #expect(Set(asks.map(\.member)).count == asks.count, "one request per member a pass")
            #expect(drr.deficits.allSatisfy { $0 <= 100 }, "deficits stay bounded: \(drr.deficits)")
            for a in asks { drr.record(member: a.member, asked: a.count, got: a.count) }
        }
    }

    @Test("an empty queue loses its deficit (and its turn)")
    func emptyLosesDeficit() {
        var drr = DeficitRoundRobin(weights: [5, 1])
        // One slot: member 0 is asked for 1 and keeps 4 of its quantum for the next pass...
        #expect(drr.plan(budget: 1) == [.init(member: 0, count: 1)])
        #expect(drr.deficits[0] == 4)
        // ...but it came back empty: the 4 are gone and the turn passes to member 1.
        drr.record(member: 0, asked: 1, got: 0)
        #expect(drr.deficits[0] == 0)
        #expect(drr.plan(budget: 1) == [.init(member: 1, count: 1)])
    }

    @Test("a member with a receive in flight is skipped")
    func busySkipped() {
        var drr = DeficitRoundRobin(weights: [1, 1, 1])
        let asks = drr.plan(budget: 3, busy: [1])
        #expect(asks.map(\.member) == [0, 2])
    }

    // MARK: - FairShareQueue over in-memory queues

    struct Fleet {
        let acme = InMemoryWorkQueue()
        let globex = InMemoryWorkQueue()
        let shared = InMemoryWorkQueue()
        let queue: FairShareQueue

        init(acmeWeight: Int = 1) {
            queue = FairShareQueue(
                members: [
                    .init(name: "q", tenant: nil, weight: 1, queue: shared),
                    .init(name: "q-acme", tenant: "acme", weight: acmeWeight, queue: acme),
                    .init(name: "q-globex", tenant: "globex", weight: 1, queue: globex),
                ], shared: 0)
        }

        /// One receive for `free` slots, short waits (the in-memory queue waits for real).
        func receive(_ free: Int) async throws -> [SQSMessage] {
            try await queue.receive(max: free, wait: .milliseconds(20), visibilityTimeout: .seconds(30))
        }
    }

    @Test("acme has 2,000 waiting, globex puts one: globex's is handed out within one round")
    func singleFileNotDelayed() async throws {
        let f = Fleet()
        for i in 0..<2000 { f.acme.put(body: "acme-\(i)") }
        // A worker with one free slot at a time, working through acme's backlog.
        var handed: [String] = []
        for _ in 0..<20 { handed += try await f.receive(1).map(\.body) }
        #expect(handed.count >= 5, "acme's backlog is served: \(handed.count)")
        #expect(handed.allSatisfy { $0.hasPrefix("acme-") })
        f.globex.put(body: "globex-0")
        var after: [String] = []
        // One round is acme's quantum + the shared queue's + globex's: 3 slots (and passes on empty queues).
        for _ in 0..<3 {
            after += try await f.receive(1).map(\.body)
            if after.contains("globex-0") { break }
        }
        #expect(after.contains("globex-0"), "globex's file waited more than a round: \(after)")
        #expect(after.filter { $0.hasPrefix("acme-") }.count <= 1)
    }

    @Test("weights over a long run: acme (weight 3) gets three times globex's share, never more than the free slots")
    func weightedShares() async throws {
        let f = Fleet(acmeWeight: 3)
        for i in 0..<600 {
            f.acme.put(body: "acme-\(i)")
            f.globex.put(body: "globex-\(i)")
        }
        var acme = 0
        var globex = 0
        var messages: [SQSMessage] = []
        for _ in 0..<100 {
            let got = try await f.receive(4)
            #expect(got.count <= 4)
            messages += got
            acme += got.filter { $0.body.hasPrefix("acme-") }.count
            globex += got.filter { $0.body.hasPrefix("globex-") }.count
        }
        #expect(acme + globex > 200)
        let ratio = Double(acme) / Double(max(1, globex))
        #expect(ratio > 2.6 && ratio < 3.4, "acme \(acme), globex \(globex)")
        // Nothing was received twice, nothing given back: fairness costs no receive.
        #expect(messages.allSatisfy { $0.receiveCount == 1 })
        #expect(f.acme.events.allSatisfy { if case .visibility = $0 { false } else { true } })
        #expect(Set(messages.map(\.body)).count == messages.count)
    }

    @Test("each message is deleted or hidden on the queue it came from; sends and dead letters go to the shared queue")
    func routedToItsQueue() async throws {
        let f = Fleet()
        let a = f.acme.put(body: "acme-0")
        let g = f.globex.put(body: "globex-0")
        var got: [SQSMessage] = []
        for _ in 0..<5 where got.count < 2 { got += try await f.receive(10) }
        #expect(got.count == 2)
        let ma = try #require(got.first { $0.body == "acme-0" })
        let mg = try #require(got.first { $0.body == "globex-0" })
        #expect(ma.source == "q-acme" && mg.source == "q-globex")
        try await f.queue.delete(ma)
        try await f.queue.changeVisibility(mg, to: .seconds(9))
        #expect(f.acme.events(for: a) == [.deleted(id: a)])
        #expect(f.globex.events(for: g) == [.visibility(id: g, .seconds(9))])
        try await f.queue.send(body: "split", delay: .zero)
        try await f.queue.sendToDeadLetter(
            body: "dead",
            attributes: DeadLetterAttributes(
                code: "X", reason: "y", worker: "w", attempt: 1, sourceMessageID: "m", failedAt: Date(),
                bucket: nil, key: nil, route: nil))
        #expect(f.shared.sent.map(\.body) == ["split"])
        #expect(f.shared.deadLetters.map(\.body) == ["dead"])
        #expect(f.acme.sent.isEmpty && f.acme.deadLetters.isEmpty)
    }

    @Test("depth adds up every member (--until-idle waits for all of them)")
    func depthSums() async throws {
        let f = Fleet()
        f.acme.put(body: "a")
        f.globex.put(body: "g1")
        f.globex.put(body: "g2")
        let d = try await f.queue.depth()
        #expect(d.waiting == 3)
        #expect(!d.isEmpty)
    }

    @Test(
        "idle: every member long-polled at once; a message on any of them returns at once, not after the others' waits")
    func idleLongPolls() async throws {
        let f = Fleet()
        // Learn that every member is empty (short polls), which switches to long polls.
        _ = try await f.receive(3)
        let start = ContinuousClock.now
        let waiting = Task { try await f.queue.receive(max: 3, wait: .seconds(5), visibilityTimeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        f.globex.put(body: "globex-late")
        let got = try await waiting.value
        #expect(got.map(\.body) == ["globex-late"])
        #expect(ContinuousClock.now - start < .seconds(3), "returned with the first message")
        // The other long polls are still out; the next receive may ask only for the slots they do not hold.
        let free = 3 - got.count
        let next = try await f.queue.receive(max: free, wait: .seconds(5), visibilityTimeout: .seconds(30))
        #expect(next.isEmpty)
    }

    @Test(
        "idle, then a burst on one tenant: the other members' long polls hold one slot each, and for no longer than the idle wait"
    )
    func burstAfterIdle() async throws {
        let acme = InMemoryWorkQueue()
        let globex = InMemoryWorkQueue()
        let shared = InMemoryWorkQueue()
        let queue = FairShareQueue(
            members: [
                .init(name: "q", tenant: nil, weight: 1, queue: shared),
                .init(name: "q-acme", tenant: "acme", weight: 1, queue: acme),
                .init(name: "q-globex", tenant: "globex", weight: 1, queue: globex),
            ], shared: 0, idleWait: .milliseconds(600))
        let slots = 4
        // Every member empty: long polls next.
        _ = try await queue.receive(max: slots, wait: .milliseconds(20), visibilityTimeout: .seconds(30))
        let burst = Task { () async throws -> [SQSMessage] in
            try await queue.receive(max: slots, wait: .seconds(20), visibilityTimeout: .seconds(30))
        }
        try await Task.sleep(for: .milliseconds(100))
        for i in 0..<10 { globex.put(body: "globex-\(i)") }
        var held = try await burst.value
        // A worker receives again as soon as it has started what it got.
        let start = ContinuousClock.now
        held += try await queue.receive(
            max: slots - held.count, wait: .milliseconds(20), visibilityTimeout: .seconds(30))
        // Two members still long-poll, one slot each: globex has the other two at once.
        #expect(held.count == slots - 2, "in hand at once: \(held.map(\.body))")
        #expect(ContinuousClock.now - start < .milliseconds(400), "without waiting for the idle polls")
        // Those polls end within the idle wait (600 ms here, not 20 s), and globex gets the whole worker.
        while held.count < slots, ContinuousClock.now - start < .seconds(3) {
            held += try await queue.receive(
                max: slots - held.count, wait: .milliseconds(20), visibilityTimeout: .seconds(30))
        }
        #expect(held.count == slots, "after the idle wait: \(held.map(\.body))")
        #expect(held.allSatisfy { $0.body.hasPrefix("globex-") })
    }

    @Test("a receive cancelled (SIGTERM) gives back at once what the long polls still out bring")
    func cancelledGivesBack() async throws {
        let f = Fleet()
        _ = try await f.receive(3)  // every member empty: long polls next
        let waiting = Task { try await f.queue.receive(max: 3, wait: .seconds(3), visibilityTimeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        let id = f.globex.put(body: "globex-during-shutdown")
        try await eventually("given back") { f.globex.events(for: id) == [.visibility(id: id, .zero)] }
        #expect(f.globex.hiddenCount == 0, "visible again for another worker")
    }

    @Test("a worker on a fair-share queue drains every member, acknowledging each message on its own queue")
    func workerDrains() async throws {
        let f = Fleet()
        var s = WorkerSettings(
            queueName: "q", deadLetterQueueName: "q-dlq", jobsTable: "jobs",
            landingBuckets: try LandingBuckets(["landing"]), concurrency: 3, workerID: "w1")
        s.receiveWait = .milliseconds(20)
        s.untilIdle = true
        s.idlePolls = 1
        let loader = ScriptedFileLoader()
        let worker = Worker(
            settings: s, queue: f.queue, jobs: InMemoryJobTracker(), pipeline: loader, logger: WorkerBench.quiet)
        func object(_ tenant: String, _ n: Int) -> ObjectCreated {
            ObjectCreated(bucket: "landing", key: "\(tenant)/data/f-\(n).csv", size: 10, eTag: "e-\(tenant)-\(n)")
        }
        for n in 0..<20 { f.acme.put(body: object("acme", n).notificationBody) }
        for n in 0..<3 { f.globex.put(body: object("globex", n).notificationBody) }
        f.shared.put(body: object("acme", 99).notificationBody)
        try await worker.run()
        #expect(loader.committed.count == 24)
        for q in [f.acme, f.globex, f.shared] {
            #expect(q.hiddenCount == 0)
            let received = q.events.filter { if case .received = $0 { true } else { false } }.count
            let deleted = q.events.filter { if case .deleted = $0 { true } else { false } }.count
            #expect(received == deleted)
        }
    }
}

@Suite("Fair share metrics")
struct FairShareMetricsTests {
    @Test("messages received per tenant queue, and each tenant queue's depth, are on /metrics")
    func exposition() async throws {
        let metrics = WorkerMetrics()
        let acme = InMemoryWorkQueue()
        let shared = InMemoryWorkQueue()
        let queue = FairShareQueue(
            members: [
                .init(name: "q", tenant: nil, weight: 1, queue: shared),
                .init(name: "q-acme", tenant: "acme", weight: 1, queue: acme),
            ], shared: 0, onReceived: { member, n in metrics.receivedFrom(tenant: member.tenant, count: n) })
        acme.put(body: "a1")
        acme.put(body: "a2")
        var got = 0
        for _ in 0..<5 where got < 2 {
            got += try await queue.receive(max: 4, wait: .milliseconds(20), visibilityTimeout: .seconds(30)).count
        }
        metrics.tenantQueueDepth(
            tenant: "acme", ["ApproximateNumberOfMessages": "7", "ApproximateNumberOfMessagesNotVisible": "2"])
        let text = metrics.exposition()
        #expect(text.contains(#"esteira_received_files_total{tenant="acme"} 2"#), "\(text)")
        #expect(text.contains(#"esteira_received_files_total{tenant="(shared)"} 0"#))
        #expect(text.contains(#"esteira_queue_messages{queue="tenant:acme",state="visible"} 7"#))
        #expect(text.contains(#"esteira_queue_messages{queue="tenant:acme",state="in_flight"} 2"#))
    }
}
