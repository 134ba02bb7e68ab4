/// Connections reused between files: an idle connection is checked with a ping before it is handed out
/// again, so a connection lost while idle (server restart, failover, wait_timeout, KILL) is replaced by a
/// fresh one instead of failing the next file. New connections get their config from a
/// ``MySQLCredentialSource``, so a rotated password is picked up.
///
/// Small on purpose: a worker loads one file per connection, and idle connections beyond `maxIdle` are
/// closed rather than kept.
///
/// One rule after an error: a connection whose work threw is closed, never handed out again, since its
/// session may hold what a failed or cancelled caller left in doubt (an open transaction, a named lock, a
/// staging table, a session variable). ``withConnection(_:)`` applies it; callers of ``checkout()`` and
/// ``checkin(_:)`` apply it by calling ``discard(_:)`` instead of `checkin` after an error.
public actor MySQLConnectionPool {
    private let source: any MySQLCredentialSource
    private let maxIdle: Int
    private var idle: [MySQLConnection] = []
    private var closed = false

    public init(source: any MySQLCredentialSource, maxIdle: Int = 2) {
        self.source = source
        self.maxIdle = max(0, maxIdle)
    }

    public init(config: MySQLConfig, maxIdle: Int = 2) {
        self.init(source: StaticCredentialSource(config), maxIdle: maxIdle)
    }

    /// An idle connection that still answers, or a new one.
    public func checkout() async throws -> MySQLConnection {
        guard !closed else {
            throw MySQLError(
                code: .connectionClosed, message: "the connection pool is closed", operation: "check out a connection")
        }
        while let connection = idle.popLast() {
            if await Self.isHealthy(connection) { return connection }
            await connection.close()
        }
        return try await MySQLConnection.connect(using: source)
    }

    /// Gives a connection back. It is kept only if it is usable and no file load is left open on it.
    public func checkin(_ connection: MySQLConnection) async {
        let clean = (try? await connection.run { session in session.activeLoad == nil && !session.isBroken }) ?? false
        if !closed && clean && connection.isUsable && idle.count < maxIdle {
            idle.append(connection)
        } else {
            await connection.close()
        }
    }

    /// Closes a connection that will not come back to the pool (its caller's work failed).
    public nonisolated func discard(_ connection: MySQLConnection) async {
        await connection.close()
    }

    /// Runs `body` with a connection. The connection goes back to the pool only when `body` returned
    /// (and ``checkin(_:)`` finds it clean); when `body` threw, or was cancelled, it is closed.
    public nonisolated func withConnection<T>(_ body: (MySQLConnection) async throws -> T) async throws -> T {
        let connection = try await checkout()
        let result: T
        do {
            result = try await body(connection)
        } catch {
            await discard(connection)
            throw error
        }
        await checkin(connection)
        return result
    }

    /// Closes the idle connections; later check-outs fail.
    public func close() async {
        closed = true
        let connections = idle
        idle = []
        for connection in connections { await connection.close() }
    }

    /// Idle connections right now (for tests and metrics).
    public var idleCount: Int { idle.count }

    private static func isHealthy(_ connection: MySQLConnection) async -> Bool {
        guard connection.isUsable else { return false }
        return (try? await connection.run { session in try session.ping() }) != nil
    }
}
