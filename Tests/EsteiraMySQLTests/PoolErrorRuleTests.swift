import Foundation
import Testing

@testable import EsteiraMySQL

/// One rule for a connection after an error, in the pool itself: a connection whose closure threw is
/// closed, never handed to the next caller (its session may hold a transaction, a named lock, a session
/// variable or a half-read result that the next file must not inherit).
@Suite("Connection pool: after an error")
struct PoolErrorRuleTests {
    struct Boom: Error {}

    /// Whether the server still lists the connection (a close is seen by the server a moment later).
    static func serverLists(_ id: UInt64, config: MySQLConfig) async throws -> Bool {
        let probe = try await MySQLConnection.connect(config)
        defer { Task { await probe.close() } }
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let n = try await probe.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(id)").scalar
            if n == "0" || ContinuousClock.now > deadline { return n != "0" }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test(.tags(.mysql)) func aConnectionWhoseClosureThrewIsClosedNotReused() async throws {
        let config = try TestServer.config()
        let pool = MySQLConnectionPool(config: config, maxIdle: 2)
        let failedID = Locked<UInt64>(0)
        await #expect(throws: Boom.self) {
            try await pool.withConnection { connection in
                failedID.value = connection.connectionID
                // State that must not reach the next caller: a session variable and an open transaction.
                _ = try await connection.execute("SET @esteira_pool_marker = 'left over'")
                _ = try await connection.execute("START TRANSACTION")
                throw Boom()
            }
        }
        #expect(await pool.idleCount == 0, "the connection whose closure threw went back to the pool")
        let (nextID, marker) = try await pool.withConnection { connection in
            (connection.connectionID, try await connection.query("SELECT @esteira_pool_marker").scalar)
        }
        #expect(nextID != failedID.value, "the next caller got the connection whose closure threw")
        #expect(marker == nil, "the next caller saw the failed caller's session variable")
        let stillOpen = try await Self.serverLists(failedID.value, config: config)
        #expect(!stillOpen, "the connection whose closure threw was not closed")
        await pool.close()
    }

    @Test(.tags(.mysql)) func aConnectionWhoseClosureSucceededIsReused() async throws {
        let config = try TestServer.config()
        let pool = MySQLConnectionPool(config: config, maxIdle: 2)
        let firstID = try await pool.withConnection { connection in
            _ = try await connection.query("SELECT 1")
            return connection.connectionID
        }
        #expect(await pool.idleCount == 1)
        let secondID = try await pool.withConnection { connection in connection.connectionID }
        #expect(secondID == firstID, "a clean connection is kept for the next caller")
        await pool.close()
    }
}
