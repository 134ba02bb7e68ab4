import EsteiraMySQL
import Foundation
import Testing

@Suite("MySQLConnection against MariaDB", .tags(.mysql))
struct ConnectionTests {
    @Test func connectsWithAStrictUTF8Session() async throws {
        let connection = try await MySQLConnection.connect(try TestServer.config())
        let result = try await connection.query(
            "SELECT @@character_set_client, @@character_set_connection, @@character_set_results, @@sql_mode, "
                + "@@time_zone, @@autocommit, CONNECTION_ID()")
        let row = try #require(result.rows.first)
        #expect(row[0] == "utf8mb4" && row[1] == "utf8mb4" && row[2] == "utf8mb4")
        let sqlMode = try #require(row[3])
        #expect(sqlMode.contains("STRICT_ALL_TABLES"))
        #expect(!sqlMode.contains("NO_BACKSLASH_ESCAPES") && !sqlMode.contains("ANSI_QUOTES"))
        #expect(row[4] == "+00:00")
        #expect(row[5] == "1")
        #expect(row[6] == String(connection.connectionID))
        #expect(!connection.serverVersion.isEmpty)
        #expect(connection.isUsable)
        await connection.close()
        #expect(!connection.isUsable)
    }

    @Test func aWrongPasswordGivesAClearErrorWithoutThePassword() async throws {
        var config = try TestServer.config()
        config.password = "Wr0ng-Hunter2-password"
        do {
            _ = try await MySQLConnection.connect(config)
            Issue.record("connected with a wrong password")
        } catch let error as MySQLError {
            #expect(error.code == .accessDenied)
            #expect(error.isPermanent)
            #expect(error.message.contains("Access denied for user '\(config.user)'"))
            #expect(error.operation.hasPrefix("connect to \(config.user)@"))
            for text in [error.description, error.message, error.operation, String(reflecting: error), "\(error)"] {
                #expect(!text.contains("Hunter2"), "password leaked: \(text)")
            }
        }
    }

    @Test func anUnreachableServerIsTransient() async throws {
        var config = try TestServer.config()
        config.host = "127.0.0.1"
        config.unixSocket = nil
        config.port = 1  // nothing listens on port 1
        config.connectTimeout = .seconds(2)
        await #expect {
            _ = try await MySQLConnection.connect(config)
        } throws: { error in
            let error = try #require(error as? MySQLError)
            return error.isTransient && [2002, 2003].contains(error.mysqlErrorNumber ?? 0)
        }
    }

    @Test func requiredTLSFailsAgainstAServerWithoutIt() async throws {
        var config = try TestServer.config()
        guard config.unixSocket == nil else { return }  // TLS does not apply to sockets
        config.tlsMode = .required
        do {
            let connection = try await MySQLConnection.connect(config)
            // A server with TLS configured is fine too: then the session must be encrypted.
            let cipher = try await connection.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            let value = cipher.rows.first?[1] ?? nil
            #expect(value != nil && value != "")
            await connection.close()
        } catch let error as MySQLError {
            #expect(error.code == .tlsConnectionError)
            #expect(error.message.contains("TLS is required"), "\(error)")
            #expect(error.isPermanent, "a TLS requirement the server cannot meet will not heal by itself: \(error)")
        }
        // PREFERRED falls back to plain TCP against a server without TLS.
        config.tlsMode = .preferred
        let connection = try await MySQLConnection.connect(config)
        await connection.close()
    }

    @Test func mysqlCallsRunOnTheConnectionsOwnThread() async throws {
        let config = try TestServer.config()
        let a = try await MySQLConnection.connect(config)
        let b = try await MySQLConnection.connect(config)
        let a1 = try await a.run { _ in CurrentThread.identity() }
        let a2 = try await a.run { _ in CurrentThread.identity() }
        let b1 = try await b.run { _ in CurrentThread.identity() }
        #expect(a1 == a2, "one connection, one thread")
        #expect(a1 != b1, "each connection has its own thread")
        #expect(a1 != CurrentThread.identity())
        #if os(Linux)
            #expect(try await a.run { _ in CurrentThread.osName() } == "esteira-mysql")
        #endif
        await a.close()
        await b.close()
    }

    /// Swift's cooperative pool has one thread per core (two here). Were blocking calls run on it, at most
    /// two statements could be in flight at once. Six sleeping statements seen together in the server's
    /// process list prove each runs on a thread of its own. (Counted, not timed: a loaded CI machine
    /// cannot make it flaky.)
    @Test func blockingStatementsDoNotHoldTheCooperativePool() async throws {
        let config = try TestServer.config()
        let marker = "esteira_pool_probe_\(UInt32.random(in: 0...UInt32.max))"
        let connections = try await withThrowingTaskGroup(of: MySQLConnection.self) { group in
            for _ in 0..<6 { group.addTask { try await MySQLConnection.connect(config) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let observer = try await MySQLConnection.connect(config)
        let sleepers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in connections {
                    group.addTask { _ = try await connection.query("SELECT SLEEP(4) AS \(marker)") }
                }
                try await group.waitForAll()
            }
        }
        var most = 0
        for _ in 0..<60 where most < 6 {
            let seen = try await observer.query(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(4) AS \(marker)%'")
            most = max(most, Int(seen.scalar ?? "") ?? 0)
            try await Task.sleep(for: .milliseconds(50))
        }
        try await sleepers.value
        #expect(most == 6, "only \(most) of six blocking statements were in flight at once")
        await observer.close()
        for connection in connections { await connection.close() }
    }

    @Test func runBatchesManyStatementsInOneHop() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            let count = try await connection.run { session in
                try session.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10) NULL)")
                for id in 0..<100 {
                    try session.execute(
                        "INSERT INTO t VALUES (\(id), \(session.literal(id.isMultiple(of: 2) ? nil : "v\(id)")))")
                }
                return try session.query("SELECT COUNT(*), COUNT(v) FROM t").rows
            }
            #expect(count == [["100", "50"]])
            let nulls = try await connection.query("SELECT v FROM t WHERE id IN (0, 1) ORDER BY id")
            #expect(nulls.columns == ["v"])
            #expect(nulls.rows == [[nil], ["v1"]])
            #expect(try await connection.execute("UPDATE t SET v = '' WHERE id < 10") == 10)
            #expect(try await connection.query("SELECT v FROM t WHERE id = 0").rows == [[""]], "'' is not NULL")
            await connection.close()
        }
    }

    @Test func aStatementErrorKeepsMySQLsMessageAndTheConnectionUsable() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute("CREATE TABLE t (n INT NOT NULL)")
            await #expect {
                try await connection.execute("INSERT INTO t VALUES ('abc')")
            } throws: { error in
                guard let error = error as? MySQLError else { return false }
                return error.mysqlErrorNumber == 1366 && error.isPermanent
                    && error.message.contains("Incorrect integer value: 'abc'")
            }
            #expect(connection.isUsable)
            #expect(try await connection.execute("INSERT INTO t VALUES (1)") == 1)
            await connection.close()
        }
    }

    @Test func afterCloseWorkFailsAsClosedAndCloseIsIdempotent() async throws {
        let connection = try await MySQLConnection.connect(try TestServer.config())
        await connection.close()
        await connection.close()
        await #expect {
            try await connection.execute("SELECT 1")
        } throws: { error in
            (error as? MySQLError)?.code == .connectionClosed
        }
    }

    @Test func theServerCannotMakeUsUploadAFile() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute("CREATE TABLE t (line TEXT)")
            await #expect {
                try await connection.execute("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t")
            } throws: { error in
                (error as? MySQLError)?.message.contains("LOAD DATA LOCAL INFILE refused") ?? false
            }
            #expect(try await connection.count("t") == 0)
            await connection.close()
        }
    }
}

enum CurrentThread {
    static func identity() -> String { "\(pthread_self())" }

    /// The kernel's name for the calling thread (what `top -H` shows).
    static func osName() -> String {
        let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        return comm.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
