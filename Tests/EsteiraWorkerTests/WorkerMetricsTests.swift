import Foundation
import Testing

@testable import EsteiraAWS
@testable import EsteiraWorker

/// The gauges and labelled counters the chart's alerts read (helm/esteira/files/alerts.yaml).
@Suite("Worker metrics behind the alerts")
struct WorkerMetricsTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func message(sent: String?) -> SQSMessage {
        SQSMessage(
            messageID: "m", receiptHandle: "rh", body: "{}",
            attributes: sent.map { ["SentTimestamp": $0] } ?? [:], messageAttributes: [:])
    }

    static func sample(_ metrics: WorkerMetrics, _ prefix: String) -> String? {
        metrics.exposition().split(separator: "\n").first { $0.hasPrefix(prefix + " ") }
            .map { String($0.dropFirst(prefix.count + 1)) }
    }

    static let oldest = "esteira_queue_oldest_received_age_seconds"
    /// SentTimestamp (epoch milliseconds) of a message sent `secondsAgo` before `now`.
    static func millis(_ secondsAgo: Double) -> String {
        String(Int64((now.timeIntervalSince1970 - secondsAgo) * 1000))
    }

    @Test(
        "the oldest-received gauge is the longest wait of one receive",
        arguments: [
            ([millis(10), millis(120), millis(30)], "120.0"),
            ([millis(10), nil], "10.0"),  // a message without SentTimestamp is skipped
            ([String?](), "0.0"),  // an empty poll: nothing waits (as far as this worker sees)
            (["not a number", "1e400"], "0.0"),  // hostile attributes count as nothing
            ([millis(-3600)], "0.0"),  // sent "in the future" (clock skew): no negative age
            (["0"], "1000000000.0"),  // 1970: capped, never infinite
        ] as [([String?], String)])
    func oldestReceived(sent: [String?], gauge: String) {
        let metrics = WorkerMetrics()
        metrics.received([Self.message(sent: Self.millis(999))], now: Self.now)
        metrics.received(sent.map(Self.message(sent:)), now: Self.now)
        #expect(Self.sample(metrics, Self.oldest) == gauge)
    }

    @Test("queue depths: -1 before the first sample, then SQS's counts; an unreadable count keeps the last one")
    func queueDepth() {
        let metrics = WorkerMetrics()
        let visible = #"esteira_queue_messages{queue="main",state="visible"}"#
        let inFlight = #"esteira_queue_messages{queue="main",state="in_flight"}"#
        let dead = #"esteira_queue_messages{queue="dead_letter",state="visible"}"#
        #expect([visible, inFlight, dead].map { Self.sample(metrics, $0) } == ["-1.0", "-1.0", "-1.0"])
        metrics.queueDepth(
            main: ["ApproximateNumberOfMessages": "42", "ApproximateNumberOfMessagesNotVisible": "3"],
            deadLetter: ["ApproximateNumberOfMessages": "7"])
        #expect([visible, inFlight, dead].map { Self.sample(metrics, $0) } == ["42.0", "3.0", "7.0"])
        metrics.queueDepth(main: ["ApproximateNumberOfMessages": "lots"], deadLetter: [:])
        #expect([visible, inFlight, dead].map { Self.sample(metrics, $0) } == ["42.0", "3.0", "7.0"])
        // A DLQ the role may not read: unknown, not a stale count.
        metrics.queueDepth(main: ["ApproximateNumberOfMessages": "40"], deadLetter: nil)
        #expect([visible, inFlight, dead].map { Self.sample(metrics, $0) } == ["40.0", "3.0", "-1.0"])
    }

    @Test("rows are counted by route, so the reject ratio is per route")
    func rowsByRoute() {
        let metrics = WorkerMetrics()
        metrics.rows(route: "acme-orders", loaded: 90, rejected: 10)
        metrics.rows(route: "acme-orders", loaded: 5, rejected: 0)
        metrics.rows(route: "beta-items", loaded: 1, rejected: 2)
        #expect(Self.sample(metrics, #"esteira_rows_loaded_total{route="acme-orders"}"#) == "95")
        #expect(Self.sample(metrics, #"esteira_rows_rejected_total{route="acme-orders"}"#) == "10")
        #expect(Self.sample(metrics, #"esteira_rows_rejected_total{route="beta-items"}"#) == "2")
    }
}
