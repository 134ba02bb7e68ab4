import Foundation
import Testing

@testable import EsteiraWorker

/// The small decisions behind `esteira backfill`, without servers.
@Suite("backfill decisions")
struct BackfillDecisionTests {
    @Test(
        "ETags as listings give them become ETags as S3 events carry them",
        arguments: [
            ("\"9b2cf535f27731c974343645a3985328\"", "9b2cf535f27731c974343645a3985328"),
            ("&quot;9b2cf535f27731c974343645a3985328&quot;", "9b2cf535f27731c974343645a3985328"),
            ("9b2cf535f27731c974343645a3985328-3", "9b2cf535f27731c974343645a3985328-3"),
            ("", ""),
        ])
    func bareETag(listed: String, event: String) {
        #expect(BackfillScanner.bareETag(listed) == event)
    }

    @Test("each keeps the items' order and never runs more than its width at once")
    func boundedAndOrdered() async throws {
        let running = BackfillWidthCounter()
        let results = try await BackfillScanner.each(Array(0..<50), width: 4) { n in
            let now = await running.enter()
            #expect(now <= 4)
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...5)))
            await running.leave()
            return n * 2
        }
        #expect(results == (0..<50).map { $0 * 2 })
        let peak = await running.peak
        #expect(peak > 1 && peak <= 4, "peak \(peak)")
        #expect(try await BackfillScanner.each([Int](), width: 4) { $0 }.isEmpty)
    }

    @Test("a failure stops the rest and is thrown")
    func failureStops() async {
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            _ = try await BackfillScanner.each(Array(0..<20), width: 3) { n in
                if n == 7 { throw Boom() }
                return n
            }
        }
    }

    @Test("the event backfill sends is what S3 sends, and decodes back to the same object")
    func eventRoundTrip() throws {
        let o = ObjectCreated(
            bucket: "esteira-landing", key: "acme/data/orders 2026+11.csv", size: 12, eTag: "abc",
            versionID: "v1")
        let body = o.notificationBody
        #expect(body.contains("\"key\":\"acme/data/orders+2026%2B11.csv\""), "\(body)")
        #expect(try S3EventDecoder.decode(body) == .objectsCreated([o]))
    }
}

actor BackfillWidthCounter {
    var now = 0
    var peak = 0
    func enter() -> Int {
        now += 1
        peak = max(peak, now)
        return now
    }
    func leave() { now -= 1 }
}
