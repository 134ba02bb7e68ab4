/// One MySQL connection, living on its own thread (see `ConnectionThread`).
///
/// Every async method is one hop: the work is queued to the connection's thread, the caller suspends
/// without holding a pool thread, and is resumed with the result. Hops run one at a time, in the order they
/// were submitted. Use ``run(_:)`` to do many statements in one hop.
///
/// A connection is not reconnected automatically (that would silently drop an open transaction): after a
/// transient error with ``MySQLError/isConnectionLost``, ``isUsable`` turns false and the caller opens a
/// new one.
///
/// Cancellation: a task cancelled before its hop is queued gets `CancellationError`; a statement already
/// running on the thread is not interrupted (the read timeout bounds it).
public final class MySQLConnection: Sendable {
    public let config: MySQLConfig
    /// The server's id for this connection (`KILL` takes it; logs should carry it).
    public let connectionID: UInt64
    public let serverVersion: String
    let thread: ConnectionThread

    private init(config: MySQLConfig, opened: MySQLSession.Opened, thread: ConnectionThread) {
        self.config = config
        self.connectionID = opened.connectionID
        self.serverVersion = opened.serverVersion
        self.thread = thread
    }

    /// Opens a connection on a new thread: utf8mb4, strict sql_mode, UTC, autocommit on, no auto-reconnect,
    /// LOCAL INFILE enabled (server-named files refused).
    public static func connect(_ config: MySQLConfig) async throws -> MySQLConnection {
        let thread = ConnectionThread(name: "esteira-mysql")
        let opened: MySQLSession.Opened = try await withCheckedThrowingContinuation { continuation in
            thread.start { session in
                do {
                    continuation.resume(returning: try session.open(config))
                    return true
                } catch {
                    continuation.resume(throwing: error)
                    return false
                }
            }
        }
        return MySQLConnection(config: config, opened: opened, thread: thread)
    }

    /// Runs `body` on the connection's thread with synchronous access to the connection, and returns its
    /// result. The unit of batching: everything in one `run` costs one hop.
    public func run<T: Sendable>(_ body: @escaping @Sendable (MySQLSession) throws -> T) async throws -> T {
        try Task.checkCancellation()
        return try await withCheckedThrowingContinuation { continuation in
            let queued = thread.submit { session in
                guard let session else {
                    continuation.resume(throwing: MySQLSession.closedError("run"))
                    return
                }
                continuation.resume(with: Result { try body(session) })
            }
            if !queued { continuation.resume(throwing: MySQLSession.closedError("run")) }
        }
    }

    /// Runs one statement; returns the number of affected rows.
    @discardableResult
    public func execute(_ sql: String) async throws -> UInt64 {
        try await run { session in try session.execute(sql) }
    }

    /// Runs one statement that returns rows.
    public func query(_ sql: String) async throws -> MySQLResult {
        try await run { session in try session.query(sql) }
    }

    /// Escapes for a string literal on this connection (utf8mb4, backslash escapes on). Pure and
    /// synchronous: it needs no hop, and returns exactly what `mysql_real_escape_string` would.
    public func escape(_ value: String) -> String { MySQLEscaping.escape(value) }

    /// `'escaped'`, or `NULL` for nil.
    public func literal(_ value: String?) -> String { MySQLEscaping.literal(value) }

    /// False once the connection is closed or lost.
    public var isUsable: Bool { thread.isUsable }

    /// Finishes the work already queued, closes the connection and ends its thread. Idempotent. Work
    /// submitted afterwards fails with ``MySQLError/Code/connectionClosed``.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            thread.stop { continuation.resume() }
        }
    }

    deinit {
        // Dropped without close(): still end the thread and close the handle (without waiting).
        thread.stop {}
    }
}
