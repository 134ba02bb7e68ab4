import Testing

@testable import EsteiraMySQL

/// Strings whose bytes must come back exactly: every code point below 256 and multi-byte UTF-8 of every
/// length, including combining sequences that Swift's `==` would consider equal to their composed form.
let roundTripStrings: [String] = {
    var strings = (0...255).map { String(UnicodeScalar(UInt8($0))) }
    strings += [
        String((1...255).map { Character(UnicodeScalar(UInt8($0))) }),
        "ação", "é", "e\u{301}", "日本語テキスト", "😀", "👍🏽", "👩‍👩‍👧", "\u{10FFFF}", "\u{FEFF}bom",
        "a\\'b\"c\n\r\u{0}\u{1A}d", "\\", "\\\\'", "'; DROP TABLE t; --", "ø\u{0}ø", "%_",
    ]
    return strings
}()

@Suite("Escaping against MariaDB", .tags(.mysql))
struct EscapingRoundTripTests {
    @Test("every byte 0–255, escaped, round-trips through a binary column and matches mysql_real_escape_string")
    func everyByte() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            let mismatches = try await connection.run { session in
                try session.execute("CREATE TABLE b (id INT PRIMARY KEY, v VARBINARY(600) NOT NULL)")
                var mismatches: [UInt8] = []
                func insert(_ id: Int, _ value: [UInt8]) throws {
                    let escaped = MySQLEscaping.escape(bytes: value)
                    if escaped != session.escape(bytes: value) { mismatches.append(contentsOf: value) }
                    // Raw bytes, not a String: 0x80–0xFF alone are not UTF-8, and must reach the server as is.
                    let statement = Array("INSERT INTO b VALUES (\(id), _binary'".utf8) + escaped + Array("')".utf8)
                    try session.execute(bytes: statement, operation: "test insert")
                }
                for byte in UInt8.min...UInt8.max { try insert(Int(byte), [byte]) }
                try insert(256, (0...255).map { UInt8($0) })
                try insert(257, (0...255).reversed().map { UInt8($0) })
                return mismatches
            }
            #expect(mismatches.isEmpty, "differs from mysql_real_escape_string for bytes \(mismatches)")
            let result = try await connection.query("SELECT id, HEX(v) FROM b ORDER BY id")
            #expect(result.rows.count == 258)
            for row in result.rows {
                let id = Int(row[0] ?? "") ?? -1
                let expected: [UInt8] =
                    switch id {
                    case 0...255: [UInt8(id)]
                    case 256: (0...255).map { UInt8($0) }
                    default: (0...255).reversed().map { UInt8($0) }
                    }
                #expect(row[1] == hex(expected), "value \(id) came back as \(row[1] ?? "NULL")")
            }
            await connection.close()
        }
    }

    @Test("text round-trips byte for byte through utf8mb4")
    func text() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(
                "CREATE TABLE s (id INT PRIMARY KEY, v TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL)")
            for (id, string) in roundTripStrings.enumerated() {
                try await connection.execute("INSERT INTO s VALUES (\(id), \(connection.literal(string)))")
            }
            let result = try await connection.query("SELECT v, HEX(v) FROM s ORDER BY id")
            #expect(result.rows.count == roundTripStrings.count)
            for (row, expected) in zip(result.rows, roundTripStrings) {
                #expect(Array((row[0] ?? "").utf8) == Array(expected.utf8), "\(expected.debugDescription)")
                #expect(
                    row[1] == hex(Array(expected.utf8)), "server stored other bytes for \(expected.debugDescription)")
            }
            await connection.close()
        }
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789ABCDEF")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
}
