import Foundation
import Logging

/// Holds temporary credentials and renews them a few minutes before they expire.
///
/// Concurrent callers share one refresh (a fleet of tasks never stampedes STS or the metadata
/// endpoint), and a refresh that fails while the current credentials are still valid keeps them:
/// a short STS outage must not fail calls that could still be signed.
public actor RefreshingCredentials: AWSCredentialProvider {
    public nonisolated let source: String
    private let fetch: @Sendable () async throws -> AWSCredentials
    private let refreshBefore: Duration
    private let retryFailedRefreshAfter: Duration
    private let now: @Sendable () -> Date
    private let logger: Logger
    private var current: AWSCredentials?
    private var refresh: (id: Int, task: Task<AWSCredentials, Error>)?
    private var refreshCount = 0
    /// After a failed refresh, the old credentials are used without asking again until then.
    private var quietUntil: Date?

    /// - Parameters:
    ///   - refreshBefore: how long before expiry to renew (the SDKs use about five minutes).
    ///   - retryFailedRefreshAfter: after a failed refresh, how long to keep using the old credentials
    ///     before trying again, so a down endpoint is not asked on every call.
    public init(
        source: String, refreshBefore: Duration = .seconds(300), retryFailedRefreshAfter: Duration = .seconds(10),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "esteira.aws.credentials"),
        fetch: @escaping @Sendable () async throws -> AWSCredentials
    ) {
        self.source = source
        self.fetch = fetch
        self.refreshBefore = refreshBefore
        self.retryFailedRefreshAfter = retryFailedRefreshAfter
        self.now = now
        self.logger = logger
    }

    /// How many times the source was asked; for tests and metrics.
    public var fetchCount: Int { refreshCount }

    public func credentials() async throws -> AWSCredentials {
        let time = now()
        if let c = current {
            guard let expiration = c.expiration else { return c }
            if expiration.timeIntervalSince(time) > refreshBefore.inSeconds { return c }
            if let quietUntil, time < quietUntil, expiration > time { return c }
        }
        let (id, task): (Int, Task<AWSCredentials, Error>)
        if let running = refresh {
            (id, task) = running
        } else {
            refreshCount += 1
            id = refreshCount
            let fetch = self.fetch
            task = Task { try await fetch() }
            refresh = (id, task)
        }
        do {
            let fresh = try await task.value
            if refresh?.id == id {
                refresh = nil
                current = fresh
                quietUntil = nil
            }
            return fresh
        } catch {
            if refresh?.id == id {
                refresh = nil
                quietUntil = now().addingTimeInterval(retryFailedRefreshAfter.inSeconds)
            }
            if let c = current, let expiration = c.expiration, expiration > now() {
                logger.warning(
                    "credential refresh failed; using the current credentials until they expire",
                    metadata: [
                        "source": "\(source)", "expires": "\(expiration)", "error": "\(error)",
                    ])
                return c
            }
            throw error
        }
    }
}
