import Foundation
import Testing

@testable import EsteiraMySQL

/// The ledger of an older release gains `generation` and `state` when a worker first meets it, even when
/// several workers do so at once; reload and unload then work on the old rows.
@Suite("Ledger upgrade and reload", .tags(.mysql))
struct LedgerUpgradeTests {
    /// The ledger as releases before reload/unload created it.
    static let oldLedger = """
        CREATE TABLE `esteira_ledger` (
          `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
          `source_id` CHAR(64) NOT NULL,
          `file_id` CHAR(64) NOT NULL DEFAULT '',
          `bucket` VARCHAR(255) NOT NULL,
          `object_key` VARCHAR(1024) NOT NULL,
          `version` VARCHAR(1024) NOT NULL,
          `fencing_token` BIGINT NOT NULL,
          `target_table` VARCHAR(64) NOT NULL,
          `rows_loaded` BIGINT UNSIGNED NOT NULL DEFAULT 0,
          `rows_rejected` BIGINT UNSIGNED NOT NULL DEFAULT 0,
          `checksum` VARCHAR(128) NOT NULL DEFAULT '',
          `loaded_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
          PRIMARY KEY (`id`),
          UNIQUE KEY `uq_esteira_ledger_source` (`source_id`),
          KEY `ix_esteira_ledger_file` (`file_id`, `target_table`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
        """

    static let record = LedgerRecord(bucket: "landing", key: "acme/data/stock.csv", version: "v1", fencingToken: 1)

    @Test("four workers meeting an old ledger at once all load; old rows read as generation 1, loaded")
    func concurrentUpgrade() async throws {
        try await withTestDatabase { config in
            let admin = try await MySQLConnection.connect(config)
            try await admin.execute(Self.oldLedger)
            try await admin.execute(LoadModeTests.createLines)
            try await admin.execute(
                "INSERT INTO esteira_ledger (source_id, file_id, bucket, object_key, version, fencing_token, target_table) "
                    + "VALUES (\(Ledger.sourceIDExpression(Self.record)), \(Ledger.fileIDExpression(Self.record)), "
                    + "'landing', 'acme/data/stock.csv', 'v1', 1, 'stock_lines')")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<4 {
                    group.addTask {
                        let connection = try await MySQLConnection.connect(config)
                        let load = try await connection.beginFileLoad(
                            table: "stock_lines", columns: LoadModeTests.columns,
                            ledger: LedgerRecord(
                                bucket: "landing", key: "other-\(n).csv", version: "v1", fencingToken: 1))
                        try await load.append([["S\(n)", "1", nil]])
                        _ = try await load.commit()
                        await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            let attempts = try await admin.loadAttempts(
                bucket: "landing", key: "acme/data/stock.csv", table: "stock_lines")
            #expect(attempts.map { "\($0.generation) \($0.state)" } == ["1 loaded"])
            #expect(try await admin.count("stock_lines") == 4)
            await admin.close()
        }
    }

    @Test("a reload needs replace-by-file; it supersedes the earlier row and takes the next generation")
    func reloadGenerations() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(LoadModeTests.createLines)
            await #expect {
                _ = try await connection.beginFileLoad(
                    table: "stock_lines", columns: LoadModeTests.columns,
                    ledger: Self.record, reload: true)
            } throws: { error in
                (error as? MySQLError)?.message.contains("needs load mode replace-by-file") ?? false
            }
            let mode = LoadMode.replaceByFile(sourceColumn: "loaded_by")
            for (n, rows) in [[["A", "1", nil], ["B", "2", nil]], [["A", "1", nil]], [["C", "3", nil]]].enumerated() {
                let load = try await connection.beginFileLoad(
                    table: "stock_lines", columns: LoadModeTests.columns,
                    ledger: Self.record, mode: mode, reload: n > 0)
                #expect(load.alreadyLoaded == nil)
                #expect(load.rowsReplaced == (n == 0 ? 0 : n == 1 ? 2 : 1))
                try await load.append(rows)
                _ = try await load.commit()
            }
            // Without reload, the version is already loaded.
            let plain = try await connection.beginFileLoad(
                table: "stock_lines", columns: LoadModeTests.columns,
                ledger: Self.record, mode: mode)
            #expect(plain.alreadyLoaded?.record.rowsLoaded == 1)
            await plain.rollback()
            let attempts = try await connection.loadAttempts(
                bucket: "landing", key: "acme/data/stock.csv", table: "stock_lines")
            #expect(
                attempts.map { "\($0.generation) \($0.state) \($0.rowsLoaded)" } == [
                    "1 superseded 2", "2 superseded 1", "3 loaded 1",
                ])
            #expect(try await connection.query("SELECT sku FROM stock_lines").rows == [["C"]])

            let last = try #require(attempts.last)
            #expect(
                try await connection.countRows(
                    table: "stock_lines", sourceColumn: "loaded_by", ledgerIDs: [last.ledgerID]) == 1)
            #expect(
                try await connection.unloadFile(
                    table: "stock_lines", sourceColumn: "loaded_by", ledgerID: last.ledgerID) == 1)
            #expect(try await connection.count("stock_lines") == 0)
            await #expect {
                _ = try await connection.unloadFile(
                    table: "stock_lines", sourceColumn: "loaded_by", ledgerID: last.ledgerID)
            } throws: { error in
                (error as? MySQLError)?.message.contains("is unloaded, not loaded") ?? false
            }
            await connection.close()
        }
    }
}
