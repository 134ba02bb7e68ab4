import EsteiraAWS
import EsteiraMySQL
import Logging

/// The pipeline's MySQL connection pool: ``MySQLConnectionPool`` (which keeps connections between files,
/// pings them before reuse, replaces one lost while idle, and closes one whose work threw) over the
/// pipeline's credential source — a fixed `mysql://` URL, or a Secrets Manager secret in the RDS format,
/// cached and fetched again when MySQL answers *access denied* (1045) to a new connection, which is then
/// tried once more (a rotated password). What it adds to the pool is the pipeline's view: the target's
/// name for logs, and an access-denied during a rotation reported as a transient ``PipelineError``.
public final class PipelineConnectionPool: Sendable {
    public let pool: MySQLConnectionPool
    /// For logs and errors: the redacted URL or the secret's ARN, never a password.
    public let target: String
    /// Whether the credentials can change under us (a secret), so that a refusal even after fetching them
    /// again may be a rotation in progress rather than a wrong configuration.
    let rotates: Bool

    /// - Parameter maxIdle: connections kept between files; the worker's concurrency is the right size.
    public init(source: any MySQLCredentialSource, target: String, rotates: Bool, maxIdle: Int = 2) {
        self.pool = MySQLConnectionPool(source: source, maxIdle: maxIdle)
        self.target = target
        self.rotates = rotates
    }

    /// A fixed config (a `mysql://` URL).
    public convenience init(config: MySQLConfig, maxIdle: Int = 2) {
        self.init(source: StaticCredentialSource(config), target: config.redactedURL, rotates: false, maxIdle: maxIdle)
    }

    /// Credentials from a Secrets Manager secret in the RDS format, by name or ARN; `database` overrides the
    /// secret's `dbname`. Each fetch is logged (without the secret), so a rotation shows in the log.
    public static func secret(
        _ secretID: String, secretsManager: SecretsManagerClient, database: String? = nil,
        maxIdle: Int = 2, logger: Logger
    ) -> PipelineConnectionPool {
        let source = SecretCredentialSource(database: database) {
            let value: SecretValue
            do {
                value = try await secretsManager.getSecretValue(secretID: secretID)
            } catch let e as AWSError {
                throw PipelineError(
                    .database, "cannot read the MySQL secret \(secretID): \(e)", transient: e.isTransient)
            } catch {
                throw PipelineError(.database, "cannot read the MySQL secret \(secretID): \(error)", transient: true)
            }
            guard let text = value.string else {
                throw PipelineError(
                    .database,
                    "the MySQL secret \(secretID) has no SecretString; store the RDS JSON (username, password, host, port, dbname)"
                )
            }
            logger.info(
                "read the MySQL secret", metadata: ["secret": "\(secretID)", "version": "\(value.versionID ?? "-")"])
            return text
        }
        return PipelineConnectionPool(source: source, target: "the secret \(secretID)", rotates: true, maxIdle: maxIdle)
    }

    /// Runs `body` with a connection from the pool. The connection goes back to the pool only when `body`
    /// succeeded (and the pool finds no load open on it); after any failure it is closed, so a connection
    /// that a failed or cancelled load left in doubt (an open transaction, a named lock, a staging table) never
    /// serves another file.
    public func withConnection<T>(_ body: (MySQLConnection) async throws -> T) async throws -> T {
        let connection = try await checkout()
        let result: T
        do {
            result = try await body(connection)
        } catch {
            await pool.discard(connection)
            throw error
        }
        await pool.checkin(connection)
        return result
    }

    /// `SELECT 1` on a pooled connection: the worker's start-up probe and its readiness check.
    public func check() async throws {
        try await withConnection { connection in _ = try await connection.query("SELECT 1") }
    }

    /// Closes the idle connections.
    public func close() async { await pool.close() }

    private func checkout() async throws -> MySQLConnection {
        do {
            return try await pool.checkout()
        } catch let e as MySQLError where e.code == .accessDenied && rotates {
            // Refused even with the secret fetched again. In a single-user rotation the password is changed
            // in the database a moment before the secret's current version: retry the file later rather
            // than dead-letter it. A secret that is really wrong fails the worker's start-up probe instead.
            throw PipelineError(
                .database,
                "\(e.description), even with the secret fetched again (a rotation in progress?); the file will be retried",
                transient: true)
        }
    }
}
