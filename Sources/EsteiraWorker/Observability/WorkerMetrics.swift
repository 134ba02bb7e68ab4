import Foundation
import Prometheus

/// The fleet's Prometheus metrics, registered once per process and scraped from `/metrics`.
public final class WorkerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let received: Counter
    let succeeded: Counter
    let duplicates: Counter
    let rowsLoaded: Counter
    let rowsRejected: Counter
    let bytesRead: Counter
    let heartbeatFailures: Counter
    let inFlight: Gauge
    let jobDuration: DurationHistogram
    let receiveLatency: DurationHistogram

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        received = registry.makeCounter(name: "esteira_files_received_total", help: "Files named by received S3 events.")
        succeeded = registry.makeCounter(name: "esteira_files_succeeded_total", help: "Files committed to MySQL.")
        duplicates = registry.makeCounter(name: "esteira_files_duplicate_total",
                                          help: "Deliveries of a file version that was already loaded.")
        rowsLoaded = registry.makeCounter(name: "esteira_rows_loaded_total", help: "Rows committed to MySQL.")
        rowsRejected = registry.makeCounter(name: "esteira_rows_rejected_total", help: "Rows refused and written to rejects files.")
        bytesRead = registry.makeCounter(name: "esteira_bytes_read_total", help: "Bytes read from S3.")
        heartbeatFailures = registry.makeCounter(name: "esteira_heartbeat_failures_total",
                                                 help: "Failed visibility or lease extensions.")
        inFlight = registry.makeGauge(name: "esteira_files_in_flight", help: "Files being worked on now.")
        let durations: [Duration] = [.milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15),
                                     .seconds(60), .seconds(300), .seconds(900), .seconds(3600)]
        jobDuration = registry.makeDurationHistogram(name: "esteira_job_duration_seconds", buckets: durations,
                                                     help: "Time from claim to commit (or failure) of one file.")
        receiveLatency = registry.makeDurationHistogram(
            name: "esteira_receive_latency_seconds", buckets: durations,
            help: "Time from the message being sent (the upload's event) to a worker receiving it.")
    }

    /// Failures by the reason code that also names them in the DLQ.
    func failed(_ reason: String) {
        registry.makeCounter(name: "esteira_files_failed_total", labels: [("reason", reason)],
                             help: "Files that failed permanently, by reason.").increment()
    }

    /// The text exposition format served at `/metrics`.
    public func exposition() -> String { registry.emitToString() }
}
