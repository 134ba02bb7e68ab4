import EsteiraAWS
import EsteiraPipeline
import EsteiraWorkerTestSupport
import Foundation
import ServiceLifecycle
import Testing

@testable import EsteiraWorker

/// The receive loop and graceful shutdown, driven the way swift-service-lifecycle's own tests drive a
/// service: run it in a ServiceGroup, wait for an event, trigger the shutdown, look at what it did.
@Suite("Worker receive loop and shutdown, without servers")
struct WorkerLifecycleTests {
    @Test("until idle: every message received is handled, then the loop ends")
    func drainsQueue() async throws {
        let bench = try WorkerBench()
        let objects = (1...5).map { bench.object("orders-\($0).csv") }
        for o in objects { bench.queue.put(body: o.notificationBody) }
        try await bench.worker.run()

        #expect(Set(bench.loader.committed) == Set(objects.map(\.key)))
        #expect(bench.worker.summary.succeeded == 5)
        #expect(bench.queue.hiddenCount == 0)
        #expect(bench.queue.events.filter { if case .deleted = $0 { true } else { false } }.count == 5)
    }

    @Test("a receive that fails transiently is retried after a backoff")
    func receiveBackoff() async throws {
        let bench = try WorkerBench()
        let o = bench.object("orders-after-outage.csv")
        bench.queue.failReceives(3)
        bench.queue.put(body: o.notificationBody)
        try await bench.worker.run()
        #expect(bench.loader.committed == [o.key])
    }

    @Test("no more messages are taken than there are free slots")
    func onlyFreeSlots() async throws {
        let bench = try WorkerBench { $0.concurrency = 2 }
        let objects = (1...3).map { bench.object("orders-slot-\($0).csv") }
        for o in objects {
            bench.loader.script(o.key, .hang)
            bench.queue.put(body: o.notificationBody)
        }
        let run = Task { try await bench.worker.run() }
        try await eventually("two loads started") { bench.loader.started.count == 2 }
        try await Task.sleep(for: .milliseconds(50))
        #expect(bench.loader.started.count == 2, "the third waits for a slot")
        #expect(bench.queue.events.filter { if case .received = $0 { true } else { false } }.count == 2)
        for o in objects { bench.loader.finish(key: o.key) }
        try await run.value
        #expect(bench.loader.committed.count == 3)
    }

    @Test("SIGTERM: receiving stops at once, a file that finishes within the grace period is loaded and acknowledged")
    func shutdownFinishesWithinGrace() async throws {
        // One slot, busy: the loop waits for it, so SIGTERM finds it between receives.
        let bench = try WorkerBench {
            $0.untilIdle = false
            $0.shutdownGrace = .seconds(5)
            $0.concurrency = 1
        }
        let o = bench.object("orders-finishing.csv")
        bench.loader.script(o.key, .hang)
        let id = bench.queue.put(body: o.notificationBody)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: bench.worker)], logger: WorkerBench.quiet))
        let running = Task { try await group.run() }
        try await eventually("the load started") { bench.loader.started == [o.key] }

        await group.triggerGracefulShutdown()
        let late = bench.object("orders-late.csv")
        let lateID = bench.queue.put(body: late.notificationBody)
        try await Task.sleep(for: .milliseconds(30))
        bench.loader.finish(key: o.key)
        try await running.value

        #expect(bench.loader.committed == [o.key])
        #expect(bench.queue.events(for: id).last == .deleted(id: id))
        #expect(bench.jobs.job(o)?.status == "SUCCEEDED")
        // Nothing received after SIGTERM.
        #expect(!bench.queue.events.contains(.received(id: lateID)))
        #expect(bench.loader.started == [o.key])
    }

    @Test(
        "SIGTERM: a file still loading when the grace period ends is cancelled and given back (visible at once, lease released)"
    )
    func shutdownGivesBack() async throws {
        let bench = try WorkerBench {
            $0.untilIdle = false
            $0.shutdownGrace = .milliseconds(100)
        }
        let o = bench.object("orders-unfinished.csv")
        bench.loader.script(o.key, .hang)
        let id = bench.queue.put(body: o.notificationBody)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: bench.worker)], logger: WorkerBench.quiet))
        let running = Task { try await group.run() }
        try await eventually("the load started") { bench.loader.started == [o.key] }

        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(ContinuousClock.now - started < .seconds(5))

        #expect(bench.loader.cancelled == [o.key])
        #expect(bench.loader.committed.isEmpty)
        #expect(bench.queue.events(for: id).last == .visibility(id: id, .zero))
        #expect(!bench.queue.events(for: id).contains(.deleted(id: id)))
        #expect(bench.jobs.events(o).last == .released(token: 1, reason: "worker shut down before finishing"))
        #expect(bench.jobs.job(o)?.status == "RECEIVED")
        #expect(bench.queue.deadLetters.isEmpty)
    }

    @Test("liveness: the loop turning, or a file in hand, keeps the worker live")
    func liveness() async throws {
        let bench = try WorkerBench()
        #expect(bench.worker.isLive(stuckAfter: .seconds(60)))
        try await Task.sleep(for: .milliseconds(20))
        #expect(!bench.worker.isLive(stuckAfter: .milliseconds(10)))
    }

    @Test(
        "backoff: full jitter under a ceiling that doubles up to the cap",
        arguments: [
            (attempt: 1, ceilingMs: 500), (attempt: 2, ceilingMs: 1000), (attempt: 4, ceilingMs: 4000),
            (attempt: 40, ceilingMs: 20000),
        ])
    func backoff(attempt: Int, ceilingMs: Int) {
        let b = RetryBackoff(base: .milliseconds(500), cap: .seconds(20))
        #expect(b.delay(afterAttempt: attempt, random: 1) == .milliseconds(ceilingMs))
        #expect(b.delay(afterAttempt: attempt, random: 0) == .zero)
    }
}

@Suite("Durations from flags and routes")
struct SettingsDurationTests {
    @Test(
        "seconds become a Duration, clamped so an absurd text cannot trap",
        arguments: [
            (600.0, Duration.seconds(600)), (0.25, .milliseconds(250)), (1e300, .seconds(1_000_000_000)), (-5, .zero),
            (Double.infinity, .zero), (Double.nan, .zero),
        ])
    func clamped(seconds: Double, expected: Duration) {
        #expect(WorkerSettings.duration(seconds: seconds) == expected)
    }
}
