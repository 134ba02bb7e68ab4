import EsteiraPipeline
import Foundation
import Synchronization
import Testing

@testable import EsteiraWorker

@Suite("crashed and stalled files")
struct AttemptGuardTests {
    @Test(
        "attempts that never recorded an end are counted as deaths; past the limit the file is Crashed",
        arguments: [
            (started: 1, ended: 0, crashed: false),  // our own claim, nothing before it
            (started: 3, ended: 2, crashed: false),  // two transient failures, given back properly
            (started: 3, ended: 0, crashed: false),  // two deaths
            (started: 4, ended: 0, crashed: true),  // three deaths
            (started: 6, ended: 2, crashed: true),  // three deaths among transient failures
            (started: 0, ended: 0, crashed: false),  // no counters (an item from before they existed)
        ])
    func crashVerdict(started: Int, ended: Int, crashed: Bool) {
        let verdict = AttemptGuard.verdict(
            AttemptHistory(started: started, ended: ended, lastStage: "read"), maxCrashes: 3)
        #expect((verdict != nil) == crashed)
        if let verdict {
            #expect(verdict.code == .crashed)
            #expect(!verdict.isTransient)
            #expect(verdict.message.contains("last stage reached: read"))
        }
    }

    @Test("a load without progress for the stall timeout, or past max_duration, is Stalled with its stage")
    func stallVerdict() {
        let start = ContinuousClock.now
        var s = LoadProgress.Snapshot(stage: .load, bytesRead: 10, rowsPassed: 5, lastProgress: start, started: start)
        let watchdog = StallWatchdog(stallTimeout: .seconds(60), maxDuration: .seconds(300))
        #expect(watchdog.verdict(s, now: start + .seconds(59)) == nil)
        let idle = watchdog.verdict(s, now: start + .seconds(61))
        #expect(idle?.code == .stalled)
        #expect(idle?.message.contains("in stage load") == true)
        // Progress moves the clock; the route's limit still ends a slow but moving file.
        s.lastProgress = start + .seconds(299)
        #expect(watchdog.verdict(s, now: start + .seconds(299.5)) == nil)
        let long = watchdog.verdict(s, now: start + .seconds(301))
        #expect(long?.message.contains("max_duration") == true)
    }

    @Test("progress: stages are recorded as they change, bytes and rows move the clock")
    func progressRecordsStages() async {
        final class Seen: Sendable { let stages = Mutex<[String]>([]) }
        let seen = Seen()
        let p = LoadProgress { stage in seen.stages.withLock { $0.append(stage.rawValue) } }
        await p.enter(.fetch)
        await p.enter(.read)
        await p.enter(.read)
        let before = p.snapshot.lastProgress
        p.read(totalBytes: 100)
        p.passed(rows: 3)
        #expect(seen.stages.withLock { $0 } == ["fetch", "read"])
        #expect(p.snapshot.bytesRead == 100 && p.snapshot.rowsPassed == 3)
        #expect(p.snapshot.lastProgress >= before)
    }

    @Test("durations as text")
    func durations() {
        #expect(DurationText.seconds("90s") == 90)
        #expect(DurationText.seconds("10m") == 600)
        #expect(DurationText.seconds("2h") == 7200)
        #expect(DurationText.seconds("45") == 45)
        #expect(DurationText.seconds("soon") == nil)
    }
}
