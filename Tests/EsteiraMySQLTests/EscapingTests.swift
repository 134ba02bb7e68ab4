import Testing

@testable import EsteiraMySQL

@Suite("Escaping and batched INSERT statements (pure)")
struct EscapingTests {
    @Test("every byte 0–255 escapes as mysql_real_escape_string does for utf8mb4")
    func everyByte() {
        let special: [UInt8: String] = [
            0x00: "\\0", 0x0A: "\\n", 0x0D: "\\r", 0x1A: "\\Z", 0x5C: "\\\\", 0x27: "\\'", 0x22: "\\\"",
        ]
        for byte in UInt8.min...UInt8.max {
            let escaped = MySQLEscaping.escape(bytes: [byte])
            if let expected = special[byte] {
                #expect(escaped == Array(expected.utf8), "byte \(byte)")
            } else {
                #expect(escaped == [byte], "byte \(byte)")
            }
        }
    }

    @Test func literals() {
        #expect(MySQLEscaping.literal(nil) == "NULL")
        #expect(MySQLEscaping.literal("") == "''")
        #expect(MySQLEscaping.literal("it's") == "'it\\'s'")
        #expect(MySQLEscaping.literal("日本😀") == "'日本😀'")
        #expect(MySQLEscaping.escape("a\\'b\"\n\r\u{0}\u{1A}") == "a\\\\\\'b\\\"\\n\\r\\0\\Z")
    }

    private func builder(limit: Int, columns: [String] = ["a", "b"]) throws -> InsertStatementBuilder {
        InsertStatementBuilder(
            table: try SQLIdentifier("t"), columns: try columns.map { try SQLIdentifier($0) },
            maxStatementBytes: limit)
    }

    @Test func buildsOneStatementWhenItFits() throws {
        var statements: [(String, Int)] = []
        try builder(limit: 1 << 20).build([["1", nil], ["x'y", ""]], firstRowNumber: 0) { bytes, count in
            statements.append((String(decoding: bytes, as: UTF8.self), count))
        }
        #expect(statements.count == 1)
        #expect(statements.first?.0 == "INSERT INTO `t` (`a`,`b`) VALUES ('1',NULL),('x\\'y','')")
        #expect(statements.first?.1 == 2)
    }

    @Test func splitsStatementsUnderTheLimitAndKeepsEveryRowInOrder() throws {
        let rows: [[String?]] = (0..<1000).map { ["\($0)", String(repeating: "v", count: $0 % 50)] }
        let limit = 2_000
        var seen: [String] = []
        var total = 0
        try builder(limit: limit).build(rows, firstRowNumber: 0) { bytes, count in
            #expect(bytes.count <= limit)
            total += count
            let text = String(decoding: bytes, as: UTF8.self)
            seen.append(contentsOf: text.split(separator: "(").dropFirst(2).map { String($0.split(separator: "'")[0]) })
        }
        #expect(total == 1000)
        #expect(seen == (0..<1000).map { "\($0)" })
    }

    @Test func refusesARowThatCannotFitAnyStatement() throws {
        let builder = try builder(limit: 100)
        do {
            try builder.build([["1", "2"], ["x", String(repeating: "z", count: 200)]], firstRowNumber: 41) { _, _ in }
            Issue.record("expected rowTooLarge")
        } catch {
            #expect(error.code == .rowTooLarge)
            #expect(error.message.contains("row 42"))
        }
    }

    @Test func refusesARowWithTheWrongFieldCount() throws {
        let builder = try builder(limit: 1000)
        do {
            try builder.build([["1", "2"], ["only one"]], firstRowNumber: 0) { _, _ in }
            Issue.record("expected invalidRow")
        } catch {
            #expect(error.code == .invalidRow)
            #expect(error.message.contains("row 1 has 1 fields"))
        }
    }
}
