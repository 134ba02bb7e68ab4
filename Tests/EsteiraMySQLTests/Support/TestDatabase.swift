import EsteiraMySQL
import Foundation
import Testing

extension Tag {
    /// Needs the local MariaDB (`make services-up && source .local/env`).
    @Tag static var mysql: Self
}

/// Thrown, and so recorded as a failure, when a test needs MariaDB but none is configured. Never skip
/// silently: a green run must mean the tests ran.
struct MissingServer: Error, CustomStringConvertible {
    var description: String {
        "ESTEIRA_MYSQL_URL is not set, so the MySQL tests cannot run: start the local MariaDB with "
            + "`make services-up && source .local/env` (it exports ESTEIRA_MYSQL_URL), then run the tests again"
    }
}

/// The second local MariaDB, started with local_infile=OFF, is missing.
struct MissingNoInfileServer: Error, CustomStringConvertible {
    var description: String {
        "ESTEIRA_MYSQL_NOINFILE_URL is not set, so the batched-INSERT fallback cannot be tested against a server "
            + "with local_infile OFF: run `make services-up && source .local/env` (it starts that server on port "
            + "13307 and exports the URL), then run the tests again"
    }
}

enum TestServer {
    static func config() throws -> MySQLConfig {
        guard let url = ProcessInfo.processInfo.environment["ESTEIRA_MYSQL_URL"], !url.isEmpty else {
            throw MissingServer()
        }
        return try MySQLConfig(url: url)
    }

    /// The server with local_infile=OFF (scripts/services-up.sh starts it beside the main one).
    static func noInfileConfig() throws -> MySQLConfig {
        guard let url = ProcessInfo.processInfo.environment["ESTEIRA_MYSQL_NOINFILE_URL"], !url.isEmpty else {
            throw MissingNoInfileServer()
        }
        return try MySQLConfig(url: url)
    }
}

/// Creates a database of its own (`esteira_t_<random>`) so tests can run in parallel, hands `body` a config
/// that selects it, and drops it afterwards whatever happens.
func withTestDatabase<T: Sendable>(
    on server: MySQLConfig? = nil,
    _ body: (MySQLConfig) async throws -> T
) async throws -> T {
    var config = try server ?? TestServer.config()
    let name = "esteira_t_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    let admin = try await MySQLConnection.connect(config)
    try await admin.execute("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    config.database = name
    let result: Result<T, any Error>
    do {
        result = .success(try await body(config))
    } catch {
        result = .failure(error)
    }
    _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(name)`")
    await admin.close()
    return try result.get()
}

extension MySQLConnection {
    /// `SELECT COUNT(*)` as an Int.
    func count(_ table: String, where condition: String = "1") async throws -> Int {
        let result = try await query("SELECT COUNT(*) FROM `\(table)` WHERE \(condition)")
        return Int(result.scalar ?? "") ?? -1
    }
}
