import Foundation
import Testing

@testable import EsteiraMySQL

/// Appends `values` (raw bytes, nil for NULL) as one row through the byte API.
private func appendBytes(_ values: [[UInt8]?], to batch: inout LoadBatch) throws(MySQLError) {
    for value in values {
        if let value {
            value.withUnsafeBytes { batch.appendField($0) }
        } else {
            batch.appendField(nil)
        }
    }
    try batch.endRow()
}

private func text(_ batch: LoadBatch) -> [UInt8] {
    batch.withLoadDataText { Array($0) }
}

private func statements(_ batch: LoadBatch) throws -> [(String, Int)] {
    var out: [(String, Int)] = []
    try batch.forEachStatement { bytes, rows in out.append((String(decoding: bytes, as: UTF8.self), rows)) }
    return out
}

private func layout(limit: Int = 1 << 20, constant: [(String, String)] = [], suffix: String = "") throws -> InsertLayout
{
    InsertStatementBuilder(
        table: try SQLIdentifier("t"), columns: [try SQLIdentifier("a"), try SQLIdentifier("b")],
        maxStatementBytes: limit,
        constantColumns: try constant.map { (try SQLIdentifier($0.0), $0.1) }, suffix: suffix
    ).layout
}

@Suite("LoadBatch: rows escaped from bytes straight into statements (pure)")
struct LoadBatchTests {
    static let loadDataEscapes: [UInt8: String] = [0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x00: "\\0"]

    @Test("every byte 0–255 in LOAD DATA text: escaped exactly, alone and among others")
    func everyByteInLoadDataText() throws {
        for byte in UInt8.min...UInt8.max {
            var batch = LoadBatch(columnCount: 2)
            try appendBytes([[byte], [0x61, byte, 0x62]], to: &batch)
            let escaped = Self.loadDataEscapes[byte].map { Array($0.utf8) } ?? [byte]
            #expect(text(batch) == escaped + [0x09, 0x61] + escaped + [0x62, 0x0A], "byte \(byte)")
        }
    }

    @Test("LOAD DATA text is what LoadDataFormat.append writes for the same Strings")
    func sameAsLoadDataFormat() throws {
        var rows: [[String?]] = roundTripStrings.map { [$0, nil, ""] }
        rows.append([nil, "\\N", "N"])
        var expected: [UInt8] = []
        var fromStrings = LoadBatch(columnCount: 3)
        var fromBytes = LoadBatch(columnCount: 3)
        for row in rows {
            LoadDataFormat.append(row, to: &expected)
            try fromStrings.append(row)
            try appendBytes(row.map { $0.map { Array($0.utf8) } }, to: &fromBytes)
        }
        #expect(text(fromStrings) == expected)
        #expect(text(fromBytes) == expected)
        #expect(fromBytes.count == rows.count)
        #expect(fromBytes.byteCount == expected.count)
    }

    @Test("a value over 64 KiB full of escapes is measured, not guessed, and escaped whole on both paths")
    func largeValues() throws {
        let value = String(decoding: (0..<(200 << 10)).map { UInt8($0 % 128) }, as: UTF8.self)
        var expected: [UInt8] = []
        LoadDataFormat.append([value, "x"], to: &expected)
        var batch = LoadBatch(columnCount: 2)
        try batch.append([value, "x"])
        #expect(text(batch) == expected)
        var insert = LoadBatch(columnCount: 2, insert: try layout(limit: 1 << 20), firstRowNumber: 0, capacity: 0)
        try insert.append([value, "x"])
        let sql = try statements(insert)
        #expect(sql.count == 1 && sql.first?.0.contains(MySQLEscaping.literal(value)) == true)
    }

    @Test("every byte 0–255 as an SQL literal: the same bytes as mysql_real_escape_string, quoted")
    func everyByteAsSQLLiteral() throws {
        let layout = try layout()
        for byte in UInt8.min...UInt8.max {
            var batch = LoadBatch(columnCount: 2, insert: layout, firstRowNumber: 0, capacity: 0)
            try appendBytes([[byte], nil], to: &batch)
            let literal = "'" + String(decoding: MySQLEscaping.escape(bytes: [byte]), as: UTF8.self) + "'"
            let expected = "INSERT INTO `t` (`a`,`b`) VALUES (\(literal),NULL)"
            #expect(try statements(batch).map(\.0) == [expected], "byte \(byte)")
        }
    }

    @Test("the row view API takes any collection of optional byte buffers")
    func rowView() throws {
        let storage: [UInt8] = Array("x\ty".utf8)
        try storage.withUnsafeBytes { raw in
            let row: [UnsafeRawBufferPointer?] = [
                UnsafeRawBufferPointer(rebasing: raw[0..<1]), nil,
                UnsafeRawBufferPointer(rebasing: raw[0..<3]),
            ]
            var batch = LoadBatch(columnCount: 3)
            try batch.append(row: row)
            #expect(text(batch) == Array("x\t\\N\tx\\ty\n".utf8))
        }
    }

    @Test("LOAD DATA text converts to exactly the INSERTs the rows would have made (mid-load fallback)")
    func conversionIsExact() throws {
        var fields: [[UInt8]?] = (0...255).map { [UInt8($0)] }
        fields += [
            (0...255).map { UInt8($0) }, [], nil, Array("\\N".utf8), Array("N".utf8), Array("\\".utf8),
            Array("a\\\tb\\n".utf8), Array("日本😀".utf8),
        ]
        for limit in [1 << 20, 1000] {
            let layout = try layout(
                limit: limit, constant: [("src", "42")], suffix: "ON DUPLICATE KEY UPDATE `a` = `a`")
            var text = LoadBatch(columnCount: 2)
            var direct = LoadBatch(columnCount: 2, insert: layout, firstRowNumber: 0, capacity: 0)
            for (index, field) in fields.enumerated() {
                let id = Array(String(index).utf8)
                try appendBytes([id, field], to: &text)
                try appendBytes([id, field], to: &direct)
            }
            let converted = try text.converted(to: layout)
            let got = try statements(converted)
            #expect(got.map(\.0) == (try statements(direct)).map(\.0))
            #expect(got.map(\.1).reduce(0, +) == fields.count)
            if limit == 1000 { #expect(got.count > 3) }
            try converted.forEachStatement { bytes, _ in
                #expect(bytes.count <= limit)
                #expect(bytes.reversed().starts(with: Array(" ON DUPLICATE KEY UPDATE `a` = `a`".utf8).reversed()))
            }
        }
    }

    @Test("statements split under the limit carry every row once, in order, with the constant and the suffix")
    func splitsUnderTheLimit() throws {
        let layout = try layout(
            limit: 500, constant: [("src", "7")], suffix: "ON DUPLICATE KEY UPDATE `b` = VALUES(`b`)")
        var batch = LoadBatch(columnCount: 2, insert: layout, firstRowNumber: 0, capacity: 0)
        for i in 0..<300 { try batch.append(["\(i)", String(repeating: "'", count: i % 20)]) }
        let got = try statements(batch)
        #expect(got.count > 5)
        #expect(got.map(\.1).reduce(0, +) == 300)
        var ids: [String] = []
        for (statement, rows) in got {
            #expect(statement.utf8.count <= 500)
            #expect(statement.hasPrefix("INSERT INTO `t` (`a`,`b`,`src`) VALUES ("))
            #expect(statement.hasSuffix(",7) ON DUPLICATE KEY UPDATE `b` = VALUES(`b`)"))
            let tuples = statement.components(separatedBy: ",7),(")
            #expect(tuples.count == rows)
            ids += tuples.map { tuple in
                let values =
                    tuple.hasPrefix("INSERT")
                    ? String(tuple.dropFirst("INSERT INTO `t` (`a`,`b`,`src`) VALUES (".count)) : tuple
                return values.dropFirst().components(separatedBy: "'").first!
            }
        }
        #expect(ids == (0..<300).map(String.init))
    }

    @Test("a row with the wrong number of fields is refused and dropped; the batch stays usable")
    func wrongFieldCount() throws {
        for insert in [nil, try layout(suffix: "ON DUPLICATE KEY UPDATE `a` = `a`")] {
            var batch = LoadBatch(columnCount: 2, insert: insert, firstRowNumber: 10, capacity: 0)
            try batch.append(["1", "one"])
            do {
                try batch.append(["2"])
                Issue.record("expected invalidRow")
            } catch {
                #expect(error.code == .invalidRow)
                #expect(error.message.contains("row 11 has 1 fields; the load has 2 columns"))
            }
            batch.appendField(nil)
            #expect(batch.hasUnfinishedRow)
            batch.appendField(nil)
            batch.appendField(nil)
            #expect(throws: MySQLError.self) { try batch.endRow() }
            try batch.append(["3", nil])
            #expect(batch.count == 2)
            if insert == nil {
                #expect(text(batch) == Array("1\tone\n3\t\\N\n".utf8))
            } else {
                #expect(
                    try statements(batch).map(\.0) == [
                        "INSERT INTO `t` (`a`,`b`) VALUES ('1','one'),('3',NULL) ON DUPLICATE KEY UPDATE `a` = `a`"
                    ])
            }
        }
    }

    @Test("a row too large for any statement is refused with its number; the batch stays usable")
    func rowTooLarge() throws {
        var batch = LoadBatch(columnCount: 2, insert: try layout(limit: 100), firstRowNumber: 41, capacity: 0)
        try batch.append(["1", "2"])
        #expect(throws: MySQLError.self) { try batch.append(["x", String(repeating: "z", count: 200)]) }
        do { try batch.append(["x", String(repeating: "z", count: 200)]) } catch {
            #expect(error.code == .rowTooLarge)
            #expect(error.message.contains("row 42"))
        }
        try batch.append(["3", "4"])
        #expect(try statements(batch).map(\.0) == ["INSERT INTO `t` (`a`,`b`) VALUES ('1','2'),('3','4')"])
    }

    @Test func copiesAreIndependent() throws {
        var first = LoadBatch(columnCount: 1)
        try first.append(["a"])
        var second = first
        try second.append(["b"])
        #expect(text(first) == Array("a\n".utf8))
        #expect(text(second) == Array("a\nb\n".utf8))
    }
}

@Suite("LoadBatch against MariaDB: both paths, the conversion, byte-exact", .tags(.mysql))
struct LoadBatchMySQLTests {
    static let createTable =
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL) ENGINE=InnoDB"

    /// Every code point below 256, multi-byte UTF-8, NULL, empty, and strings that look like escapes.
    static let values: [String?] = roundTripStrings.map { $0 } + [nil, "", "\\N", "N", "tab\there", "\\\t\\n"]

    static func record() -> LedgerRecord {
        LedgerRecord(bucket: "b", key: "batch.csv", version: "v1", fencingToken: 1)
    }

    /// Loads `values` as (index, value) rows through the byte API: a first batch made before the load
    /// (LOAD DATA text), then batches from `makeBatch()` of `perBatch` rows, and checks what is stored.
    static func loadAndCheck(
        _ connection: MySQLConnection, path: LoadPath = .loadDataLocalInfile,
        maxStatementBytes: Int = FileLoad.defaultMaxStatementBytes,
        perBatch: Int = 50
    ) async throws -> FileLoad {
        var early = LoadBatch(columnCount: 2)
        try appendBytes([Array("0".utf8), values[0].map { Array($0.utf8) }], to: &early)
        let load = try await connection.beginFileLoad(
            table: "t", columns: ["id", "v"], ledger: record(), path: path,
            maxStatementBytes: maxStatementBytes)
        try await load.append(early)
        var batch = load.makeBatch()
        for (index, value) in values.enumerated().dropFirst() {
            try appendBytes([Array(String(index).utf8), value.map { Array($0.utf8) }], to: &batch)
            if batch.count == perBatch {
                try await load.append(batch)
                batch = load.makeBatch()
            }
        }
        try await load.append(batch)
        #expect(try await load.commit() == .loaded(rows: values.count))
        let stored = try await connection.query("SELECT v, HEX(v) FROM t ORDER BY id")
        #expect(stored.rows.map { $0[0].map { Array($0.utf8) } } == values.map { $0.map { Array($0.utf8) } })
        #expect(stored.rows.map { $0[1] } == values.map { $0.map { hex(Array($0.utf8)) } })
        return load
    }

    @Test("bulk path: every byte of text, NULL and empty round-trip exactly")
    func bulkPath() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createTable)
            let load = try await Self.loadAndCheck(connection)
            #expect(load.path == .loadDataLocalInfile)
            await connection.close()
        }
    }

    @Test("INSERT path, asked for: every byte round-trips, several statements per batch")
    func insertPath() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createTable)
            let load = try await Self.loadAndCheck(connection, path: .batchedInsert, maxStatementBytes: 2048)
            #expect(load.path == .batchedInsert)
            await connection.close()
        }
    }

    @Test("a server with local_infile OFF: batches made before the load are converted, the rest are INSERTs")
    func fallbackServer() async throws {
        try await withTestDatabase(on: try TestServer.noInfileConfig()) { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createTable)
            let load = try await Self.loadAndCheck(connection, maxStatementBytes: 2048)
            #expect(load.path == .batchedInsert)
            await connection.close()
        }
    }

    @Test("refused mid-load: a LOAD DATA batch already made is resent as INSERTs in the same transaction")
    func refusedMidLoad() async throws {
        try await withTestDatabase(on: try TestServer.noInfileConfig()) { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createTable)
            try await connection.run { session in
                _ = try session.maxAllowedPacket()
                session.cachedLocalInfile = true
            }
            let load = try await connection.beginFileLoad(table: "t", columns: ["id", "v"], ledger: Self.record())
            #expect(load.path == .loadDataLocalInfile)
            var first = load.makeBatch()
            var second = load.makeBatch()  // made before the refusal: LOAD DATA text too
            for (index, value) in Self.values.enumerated() {
                let row = [Array(String(index).utf8), value.map { Array($0.utf8) }]
                if index < 100 { try appendBytes(row, to: &first) } else { try appendBytes(row, to: &second) }
            }
            try await load.append(first)
            try await load.append(second)
            #expect(load.makeBatch().isLoadData == false)
            #expect(try await load.commit() == .loaded(rows: Self.values.count))
            let stored = try await connection.query("SELECT HEX(v) FROM t ORDER BY id")
            #expect(stored.rows.map { $0[0] } == Self.values.map { $0.map { hex(Array($0.utf8)) } })
            await connection.close()
        }
    }

    @Test("a batch with the wrong columns or another load's statements fails the load; nothing is stored")
    func foreignBatchFailsTheLoad() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(Self.createTable)
            try await connection.execute("CREATE TABLE u (id INT NOT NULL PRIMARY KEY, v TEXT NULL) ENGINE=InnoDB")
            let load = try await connection.beginFileLoad(
                table: "t", columns: ["id", "v"], ledger: Self.record(),
                path: .batchedInsert)
            try await load.append([["1", "one"]])
            var wrong = LoadBatch(columnCount: 3)
            try wrong.append(["2", "two", "three"])
            await #expect(throws: MySQLError.self) { try await load.append(wrong) }
            await #expect(throws: MySQLError.self) { try await load.commit() }
            #expect(try await connection.count("t") == 0)

            let other = try await MySQLConnection.connect(config)
            let uLoad = try await other.beginFileLoad(
                table: "u", columns: ["id", "v"],
                ledger: LedgerRecord(bucket: "b", key: "u.csv", version: "v1", fencingToken: 1), path: .batchedInsert)
            let tLoad = try await connection.beginFileLoad(
                table: "t", columns: ["id", "v"],
                ledger: LedgerRecord(bucket: "b", key: "t.csv", version: "v1", fencingToken: 1), path: .batchedInsert)
            var foreign = uLoad.makeBatch()
            try foreign.append(["1", "for u"])
            do {
                try await tLoad.append(foreign)
                Issue.record("expected a refusal")
            } catch let error as MySQLError {
                #expect(error.message.contains("another load"))
            }
            await uLoad.rollback()
            #expect(try await connection.count("t") == 0)
            await other.close()
            await connection.close()
        }
    }
}

@Suite("The bulk path's open statement", .tags(.mysql))
struct LoadDataStreamTests {
    @Test("a pause longer than the idle limit ends the statement; the next batch starts another, one transaction")
    func pauseBetweenBatches() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(LoadBatchMySQLTests.createTable)
            let observer = try await MySQLConnection.connect(config)
            let load = try await connection.beginFileLoad(
                table: "t", columns: ["id", "v"],
                ledger: LoadBatchMySQLTests.record())
            var batch = load.makeBatch()
            try batch.append(["1", "one"])
            try await load.append(batch)
            try await Task.sleep(nanoseconds: UInt64((LoadDataFeed.idleSeconds + 0.5) * 1e9))
            // The statement ended on its own: its row is in the (open) transaction, invisible to others.
            #expect(try await observer.count("t") == 0)
            batch = load.makeBatch()
            try batch.append(["2", "two"])
            try await load.append(batch)
            batch = load.makeBatch()
            try batch.append(["3", nil])
            try await load.append(batch)
            #expect(try await load.commit() == .loaded(rows: 3))
            #expect(
                try await observer.query("SELECT id, v FROM t ORDER BY id").rows == [
                    ["1", "one"], ["2", "two"], ["3", nil],
                ])
            #expect(try await observer.query("SELECT rows_loaded FROM esteira_ledger").scalar == "3")
            await observer.close()
            await connection.close()
        }
    }

    @Test("a bad value in an early batch refuses the file at commit with its row number in the whole load")
    func warningsAcrossBatches() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute("CREATE TABLE n (id INT NOT NULL PRIMARY KEY, q INT NOT NULL) ENGINE=InnoDB")
            let load = try await connection.beginFileLoad(
                table: "n", columns: ["id", "q"],
                ledger: LoadBatchMySQLTests.record())
            for start in stride(from: 0, to: 300, by: 100) {
                var batch = load.makeBatch()
                for i in start..<start + 100 { try batch.append(["\(i)", i == 150 ? "seven" : "\(i)"]) }
                try await load.append(batch)
            }
            do {
                _ = try await load.commit()
                Issue.record("expected the file to be refused")
            } catch let error as MySQLError {
                #expect(error.message.contains("Incorrect integer value: 'seven'"))
                #expect(error.message.contains("at row 151"))
            }
            #expect(try await connection.count("n") == 0)
            #expect(try await connection.count("esteira_ledger") == 0)
            await connection.close()
        }
    }
}
