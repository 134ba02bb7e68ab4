import EsteiraMySQL
import Foundation
import Testing

/// Keyed modes skip or update rows whose key exists; that must never hide a value MySQL changed or a row
/// it dropped for another reason, however many duplicates the file has (the protocol's warning count
/// stops at 65,535, and MySQL keeps only `max_error_count` warnings to read back).
@Suite("Keyed loads refuse bad values whatever the number of duplicates", .tags(.mysql))
struct WarningAccountingTests {
    static let preloaded = 70_000

    static func record(_ version: String) -> LedgerRecord {
        LedgerRecord(bucket: "landing", key: "acme/data/keys.csv", version: version, fencingToken: 1)
    }

    /// Appends `rows` in batches of 2,000, as the pipeline does, and commits.
    static func load(
        _ connection: MySQLConnection, _ rows: [[String?]], mode: LoadMode, path: LoadPath,
        version: String
    ) async -> Result<LoadOutcome, any Error> {
        do {
            let load = try await connection.beginFileLoad(
                table: "keyed", columns: ["k", "n"], ledger: record(version),
                mode: mode, path: path)
            do {
                for start in stride(from: 0, to: rows.count, by: 2000) {
                    try await load.append(Array(rows[start..<min(start + 2000, rows.count)]))
                }
                return .success(try await load.commit())
            } catch {
                await load.rollback()
                return .failure(error)
            }
        } catch {
            return .failure(error)
        }
    }

    static func fingerprint(_ connection: MySQLConnection) async throws -> [[String?]] {
        try await connection.query("SELECT COUNT(*), SUM(k), SUM(n), MAX(k) FROM keyed").rows
    }

    @Test(
        "70,000 keys already there plus one 'abc' in an INT column: the file is refused, the table unchanged",
        arguments: [LoadMode.insertIgnore, .upsert], [LoadPath.loadDataLocalInfile, .batchedInsert])
    func manyDuplicatesCannotHideABadValue(mode: LoadMode, path: LoadPath) async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(
                "CREATE TABLE keyed (k INT NOT NULL PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB")
            let keys: [[String?]] = (1...Self.preloaded).map { ["\($0)", "\($0 % 97)"] }
            let first = await Self.load(connection, keys, mode: .append, path: .loadDataLocalInfile, version: "v1")
            #expect(try first.get() == .loaded(rows: Self.preloaded))
            let before = try await Self.fingerprint(connection)

            // The same keys (with other values, so an upsert would show) and one bad integer at the end.
            let again: [[String?]] =
                (1...Self.preloaded).map { ["\($0)", "\($0 % 89)"] } + [["\(Self.preloaded + 1)", "abc"]]
            let outcome = await Self.load(connection, again, mode: mode, path: path, version: "v2")
            guard case .failure(let error) = outcome else {
                Issue.record(
                    "\(mode) on \(path) accepted 'abc' for an INT column behind \(Self.preloaded) duplicates: \(outcome)"
                )
                await connection.close()
                return
            }
            let mysqlError = try #require(error as? MySQLError, "\(error)")
            #expect(mysqlError.isPermanent)
            #expect(mysqlError.message.contains("'abc'"), "\(mysqlError.message)")
            #expect(try await Self.fingerprint(connection) == before)
            #expect(try await connection.count("esteira_ledger") == 1)
            await connection.close()
        }
    }

    /// With IGNORE, MySQL also skips a row whose foreign key has no parent, with a warning and a "Skipped"
    /// count exactly like a duplicate's: insert-ignore must refuse it, not count it as a duplicate.
    @Test(
        "a row skipped for its foreign key is not a duplicate",
        arguments: [LoadPath.loadDataLocalInfile, .batchedInsert])
    func aForeignKeyFailureIsNotADuplicate(path: LoadPath) async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute("CREATE TABLE parent (id INT NOT NULL PRIMARY KEY) ENGINE=InnoDB")
            try await connection.execute("INSERT INTO parent VALUES (1)")
            try await connection.execute(
                """
                CREATE TABLE keyed (k INT NOT NULL PRIMARY KEY, n INT NOT NULL,
                  FOREIGN KEY (n) REFERENCES parent (id)) ENGINE=InnoDB
                """)
            try await connection.execute("INSERT INTO keyed VALUES (1, 1)")
            let outcome = await Self.load(
                connection, [["1", "1"], ["2", "1"], ["3", "2"]], mode: .insertIgnore,
                path: path, version: "fk")
            guard case .failure(let error) = outcome else {
                Issue.record("a row without its parent was dropped silently on \(path): \(outcome)")
                await connection.close()
                return
            }
            #expect((error as? MySQLError)?.isPermanent == true, "\(error)")
            #expect("\(error)".contains("foreign key"), "\(error)")
            #expect(try await connection.query("SELECT k FROM keyed ORDER BY k").rows == [["1"]])
            await connection.close()
        }
    }
}
