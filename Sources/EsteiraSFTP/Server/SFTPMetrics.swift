import Prometheus

/// The gateway's Prometheus metrics, served at `/metrics` on its own HTTP port.
public final class SFTPMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let sessionsStarted: Counter
    let sessionsActive: Gauge
    let bytesUploaded: Counter
    let bytesDownloaded: Counter
    let uploadsCompleted: Counter
    let uploadsAborted: Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        sessionsStarted = registry.makeCounter(descriptor: Self.name("sessions", "total", "SFTP sessions started."))
        sessionsActive = registry.makeGauge(descriptor: Self.name("sessions_active", "", "SFTP sessions open now."))
        bytesUploaded = registry.makeCounter(
            descriptor: Self.name("bytes_uploaded", "total", "Bytes received from clients."))
        bytesDownloaded = registry.makeCounter(
            descriptor: Self.name("bytes_downloaded", "total", "Bytes sent to clients."))
        uploadsCompleted = registry.makeCounter(
            descriptor: Self.name(
                "uploads", "total",
                "Files whose upload completed (the object now exists)."))
        uploadsAborted = registry.makeCounter(
            descriptor: Self.name(
                "uploads_aborted", "total",
                "Uploads dropped before completion (no object was made)."))
    }

    /// `esteira_sftp_<name>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "esteira", subsystem: "sftp", metricName: metric, unitName: unit, helpText: help)
    }

    /// Failed logins by method (publickey, password) and reason (unknown_user, wrong_credentials).
    func authenticationFailed(method: String, reason: String) {
        registry.makeCounter(
            descriptor: Self.name("auth_failures", "total", "Failed SSH logins."),
            labels: [("method", method), ("reason", reason)]
        ).increment()
    }

    func sessionRefused(reason: String) {
        registry.makeCounter(
            descriptor: Self.name("sessions_refused", "total", "Sessions refused after login (limits)."),
            labels: [("reason", reason)]
        ).increment()
    }

    /// Connections closed at once, before any SSH, by a limit (max_connections, max_startups, per_source_startups).
    func connectionRefused(reason: String) {
        registry.makeCounter(
            descriptor: Self.name("connections_refused", "total", "Connections refused before login (limits)."),
            labels: [("reason", reason)]
        ).increment()
    }

    /// Connections closed during login (max_auth_tries).
    func loginDisconnected(reason: String) {
        registry.makeCounter(
            descriptor: Self.name("login_disconnects", "total", "Connections closed during login."),
            labels: [("reason", reason)]
        ).increment()
    }

    /// Password hashes computed (one KDF each): only for users who have a password.
    func passwordChecked() {
        registry.makeCounter(descriptor: Self.name("password_checks", "total", "Password KDF computations."))
            .increment()
    }

    /// Password attempts failed without a KDF because too many checks were running or waiting.
    func passwordCheckRefused() {
        registry.makeCounter(
            descriptor: Self.name(
                "password_checks_refused", "total",
                "Password attempts failed at once: too many checks waiting.")
        ).increment()
    }

    public func exposition() -> String { registry.emitToString() }
}
