import EsteiraMySQL
import Foundation
import Testing

@Suite("FileLoad: one transaction, exactly once per object version", .tags(.mysql))
struct FileLoadTests {
    static let createOrders = """
        CREATE TABLE orders (
          id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          order_no VARCHAR(32) NOT NULL,
          amount DECIMAL(12,2) NULL,
          note TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
        ) ENGINE=InnoDB
        """
    static let columns = ["order_no", "amount", "note"]

    static func record(version: String = "v1", token: Int64 = 7) -> LedgerRecord {
        LedgerRecord(bucket: "landing", key: "acme/data/orders 2024-01.csv", version: version, fencingToken: token)
    }

    static func rows(_ range: Range<Int>) -> [[String?]] {
        range.map { ["ORD-\($0)", $0.isMultiple(of: 5) ? nil : "\($0).50", "note \($0) 'ç' \\ 😀"] }
    }

    /// A database with `orders`, and one connection to it.
    func withOrders(_ body: (MySQLConfig, MySQLConnection) async throws -> Void) async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createOrders)
            do {
                try await body(config, connection)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
    }

    @Test func commitsRowsAndTheLedgerRowTogether() async throws {
        try await withOrders { config, connection in
            let observer = try await MySQLConnection.connect(config)
            // A small statement limit forces several INSERTs per batch.
            let load = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns,
                ledger: Self.record(), maxStatementBytes: 4096)
            #expect(load.alreadyLoaded == nil)
            for start in stride(from: 0, to: 1000, by: 250) {
                try await load.append(Self.rows(start..<start + 250))
            }
            // Nothing is visible before the commit: neither rows nor ledger.
            #expect(try await observer.count("orders") == 0)
            #expect(try await observer.count("esteira_ledger") == 0)

            let outcome = try await load.commit(rowsRejected: 3, checksum: "sha256:abc")
            #expect(outcome == .loaded(rows: 1000))
            #expect(try await observer.count("orders") == 1000)
            let ledger = try await observer.query(
                """
                SELECT source_id = SHA2(CONCAT(bucket, '\\n', object_key, '\\n', version), 256), bucket, object_key,
                  version, fencing_token, target_table, rows_loaded, rows_rejected, checksum FROM esteira_ledger
                """)
            #expect(
                ledger.rows == [
                    ["1", "landing", "acme/data/orders 2024-01.csv", "v1", "7", "orders", "1000", "3", "sha256:abc"]
                ])

            let stored = try await observer.query("SELECT order_no, amount, note FROM orders ORDER BY id")
            #expect(stored.rows == Self.rows(0..<1000).map { [$0[0], $0[1], $0[2]] })
            await observer.close()
        }
    }

    @Test func multiByteTextRoundTripsThroughALoad() async throws {
        try await withOrders { _, connection in
            let load = try await connection.beginFileLoad(
                table: "orders", columns: ["order_no", "note"],
                ledger: Self.record())
            try await load.append(roundTripStrings.enumerated().map { ["\($0.offset)", $0.element] })
            #expect(try await load.commit() == .loaded(rows: roundTripStrings.count))
            let result = try await connection.query("SELECT note FROM orders ORDER BY id")
            #expect(result.rows.map { Array(($0[0] ?? "").utf8) } == roundTripStrings.map { Array($0.utf8) })
        }
    }

    @Test func aSecondLoadOfTheSameVersionIsAlreadyLoaded() async throws {
        try await withOrders { _, connection in
            let first = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns, ledger: Self.record(token: 1))
            try await first.append(Self.rows(0..<10))
            #expect(try await first.commit(checksum: "c1") == .loaded(rows: 10))

            let second = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns, ledger: Self.record(token: 2))
            let previous = try #require(second.alreadyLoaded, "known before any row is appended")
            #expect(previous.record.fencingToken == 1)
            #expect(previous.record.rowsLoaded == 10)
            #expect(previous.record.checksum == "c1")
            #expect(previous.table == "orders")
            #expect(abs(previous.loadedAt.timeIntervalSinceNow) < 120)
            try await second.append(Self.rows(0..<10))
            #expect(try await second.commit() == .alreadyLoaded(previous))
            #expect(try await connection.count("orders") == 10)

            // Another version of the same key is a different file.
            let newer = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns, ledger: Self.record(version: "v2"))
            try await newer.append(Self.rows(10..<15))
            #expect(try await newer.commit() == .loaded(rows: 5))
            #expect(try await connection.count("orders") == 15)
            #expect(try await connection.count("esteira_ledger") == 2)
        }
    }

    @Test func twoConcurrentLoadsOfTheSameVersionLoadItOnce() async throws {
        try await withOrders { config, connection in
            let a = try await MySQLConnection.connect(config)
            let b = try await MySQLConnection.connect(config)
            @Sendable func load(_ connection: MySQLConnection) async throws -> LoadOutcome {
                let load = try await connection.beginFileLoad(
                    table: "orders", columns: Self.columns, ledger: Self.record())
                for start in stride(from: 0, to: 500, by: 100) {
                    try await load.append(Self.rows(start..<start + 100))
                    try await Task.sleep(for: .milliseconds(50))  // keep the transaction open a while
                }
                return try await load.commit()
            }
            async let first = load(a)
            async let second = load(b)
            let outcomes = try await [first, second]
            #expect(outcomes.filter { $0 == .loaded(rows: 500) }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { if case .alreadyLoaded = $0 { true } else { false } }.count == 1, "\(outcomes)")
            #expect(try await connection.count("orders") == 500)
            #expect(try await connection.count("esteira_ledger") == 1)
            await a.close()
            await b.close()
        }
    }

    @Test func rollbackLeavesNothingAndTheVersionCanBeLoadedAgain() async throws {
        try await withOrders { _, connection in
            let load = try await connection.beginFileLoad(table: "orders", columns: Self.columns, ledger: Self.record())
            try await load.append(Self.rows(0..<100))
            await load.rollback()
            await load.rollback()  // harmless
            #expect(try await connection.count("orders") == 0)
            #expect(try await connection.count("esteira_ledger") == 0)
            await #expect {
                try await load.append(Self.rows(0..<1))
            } throws: { ($0 as? MySQLError)?.code == .loadNotOpen }

            let again = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns, ledger: Self.record())
            try await again.append(Self.rows(0..<3))
            #expect(try await again.commit() == .loaded(rows: 3))
        }
    }

    @Test func droppingAnOpenLoadRollsItBack() async throws {
        try await withOrders { _, connection in
            do {
                let load = try await connection.beginFileLoad(
                    table: "orders", columns: Self.columns, ledger: Self.record())
                try await load.append(Self.rows(0..<100))
            }
            // The dropped load's rollback is queued before this query, on the same thread.
            #expect(try await connection.count("orders") == 0)
            #expect(try await connection.count("esteira_ledger") == 0)
            let again = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns, ledger: Self.record())
            #expect(try await again.commit() == .loaded(rows: 0))
        }
    }

    @Test func aConnectionKilledMidLoadLeavesNoRowsAndIsTransient() async throws {
        try await withOrders { config, observer in
            let victim = try await MySQLConnection.connect(config)
            let load = try await victim.beginFileLoad(table: "orders", columns: Self.columns, ledger: Self.record())
            try await load.append(Self.rows(0..<200))

            try await observer.execute("KILL CONNECTION \(victim.connectionID)")

            // Appends are pipelined one batch deep: the failure surfaces at this append or at commit.
            var appendError: MySQLError?
            do {
                try await load.append(Self.rows(200..<400))
            } catch let error as MySQLError {
                appendError = error
            }
            var commitError: MySQLError?
            do {
                _ = try await load.commit()
            } catch let error as MySQLError {
                commitError = error
            }
            let error = try #require(commitError, "commit on a killed connection must fail")
            #expect(error.isTransient, "\(error)")
            #expect(error.isConnectionLost, "\(error)")
            #expect(!victim.isUsable)
            // commit repeats the append's failure (same classification) instead of committing half a file.
            if let appendError { #expect(appendError == error) }

            #expect(try await observer.count("orders") == 0)
            #expect(try await observer.count("esteira_ledger") == 0)

            // The retry, on a new connection, loads the file once.
            let retry = try await MySQLConnection.connect(config)
            let again = try await retry.beginFileLoad(table: "orders", columns: Self.columns, ledger: Self.record())
            try await again.append(Self.rows(0..<400))
            #expect(try await again.commit() == .loaded(rows: 400))
            #expect(try await observer.count("orders") == 400)
            await retry.close()
            await victim.close()
        }
    }

    @Test func aBadValueFailsTheWholeLoadWithMySQLsMessage() async throws {
        try await withOrders { _, connection in
            let load = try await connection.beginFileLoad(table: "orders", columns: Self.columns, ledger: Self.record())
            try await load.append(Self.rows(0..<10))
            try await load.append([["ORD-X", "not a number", nil]])
            var failure: MySQLError?
            do {
                _ = try await load.commit()
            } catch let error as MySQLError {
                failure = error
            }
            let error = try #require(failure)
            #expect(error.isPermanent)
            // MySQL's own text, with the row counted from the start of the load (row 11: 10 good rows first).
            #expect(error.message.contains("Incorrect decimal value: 'not a number' for column"), "\(error.message)")
            #expect(error.message.contains("`amount` at row 11"), "\(error.message)")
            await #expect {
                try await load.append(Self.rows(0..<1))
            } throws: { ($0 as? MySQLError) == error }
            #expect(try await connection.count("orders") == 0)
            #expect(try await connection.count("esteira_ledger") == 0)
            #expect(connection.isUsable)
        }
    }

    @Test func aRowWithTheWrongFieldCountFailsAtOnce() async throws {
        try await withOrders { _, connection in
            let load = try await connection.beginFileLoad(table: "orders", columns: Self.columns, ledger: Self.record())
            try await load.append(Self.rows(0..<5))
            await #expect {
                try await load.append([["ORD-X", "1.00"]])
            } throws: { error in
                let error = try #require(error as? MySQLError)
                return error.code == .invalidRow && error.message.contains("row 5 has 2 fields; the load has 3 columns")
            }
            await #expect {
                _ = try await load.commit()
            } throws: { ($0 as? MySQLError)?.code == .invalidRow }
            #expect(try await connection.count("orders") == 0)
            #expect(try await connection.count("esteira_ledger") == 0)
        }
    }

    @Test("hostile identifiers are refused before any SQL is sent", arguments: hostileIdentifiers)
    func refusesHostileIdentifiers(name: String) async throws {
        try await withOrders { _, connection in
            try await connection.execute("CREATE TABLE y (id INT)")
            let before = try await questions(connection)
            for (table, columns) in [(name, ["order_no"]), ("orders", ["order_no", name])] {
                await #expect {
                    _ = try await connection.beginFileLoad(table: table, columns: columns, ledger: Self.record())
                } throws: { error in
                    guard let error = error as? MySQLError else { return false }
                    return error.code == .invalidIdentifier && error.message.contains("invalid identifier")
                }
            }
            // Only the two SHOW STATUS statements reached the server.
            #expect(try await questions(connection) == before + 1)
            #expect(try await connection.count("y") == 0, "table y still exists")
        }
    }

    @Test func otherMisusesAreRefusedBeforeAnySQL() async throws {
        try await withOrders { _, connection in
            let before = try await questions(connection)
            let attempts: [(String, [String], LedgerRecord)] = [
                ("esteira_ledger", ["bucket"], Self.record()),
                ("orders", [], Self.record()),
                ("orders", ["note", "NOTE"], Self.record()),
                ("orders", ["note"], Self.record(version: "")),
            ]
            for (table, columns, record) in attempts {
                await #expect(throws: MySQLError.self) {
                    _ = try await connection.beginFileLoad(table: table, columns: columns, ledger: record)
                }
            }
            #expect(try await questions(connection) == before + 1)
        }
    }

    @Test func aNonTransactionalTableIsRefused() async throws {
        try await withOrders { _, connection in
            try await connection.execute("CREATE TABLE flat (v INT) ENGINE=MyISAM")
            await #expect {
                _ = try await connection.beginFileLoad(table: "flat", columns: ["v"], ledger: Self.record())
            } throws: { error in
                (error as? MySQLError)?.message.contains("needs InnoDB") ?? false
            }
            await #expect {
                _ = try await connection.beginFileLoad(table: "missing", columns: ["v"], ledger: Self.record())
            } throws: { error in
                (error as? MySQLError)?.code == .noSuchTable
            }
        }
    }

    @Test func oneLoadAtATimePerConnection() async throws {
        try await withOrders { _, connection in
            let first = try await connection.beginFileLoad(
                table: "orders", columns: Self.columns, ledger: Self.record())
            await #expect {
                _ = try await connection.beginFileLoad(
                    table: "orders", columns: Self.columns, ledger: Self.record(version: "v2"))
            } throws: { ($0 as? MySQLError)?.code == .loadNotOpen }
            try await first.append(Self.rows(0..<2))
            #expect(try await first.commit() == .loaded(rows: 2))
        }
    }

    private func questions(_ connection: MySQLConnection) async throws -> Int {
        let result = try await connection.query("SHOW SESSION STATUS LIKE 'Questions'")
        return Int(result.rows.first?[1] ?? "") ?? -1
    }
}
