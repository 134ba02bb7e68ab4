import Foundation
import Testing

@testable import EsteiraMySQL

/// Every load mode, on both paths, against the real server: the bulk path (LOAD DATA LOCAL INFILE) and
/// the batched-INSERT fallback must give the same table.
@Suite("Load modes", .tags(.mysql))
struct LoadModeTests {
    static let paths: [LoadPath] = [.loadDataLocalInfile, .batchedInsert]

    static let createItems = """
        CREATE TABLE items (
          sku VARCHAR(32) NOT NULL PRIMARY KEY,
          qty INT NOT NULL,
          label VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
          touched INT NOT NULL DEFAULT 0
        ) ENGINE=InnoDB
        """
    static let columns = ["sku", "qty", "label"]

    static func record(_ key: String = "acme/data/items.csv", version: String = "v1") -> LedgerRecord {
        LedgerRecord(bucket: "landing", key: key, version: version, fencingToken: 1)
    }

    /// A fresh database with `items` holding A (qty 1, 'old', touched 5).
    func withItems(_ body: (MySQLConnection) async throws -> Void) async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createItems)
            try await connection.execute("INSERT INTO items VALUES ('A', 1, 'old', 5)")
            do {
                try await body(connection)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
    }

    func items(_ connection: MySQLConnection) async throws -> [[String?]] {
        try await connection.query("SELECT sku, qty, label, touched FROM items ORDER BY sku").rows
    }

    /// Loads `rows` in batches of two (so a file spans several statements); returns the commit's outcome or error.
    func load(
        _ connection: MySQLConnection, _ rows: [[String?]], mode: LoadMode, path: LoadPath,
        record: LedgerRecord = LoadModeTests.record()
    ) async throws -> (FileLoad, Result<LoadOutcome, MySQLError>) {
        let load = try await connection.beginFileLoad(
            table: "items", columns: Self.columns, ledger: record,
            mode: mode, path: path)
        #expect(load.path == path)
        do {
            for start in stride(from: 0, to: rows.count, by: 2) {
                try await load.append(Array(rows[start..<min(start + 2, rows.count)]))
            }
            return (load, .success(try await load.commit()))
        } catch let error as MySQLError {
            await load.rollback()
            return (load, .failure(error))
        }
    }

    @Test(arguments: paths)
    func appendRefusesADuplicateKeyWithMySQLsMessage(path: LoadPath) async throws {
        try await withItems { connection in
            let (_, outcome) = try await load(
                connection, [["B", "2", "b"], ["A", "3", "dup"]], mode: .append, path: path)
            guard case .failure(let error) = outcome else {
                Issue.record("a duplicate key was accepted in append mode: \(outcome)")
                return
            }
            #expect(error.code == .duplicateEntry, "\(error)")
            #expect(error.isPermanent)
            #expect(error.message.contains("Duplicate entry 'A'"), "\(error.message)")
            #expect(try await items(connection) == [["A", "1", "old", "5"]])
            #expect(try await connection.count("esteira_ledger") == 0)
        }
    }

    @Test(arguments: paths)
    func insertIgnoreSkipsKeysThatExistAndKeepsTheFirstOfTheFile(path: LoadPath) async throws {
        try await withItems { connection in
            let rows: [[String?]] = [["A", "9", "new"], ["B", "2", "b"], ["B", "3", "b again"], ["C", "4", nil]]
            let (_, outcome) = try await load(connection, rows, mode: .insertIgnore, path: path)
            #expect(try outcome.get() == .loaded(rows: 4))
            #expect(
                try await items(connection) == [["A", "1", "old", "5"], ["B", "2", "b", "0"], ["C", "4", nil, "0"]])
        }
    }

    @Test(arguments: paths)
    func insertIgnoreStillRefusesBadValues(path: LoadPath) async throws {
        try await withItems { connection in
            // A duplicate (tolerated) and a bad integer (not) in the same statement.
            let (_, outcome) = try await load(
                connection, [["A", "7", "dup"], ["D", "seven", nil]],
                mode: .insertIgnore, path: path,
                record: Self.record(version: "bad"))
            guard case .failure(let error) = outcome else {
                Issue.record("a bad value was accepted in insert-ignore mode: \(outcome)")
                return
            }
            #expect(error.isPermanent)
            #expect(error.message.contains("Incorrect integer value: 'seven'"), "\(error.message)")
            #expect(try await items(connection) == [["A", "1", "old", "5"]])
        }
    }

    @Test(arguments: paths)
    func upsertUpdatesLoadedColumnsLastRowWinsOthersKept(path: LoadPath) async throws {
        try await withItems { connection in
            let rows: [[String?]] = [["A", "2", "mid"], ["B", "3", "b"], ["A", "4", "ação 😀"], ["C", "5", nil]]
            let (_, outcome) = try await load(connection, rows, mode: .upsert, path: path)
            #expect(try outcome.get() == .loaded(rows: 4))
            // `touched` is not loaded: A keeps its 5.
            #expect(
                try await items(connection) == [
                    ["A", "4", "ação 😀", "5"], ["B", "3", "b", "0"], ["C", "5", nil, "0"],
                ])
            // The staging table is gone; the connection is ready for the next load.
            let stage = try await connection.query("SHOW TABLES LIKE 'esteira_stage'")
            #expect(stage.rows.isEmpty)
            let (_, again) = try await load(
                connection, [["B", "30", "b2"]], mode: .upsert, path: path,
                record: Self.record(version: "v2"))
            #expect(try again.get() == .loaded(rows: 1))
            #expect(try await connection.query("SELECT qty FROM items WHERE sku = 'B'").scalar == "30")
        }
    }

    @Test(arguments: paths)
    func upsertRefusesBadValuesAndLeavesTheTableAlone(path: LoadPath) async throws {
        try await withItems { connection in
            let (_, outcome) = try await load(
                connection, [["A", "2", "ok"], ["B", nil, "null qty"]],
                mode: .upsert, path: path)
            guard case .failure(let error) = outcome else {
                Issue.record("NULL went into a NOT NULL column: \(outcome)")
                return
            }
            #expect(error.isPermanent)
            #expect(error.message.contains("qty"), "\(error.message)")
            #expect(try await items(connection) == [["A", "1", "old", "5"]])
        }
    }

    @Test func keyedModesNeedAKey() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute("CREATE TABLE loose (sku VARCHAR(32), qty INT, label TEXT) ENGINE=InnoDB")
            for mode in [LoadMode.upsert, .insertIgnore] {
                await #expect {
                    _ = try await connection.beginFileLoad(
                        table: "loose", columns: Self.columns,
                        ledger: Self.record(), mode: mode)
                } throws: { error in
                    let error = try #require(error as? MySQLError)
                    return error.code == .invalidConfiguration && error.message.contains("no primary or unique key")
                }
            }
            await connection.close()
        }
    }

    // MARK: replace-by-file

    static let createLines = """
        CREATE TABLE stock_lines (
          id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          sku VARCHAR(32) NOT NULL,
          qty INT NOT NULL,
          label VARCHAR(16) NULL,
          loaded_by BIGINT UNSIGNED NULL,
          note VARCHAR(8) NULL,
          KEY ix_stock_lines_loaded_by (loaded_by)
        ) ENGINE=InnoDB
        """

    func replace(
        _ connection: MySQLConnection, key: String, version: String, _ rows: [[String?]],
        path: LoadPath, commit: Bool = true
    ) async throws -> FileLoad {
        let load = try await connection.beginFileLoad(
            table: "stock_lines", columns: Self.columns, ledger: Self.record(key, version: version),
            mode: .replaceByFile(sourceColumn: "loaded_by"), path: path)
        try await load.append(rows)
        if commit { _ = try await load.commit() } else { await load.rollback() }
        return load
    }

    @Test(arguments: paths)
    func replaceByFileSwapsThePreviousVersionsRowsAtomically(path: LoadPath) async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createLines)
            let v1 = try await replace(
                connection, key: "a/data/stock.csv", version: "v1",
                [["A", "1", "v1"], ["B", "2", "v1"]], path: path)
            _ = try await replace(
                connection, key: "a/data/other.csv", version: "v1", [["X", "9", "other"]], path: path)
            #expect(v1.rowsReplaced == 0)

            let v2 = try await replace(
                connection, key: "a/data/stock.csv", version: "v2", [["A", "10", "v2"]], path: path)
            #expect(v2.rowsReplaced == 2)
            let rows = try await connection.query("SELECT sku, qty, label, loaded_by FROM stock_lines ORDER BY sku")
                .rows
            #expect(
                rows == [["A", "10", "v2", v2.ledgerID.map(String.init)], ["X", "9", "other", rows.last?[3] ?? nil]])

            // A version that fails (here: rolled back) leaves the previous one in place.
            let v3 = try await replace(
                connection, key: "a/data/stock.csv", version: "v3", [["Z", "0", "v3"]],
                path: path, commit: false)
            #expect(v3.rowsReplaced == 1)
            #expect(try await connection.query("SELECT sku FROM stock_lines ORDER BY sku").rows == [["A"], ["X"]])
            // The lock is free again: the next version goes through.
            _ = try await replace(connection, key: "a/data/stock.csv", version: "v4", [["Q", "4", "v4"]], path: path)
            #expect(try await connection.query("SELECT sku FROM stock_lines ORDER BY sku").rows == [["Q"], ["X"]])
            await connection.close()
        }
    }

    @Test func replaceByFileChecksItsSourceColumn() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createLines)
            let attempts: [(LoadMode, String)] = [
                (.replaceByFile(sourceColumn: "missing"), "has no column `missing`"),
                (.replaceByFile(sourceColumn: "note"), "must be BIGINT"),
                (.replaceByFile(sourceColumn: "sku"), "also a loaded column"),
                (.replaceByFile(sourceColumn: "x`y"), "invalid identifier"),
            ]
            for (mode, text) in attempts {
                await #expect {
                    _ = try await connection.beginFileLoad(
                        table: "stock_lines", columns: Self.columns,
                        ledger: Self.record(), mode: mode)
                } throws: { error in
                    (error as? MySQLError)?.message.contains(text) ?? false
                }
            }
            #expect(try await connection.count("esteira_ledger") == 0)
            await connection.close()
        }
    }

    @Test func modesParseFromRouteSettings() throws {
        #expect(try LoadMode(name: "append") == .append)
        #expect(try LoadMode(name: "INSERT_IGNORE") == .insertIgnore)
        #expect(try LoadMode(name: "upsert") == .upsert)
        #expect(
            try LoadMode(name: "replace-by-file", sourceColumn: "loaded_by")
                == .replaceByFile(sourceColumn: "loaded_by"))
        #expect(throws: MySQLError.self) { try LoadMode(name: "replace-by-file") }
        #expect(throws: MySQLError.self) { try LoadMode(name: "merge") }
    }
}

/// The bulk path's promise: MySQL never silently changes a value.
@Suite("LOAD DATA warnings fail the load", .tags(.mysql))
struct LoadDataWarningTests {
    @Test(
        arguments: [
            (["A", "1", String(repeating: "x", count: 17)], "label"),  // too long for VARCHAR(16): truncated
            (["A", nil, "x"], "qty"),  // NULL into NOT NULL: set to 0
            (["A", "99999999999", "x"], "qty"),  // out of range: clipped
        ] as [([String?], String)])
    func aChangedValueFailsWithMySQLsWarning(row: [String?], column: String) async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(LoadModeTests.createItems)
            let load = try await connection.beginFileLoad(
                table: "items", columns: LoadModeTests.columns,
                ledger: LoadModeTests.record())
            #expect(load.path == .loadDataLocalInfile)
            try await load.append([row])
            await #expect {
                _ = try await load.commit()
            } throws: { error in
                guard let error = error as? MySQLError else { return false }
                return error.isPermanent && error.message.contains("MySQL changed or dropped values")
                    && error.message.contains(column)
            }
            #expect(try await connection.count("items") == 0)
            await connection.close()
        }
    }

    @Test func rowNumbersCountFromTheStartOfTheLoad() {
        let message = "Incorrect integer value: 'x' for column `d`.`t`.`qty` at row 3"
        #expect(LoadState.shiftRowNumber(message, by: 2000).hasSuffix("at row 2003"))
        #expect(LoadState.shiftRowNumber("Data truncated", by: 10) == "Data truncated")
    }
}

/// Against the second server, started with local_infile=OFF.
@Suite("Batched-INSERT fallback on a server with local_infile OFF", .tags(.mysql))
struct FallbackTests {
    @Test func aServerWithoutLocalInfileGetsBatchedInsertsWithEveryByteIntact() async throws {
        let server = try TestServer.noInfileConfig()
        try await withTestDatabase(on: server) { config in
            let connection = try await MySQLConnection.connect(config)
            #expect(
                try await connection.query("SELECT @@local_infile").scalar == "0",
                "this server must refuse LOCAL INFILE")
            try await connection.execute(
                """
                CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL) ENGINE=InnoDB
                """)
            var values: [String?] = roundTripStrings.map { $0 }
            values += [nil, "", "\\N", "tab\there"]
            let load = try await connection.beginFileLoad(
                table: "t", columns: ["id", "v"],
                ledger: LedgerRecord(bucket: "b", key: "k.csv", version: "v1", fencingToken: 1),
                maxStatementBytes: 2048)  // several statements
            #expect(load.path == .batchedInsert)
            #expect(MySQLNotices.wasSent("local-infile-off"))
            try await load.append(values.enumerated().map { ["\($0.offset)", $0.element] })
            #expect(try await load.commit() == .loaded(rows: values.count))
            let stored = try await connection.query("SELECT v FROM t ORDER BY id")
            #expect(stored.rows.map { $0[0].map { Array($0.utf8) } } == values.map { $0.map { Array($0.utf8) } })
            await connection.close()
        }
    }

    @Test func upsertAndReplaceWorkOnTheFallbackServer() async throws {
        let server = try TestServer.noInfileConfig()
        try await withTestDatabase(on: server) { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(LoadModeTests.createItems)
            let load = try await connection.beginFileLoad(
                table: "items", columns: LoadModeTests.columns, ledger: LoadModeTests.record(), mode: .upsert)
            #expect(load.path == .batchedInsert)
            try await load.append([["A", "1", "a"], ["A", "2", "a2"]])
            #expect(try await load.commit() == .loaded(rows: 2))
            #expect(try await connection.query("SELECT qty, label FROM items").rows == [["2", "a2"]])
            await connection.close()
        }
    }

    /// The server can turn local_infile off while Esteira runs: the statement fails before any row is sent,
    /// the batch is resent as INSERTs inside the same transaction, and the load still commits once.
    @Test func aRefusalMidLoadFallsBackWithoutLosingTheTransaction() async throws {
        let server = try TestServer.noInfileConfig()
        try await withTestDatabase(on: server) { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v TEXT NULL) ENGINE=InnoDB")
            // Pretend this connection saw local_infile ON when it asked.
            try await connection.run { session in
                _ = try session.maxAllowedPacket()
                session.cachedLocalInfile = true
            }
            let load = try await connection.beginFileLoad(
                table: "t", columns: ["id", "v"],
                ledger: LedgerRecord(bucket: "b", key: "k.csv", version: "v1", fencingToken: 1))
            #expect(load.path == .loadDataLocalInfile)
            try await load.append([["1", "one"], ["2", "two"]])
            try await load.append([["3", "three"]])
            #expect(try await load.commit() == .loaded(rows: 3))
            #expect(try await connection.count("t") == 3)
            #expect(try await connection.run { session in try session.serverAllowsLocalInfile() } == false)
            await connection.close()
        }
    }
}
