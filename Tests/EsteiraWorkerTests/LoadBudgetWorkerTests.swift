import EsteiraAWS
import EsteiraPipeline
import EsteiraWorkerTestSupport
import Foundation
import ServiceLifecycle
import Testing

@testable import EsteiraWorker

/// The database budget's decisions in the worker, on the in-memory budget: waiting files give their load
/// slot back, every unit is given back however the file ends, and a lost unit stops the commit.
@Suite("Database budget in the worker, without servers")
struct LoadBudgetWorkerTests {
    static let acmeTable = BudgetScope.table("orders", database: "db")
    static let betaRoute = Route(name: "beta", tenant: "beta", pattern: "*.csv", table: "beta_items")

    func received(_ bench: WorkerBench, _ id: String) -> Int {
        bench.queue.events.filter { $0 == .received(id: id) }.count
    }

    @Test("a file waiting for its table's budget holds no load slot: another tenant's file loads meanwhile")
    func parkedFileHoldsNoSlot() async throws {
        let bench = try WorkerBench(
            loader: ScriptedFileLoader(others: [Self.betaRoute]),
            loadBudget: LoadBudgetConfig(tables: ["orders": 1])
        ) { $0.concurrency = 1 }
        // Another pod holds acme's only unit.
        bench.budget.occupy(Self.acmeTable, holder: "other-pod", until: Date().addingTimeInterval(3600))
        let a = bench.object("orders-waiting.csv")
        let b = ObjectCreated(bucket: "landing", key: "beta/data/items.csv", size: 10, eTag: "etag-b")
        let aID = bench.queue.put(body: a.notificationBody)
        let run = Task { try await bench.worker.run() }
        try await eventuallyAsync("acme's file waits, parked") { await bench.worker.slots.parked == 1 }
        let bID = bench.queue.put(body: b.notificationBody)
        try await eventually("beta's file loads through the only slot") { bench.loader.committed == [b.key] }
        #expect(!bench.loader.started.contains(a.key), "acme's file did not start: its table's budget is full")
        // The waiting file keeps its message and claim alive (heartbeat every 100 ms).
        try await Task.sleep(for: .milliseconds(250))
        #expect(bench.jobs.job(a)?.status == "RUNNING")
        #expect(bench.queue.events(for: aID).contains(.visibility(id: aID, .milliseconds(200))))

        bench.budget.evict(Self.acmeTable, holder: "other-pod")
        try await run.value
        #expect(Set(bench.loader.committed) == [a.key, b.key])
        #expect(received(bench, aID) == 1, "waiting is not a receive")
        #expect(received(bench, bID) == 1)
        #expect(bench.budget.most(Self.acmeTable) == 1)
        #expect(bench.budget.holders(Self.acmeTable).isEmpty)
        #expect(await bench.worker.slots.parked == 0)
        #expect(await bench.worker.slots.running == 0)
        let exposition = bench.worker.metrics.exposition()
        #expect(exposition.contains(#"esteira_budget_waits_total{scope="table"} 1"#))
        #expect(exposition.contains("esteira_budget_wait_seconds_count 1"))
    }

    @Test("files of one table load one at a time under a budget of 1, each received once")
    func budgetOfOne() async throws {
        let bench = try WorkerBench(loadBudget: LoadBudgetConfig(perDatabase: 5, tables: ["orders": 1])) {
            $0.concurrency = 4
        }
        let objects = (1...6).map { bench.object("orders-\($0).csv") }
        var ids: [String] = []
        for o in objects { ids.append(bench.queue.put(body: o.notificationBody)) }
        try await bench.worker.run()
        #expect(Set(bench.loader.committed) == Set(objects.map(\.key)))
        #expect(bench.budget.most(Self.acmeTable) == 1)
        #expect(bench.budget.most(.database("db")) == 1)
        for id in ids { #expect(received(bench, id) == 1) }
        // Table first, then database; given back in the reverse order.
        let first = bench.budget.events.filter {
            if case .acquired = $0 { true } else { false }
        }.prefix(2)
        guard case .acquired(let s1, _)? = first.first, case .acquired(let s2, _)? = first.last else {
            Issue.record("no acquisitions recorded")
            return
        }
        #expect(s1 == Self.acmeTable)
        #expect(s2 == .database("db"))
    }

    @Test("per_database caps loads across tables: two tenants' files, one load at a time into the database")
    func databaseBudget() async throws {
        let bench = try WorkerBench(
            loader: ScriptedFileLoader(others: [Self.betaRoute]), loadBudget: LoadBudgetConfig(perDatabase: 1)
        ) { $0.concurrency = 4 }
        let acme = (1...3).map { bench.object("orders-db-\($0).csv") }
        let beta = (1...3).map { ObjectCreated(bucket: "landing", key: "beta/data/items-\($0).csv", eTag: "e\($0)") }
        for o in acme + beta { bench.queue.put(body: o.notificationBody) }
        try await bench.worker.run()
        #expect(Set(bench.loader.committed) == Set((acme + beta).map(\.key)))
        #expect(bench.budget.most(.database("db")) == 1)
        #expect(
            bench.budget.events.allSatisfy {
                if case .acquired(let scope, _) = $0 { scope == .database("db") } else { true }
            }, "no table cap was configured: only the database's units are taken")
    }

    @Test(
        "every unit is given back however the file ends",
        arguments: [
            ("loaded", ScriptedFileLoader.Step.load(rows: 1)),
            ("permanent failure", .fail(PipelineError(.badHeader, "bad header"))),
            ("transient failure", .fail(lostConnection)),
            ("already loaded", .alreadyLoaded),
        ])
    func releasedOnEveryEnding(ending: String, step: ScriptedFileLoader.Step) async throws {
        let bench = try WorkerBench(loadBudget: LoadBudgetConfig(perDatabase: 3, perTable: 2)) { $0.attempts = 1 }
        let o = bench.object("orders-\(ending.replacingOccurrences(of: " ", with: "-")).csv")
        bench.loader.script(o.key, step)
        _ = try await bench.handle(o)
        #expect(bench.loader.started == [o.key], "\(ending)")
        #expect(bench.budget.holders(Self.acmeTable).isEmpty, "\(ending)")
        #expect(bench.budget.holders(.database("db")).isEmpty, "\(ending)")
        let released = bench.budget.events.filter { if case .released = $0 { true } else { false } }
        #expect(released.count == 2, "\(ending)")
    }

    @Test("SIGTERM: a file cancelled while loading, and one still waiting for budget, both give their units back")
    func releasedAtShutdown() async throws {
        let bench = try WorkerBench(loadBudget: LoadBudgetConfig(tables: ["orders": 1])) {
            $0.untilIdle = false
            $0.shutdownGrace = .milliseconds(100)
        }
        let loading = bench.object("orders-loading.csv")
        let waiting = bench.object("orders-waiting.csv")
        bench.loader.script(loading.key, .hang)
        let loadingID = bench.queue.put(body: loading.notificationBody)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: bench.worker)], logger: WorkerBench.quiet))
        let running = Task { try await group.run() }
        try await eventually("the first file loads") { bench.loader.started == [loading.key] }
        let waitingID = bench.queue.put(body: waiting.notificationBody)
        try await eventuallyAsync("the second waits") { await bench.worker.slots.parked == 1 }

        await group.triggerGracefulShutdown()
        try await running.value
        #expect(bench.loader.committed.isEmpty)
        #expect(bench.budget.holders(Self.acmeTable).isEmpty)
        // Both given back to the queue at once, their claims released (not failed, not dead-lettered).
        #expect(bench.queue.events(for: loadingID).last == .visibility(id: loadingID, .zero))
        #expect(bench.queue.events(for: waitingID).last == .visibility(id: waitingID, .zero))
        #expect(bench.jobs.job(waiting)?.status == "RECEIVED")
        #expect(bench.queue.deadLetters.isEmpty)
        #expect(await bench.worker.slots.inFlight == 0)
    }

    @Test("a unit lost while loading (purged after its lease ran out) stops the load before commit")
    func lostWhileLoading() async throws {
        let bench = try WorkerBench(loadBudget: LoadBudgetConfig(tables: ["orders": 1])) { $0.attempts = 1 }
        let o = bench.object("orders-lost-unit.csv")
        bench.loader.script(o.key, .hang)
        let m = try await bench.deliver(o)
        let handling = Task { await bench.worker.handle(m) }
        try await eventually("the load started") { bench.loader.started == [o.key] }
        bench.budget.evictAll(Self.acmeTable)
        await handling.value
        #expect(bench.loader.cancelled == [o.key])
        #expect(bench.loader.committed.isEmpty)
        #expect(bench.jobs.job(o)?.status == "RECEIVED", "given back, as a lost lease is")
        #expect(bench.queue.deadLetters.isEmpty)
    }

    @Test("the claim lost while the file waits for budget: the file never loads")
    func claimLostWhileWaiting() async throws {
        let bench = try WorkerBench(loadBudget: LoadBudgetConfig(tables: ["orders": 1])) { $0.attempts = 1 }
        bench.budget.occupy(Self.acmeTable, holder: "other-pod", until: Date().addingTimeInterval(3600))
        let o = bench.object("orders-claim-lost.csv")
        let m = try await bench.deliver(o)
        let handling = Task { await bench.worker.handle(m) }
        try await eventuallyAsync("the file waits") { await bench.worker.slots.parked == 1 }
        bench.jobs.steal(o)
        await handling.value
        #expect(bench.loader.started.isEmpty)
        #expect(bench.budget.holders(Self.acmeTable) == ["other-pod"])
        #expect(await bench.worker.slots.parked == 0)
    }

    @Test("a budget that cannot be read fails the attempt transiently, holding nothing")
    func unreachableBudget() async throws {
        let bench = try WorkerBench(loadBudget: LoadBudgetConfig(perTable: 1)) { $0.attempts = 1 }
        bench.budget.failNextAcquires(5)
        let o = bench.object("orders-unreachable.csv")
        let m = try await bench.handle(o)
        #expect(bench.loader.started.isEmpty)
        #expect(bench.jobs.job(o)?.status == "RECEIVED")
        #expect(bench.queue.events(for: m.messageID).contains { if case .visibility = $0 { true } else { false } })
        #expect(bench.budget.holders(Self.acmeTable).isEmpty)
    }

    @Test("without load_budget nothing is asked of the budget")
    func noBudget() async throws {
        let bench = try WorkerBench()
        _ = try await bench.handle(bench.object("orders-free.csv"))
        #expect(bench.budget.events.isEmpty)
        #expect(bench.loader.committed.count == 1)
    }
}

@Suite("Load slots with parked files")
struct ParkedSlotTests {
    @Test("a parked file gives its slot to the receive loop and takes one back before any new work")
    func parkAndResume() async throws {
        let slots = SlotCounter(1, maxParked: 2)
        await slots.take()
        #expect(await slots.park())
        #expect(await slots.waitForFree() == 1)
        await slots.take()  // new work in the freed slot
        // The parked file got its budget: it waits for the busy slot, and gets it before the loop does.
        let resumed = Task { await slots.unpark() }
        try await Task.sleep(for: .milliseconds(30))
        let loop = Task { await slots.waitForFree() }
        try await Task.sleep(for: .milliseconds(30))
        await slots.release()
        await resumed.value
        #expect(await slots.running == 1)
        #expect(await slots.parked == 0)
        try await Task.sleep(for: .milliseconds(30))
        await slots.release()
        #expect(await loop.value == 1)
    }

    @Test(
        "at most maxParked files are parked; one more waits in its slot, and a parked file that leaves runs out its slot"
    )
    func waitingRoomBound() async throws {
        let slots = SlotCounter(2, maxParked: 1)
        await slots.take()
        await slots.take()
        #expect(await slots.park())
        #expect(await slots.waitForFree() == 1, "the parked file's slot is free for new work")
        await slots.take()
        #expect(!(await slots.park()), "the waiting room is full: this one keeps its slot")
        #expect(await slots.inFlight == 3)
        let loop = Task { await slots.waitForFree() }
        try await Task.sleep(for: .milliseconds(30))
        // The parked file gives up (shutdown): it is running again until its task releases its slot.
        await slots.leaveParked()
        #expect(await slots.running == 3)
        await slots.release()
        await slots.release()
        #expect(await loop.value == 1)
        #expect(await slots.inFlight == 1)
    }
}

/// `eventually` for a condition that must be awaited (an actor's state).
func eventuallyAsync(_ what: String, timeout: Duration = .seconds(30), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        if ContinuousClock.now > deadline {
            Issue.record("timed out waiting for: \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}
