import EsteiraAWS
import Foundation
import Prometheus

/// The fleet's Prometheus metrics, registered once per process and scraped from `/metrics`.
public final class WorkerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let received: Counter
    let succeeded: Counter
    let duplicates: Counter
    let bytesRead: Counter
    let heartbeatFailures: Counter
    let inFlight: Gauge
    let jobDuration: DurationHistogram
    let receiveLatency: DurationHistogram
    let oldestReceivedAge: Gauge
    let queueVisible: Gauge
    let queueInFlight: Gauge
    let deadLetterVisible: Gauge
    let budgetWaitSeconds: DurationHistogram

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        received = registry.makeCounter(
            descriptor: Self.name("esteira_files_received", "total", "Files named by received S3 events."))
        succeeded = registry.makeCounter(
            descriptor: Self.name("esteira_files_succeeded", "total", "Files committed to MySQL."))
        duplicates = registry.makeCounter(
            descriptor: Self.name(
                "esteira_files_duplicate", "total",
                "Deliveries of a file version that was already loaded."))
        bytesRead = registry.makeCounter(descriptor: Self.name("esteira_bytes_read", "total", "Bytes read from S3."))
        heartbeatFailures = registry.makeCounter(
            descriptor: Self.name(
                "esteira_heartbeat_failures", "total",
                "Failed visibility or lease extensions."))
        inFlight = registry.makeGauge(
            descriptor: Self.name("esteira_files_in_flight", "", "Files being worked on now."))
        let durations: [Duration] = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15),
            .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
        ]
        jobDuration = registry.makeDurationHistogram(
            descriptor: Self.name(
                "esteira_job_duration", "seconds", "Time from claim to commit (or failure) of one file."),
            buckets: durations)
        receiveLatency = registry.makeDurationHistogram(
            descriptor: Self.name(
                "esteira_receive_latency", "seconds",
                "Time from the message being sent (the upload's event) to a worker receiving it."),
            buckets: durations)
        oldestReceivedAge = registry.makeGauge(
            descriptor: Self.name(
                "esteira_queue_oldest_received_age", "seconds",
                "Age (from SentTimestamp) of the oldest message in this worker's last receive; 0 after an empty poll."))
        // Sampled by the readiness check (GetQueueAttributes every 15 s); -1 until the first sample.
        let depth = Self.name(
            "esteira_queue_messages", "",
            "Messages in the queue by SQS's approximate counts (sampled every 15 s; -1 before the first sample).")
        queueVisible = registry.makeGauge(descriptor: depth, labels: [("queue", "main"), ("state", "visible")])
        queueInFlight = registry.makeGauge(descriptor: depth, labels: [("queue", "main"), ("state", "in_flight")])
        deadLetterVisible = registry.makeGauge(
            descriptor: depth, labels: [("queue", "dead_letter"), ("state", "visible")])
        for gauge in [queueVisible, queueInFlight, deadLetterVisible] { gauge.set(Int64(-1)) }
        budgetWaitSeconds = registry.makeDurationHistogram(
            descriptor: Self.name(
                "esteira_budget_wait", "seconds",
                "Time a file waited for its database budget (load_budget), from the first refusal to the last unit."),
            buckets: durations)
    }

    /// One receive's messages: each one's wait in the queue (from its SentTimestamp, which a redelivery
    /// keeps) goes to the receive latency, and the longest to the oldest-received gauge (0 when empty).
    func received(_ messages: [SQSMessage], now: Date = Date()) {
        var oldest = 0.0
        for message in messages {
            guard let sent = message.attributes["SentTimestamp"].flatMap(Double.init), sent.isFinite else { continue }
            let age = min(max(0, now.timeIntervalSince1970 - sent / 1000), 1e9)
            receiveLatency.record(.milliseconds(Int64(age * 1000)))
            oldest = max(oldest, age)
        }
        oldestReceivedAge.set(oldest)
    }

    /// Rows of one committed file, by route (the reject ratio per route is rejected / (loaded + rejected)).
    func rows(route: String, loaded: Int, rejected: Int) {
        registry.makeCounter(
            descriptor: Self.name("esteira_rows_loaded", "total", "Rows committed to MySQL, by route."),
            labels: [("route", route)]
        ).increment(by: Int64(loaded))
        registry.makeCounter(
            descriptor: Self.name(
                "esteira_rows_rejected", "total",
                "Rows refused and written to rejects files, by route."),
            labels: [("route", route)]
        ).increment(by: Int64(rejected))
    }

    /// Records SQS's approximate counts (`GetQueueAttributes`) for the main queue and the DLQ; a DLQ
    /// that could not be read (nil) is -1, "unknown", rather than its last count.
    public func queueDepth(main: [String: String], deadLetter: [String: String]?) {
        func count(_ attributes: [String: String], _ name: String) -> Int64? { attributes[name].flatMap { Int64($0) } }
        if let n = count(main, "ApproximateNumberOfMessages") { queueVisible.set(n) }
        if let n = count(main, "ApproximateNumberOfMessagesNotVisible") { queueInFlight.set(n) }
        guard let deadLetter else { return deadLetterVisible.set(Int64(-1)) }
        if let n = count(deadLetter, "ApproximateNumberOfMessages") { deadLetterVisible.set(n) }
    }

    /// Records SQS's approximate counts for one tenant's queue (fair share): `esteira_queue_messages`
    /// with `queue="tenant:<tenant>"`.
    public func tenantQueueDepth(tenant: String, _ attributes: [String: String]) {
        let depth = Self.name(
            "esteira_queue_messages", "",
            "Messages in the queue by SQS's approximate counts (sampled every 15 s; -1 before the first sample).")
        for (state, name) in [
            ("visible", "ApproximateNumberOfMessages"), ("in_flight", "ApproximateNumberOfMessagesNotVisible"),
        ] {
            let gauge = registry.makeGauge(
                descriptor: depth, labels: [("queue", "tenant:\(tenant)"), ("state", state)])
            gauge.set(attributes[name].flatMap { Int64($0) } ?? -1)
        }
    }

    /// Messages received from a tenant's queue (nil: the shared queue, `tenant="(shared)"`), with fair share.
    public func receivedFrom(tenant: String?, count: Int) {
        registry.makeCounter(
            descriptor: Self.name(
                "esteira_received_files", "total",
                "Messages (one file each) received from each tenant's queue; (shared) is the shared queue."),
            labels: [("tenant", tenant ?? "(shared)")]
        ).increment(by: Int64(count))
    }

    /// The names of the attributes `queueDepth` reads.
    public static let depthAttributes = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    /// A file found a budget full and waits (`scope`: database or table).
    func budgetWaited(scope: String) {
        registry.makeCounter(
            descriptor: Self.name(
                "esteira_budget_waits", "total",
                "Files that found a database budget (load_budget) full and waited, by scope (database, table)."),
            labels: [("scope", scope)]
        ).increment()
    }

    /// One HTTP request sent to AWS (each retry too), by service and API action: the calls a file costs.
    /// Pass as the `requestObserver` of the process's `AWSClient`.
    public func awsRequest(service: AWSService, operation: String) {
        registry.makeCounter(
            descriptor: Self.name(
                "esteira_aws_requests", "total",
                "HTTP requests sent to AWS, retries included, by service and API action."),
            labels: [("service", service.rawValue), ("operation", operation)]
        ).increment()
    }

    /// Failures by the reason code that also names them in the DLQ.
    func failed(_ reason: String) {
        registry.makeCounter(
            descriptor: Self.name("esteira_files_failed", "total", "Files that failed permanently, by reason."),
            labels: [("reason", reason)]
        ).increment()
    }

    /// A metric name as Prometheus writes it: `<name>_<unit>` (no unit for gauges of counts).
    static func name(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
    }

    /// The text exposition format served at `/metrics`.
    public func exposition() -> String { registry.emitToString() }
}
