import EsteiraStatus
import Foundation
import Logging
import Synchronization

/// Answers `/readyz` from the last result of periodic dependency checks (MySQL, SQS),
/// so a probe never waits on a slow dependency and never hammers it.
public final class Readiness: Sendable {
    public typealias Check = @Sendable () async throws -> Void

    let checks: [(name: String, check: Check)]
    let state = Mutex<[String: String]>([:])
    let logger: Logger

    public init(checks: [(name: String, check: Check)], logger: Logger) {
        self.checks = checks
        self.logger = logger
        state.withLock { s in for c in checks { s[c.name] = "not checked yet" } }
    }

    /// Failing checks with their reasons; empty when ready.
    public var failures: [String: String] { state.withLock { $0.filter { $0.value != "ok" } } }

    public func checkOnce() async {
        for c in checks {
            let result: String
            do {
                try await c.check()
                result = "ok"
            } catch {
                result = "\(error)"
            }
            let previous = state.withLock { s in
                defer { s[c.name] = result }
                return s[c.name]
            }
            if previous != result {
                if result == "ok" {
                    logger.info("dependency ready", metadata: ["dependency": "\(c.name)"])
                } else {
                    logger.warning("dependency not ready", metadata: ["dependency": "\(c.name)", "error": "\(result)"])
                }
            }
        }
    }

    /// Checks every `interval` until cancelled.
    public func run(interval: Duration = .seconds(15)) async {
        while !Task.isCancelled {
            await checkOnce()
            try? await Task.sleep(for: interval)
        }
    }
}

/// Routes the status server's three paths.
public enum StatusRoutes {
    /// `/healthz`: the receive loop is turning. `/readyz`: dependencies answer. `/metrics`: Prometheus.
    public static func handler(worker: Worker, readiness: Readiness, stuckAfter: Duration) -> StatusServer.Handler {
        { path in
            switch path {
            case "/healthz":
                let idle = worker.sinceLastPoll.components.seconds
                return worker.isLive(stuckAfter: stuckAfter)
                    ? (200, "text/plain", "ok\n")
                    : (503, "text/plain", "receive loop has not turned for \(idle) s\n")
            case "/readyz":
                let failures = readiness.failures
                return failures.isEmpty
                    ? (200, "text/plain", "ready\n")
                    : (
                        503, "text/plain",
                        failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
                            + "\n"
                    )
            case "/metrics":
                return (200, "text/plain; version=0.0.4", worker.metrics.exposition())
            default:
                return (404, "text/plain", "try /healthz, /readyz or /metrics\n")
            }
        }
    }
}
