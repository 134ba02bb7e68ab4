import EsteiraAWS
import EsteiraSync
import Logging

/// Whether the bucket has answered lately, for `/healthz`: a probe (ListObjectsV2 of one key, what the
/// gateway itself needs to work) every `interval`; unhealthy once no probe has succeeded for `timeout`.
/// A probe that hangs does not hold the answer back: the age of the last success decides.
public final class BucketHealth: Sendable {
    public let bucket: String
    public let timeout: Duration
    private let state: Locked<(lastSuccess: ContinuousClock.Instant, lastError: String?)>

    /// Healthy from now: the gateway listed the bucket at start.
    public init(bucket: String, timeout: Duration) {
        self.bucket = bucket
        self.timeout = timeout
        state = Locked((ContinuousClock.now, nil))
    }

    /// Probes until cancelled.
    public func run(s3: S3Client, interval: Duration, logger: Logger) async {
        var wasHealthy = true
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                _ = try await s3.listDirectoryPage(bucket: bucket, prefix: "", maxKeys: 1)
                state.withLock { $0 = (ContinuousClock.now, nil) }
            } catch is CancellationError {
                return
            } catch {
                state.withLock { $0.lastError = "\(error)" }
            }
            let healthy = status.healthy
            if healthy != wasHealthy {
                if healthy {
                    logger.notice("bucket reachable again; /healthz answers ok", metadata: ["bucket": "\(bucket)"])
                } else {
                    logger.error(
                        "bucket not reachable; /healthz answers 503",
                        metadata: ["bucket": "\(bucket)", "error": "\(state.withLock { $0.lastError } ?? "?")"])
                }
                wasHealthy = healthy
            }
        }
    }

    /// Healthy, or why not.
    public var status: (healthy: Bool, detail: String) {
        let (last, error) = state.withLock { ($0.lastSuccess, $0.lastError) }
        let age = ContinuousClock.now - last
        if age <= timeout { return (true, "bucket \(bucket) reachable") }
        return (false, "bucket \(bucket) not reachable for \(age.components.seconds) s: \(error ?? "no answer")")
    }
}
