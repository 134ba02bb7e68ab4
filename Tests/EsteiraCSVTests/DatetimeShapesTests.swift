import Testing

@testable import EsteiraCSV

/// Datetime shapes real exports write (SQL Server's `datetime2` has seven fraction digits), through
/// every stage that reads them: the full conversion, the fast path, and inference and sniffing (which
/// run on every file before any contract applies). None may trap; each is kept or refused with a reason.
@Suite("datetime shapes")
struct DatetimeShapesTests {
    struct Shape: CustomTestStringConvertible, Sendable {
        var input: String
        /// The canonical value; nil for NULL. With `refused`, a piece of the reason.
        var expected: String?
        var refused = false
        var type = "datetime"
        var testDescription: String {
            "\(type) \(input.debugDescription) → \(refused ? "refused: " : "")\(expected ?? "NULL")"
        }

        static func ok(_ input: String, _ expected: String?, type: String = "datetime") -> Shape {
            Shape(input: input, expected: expected, type: type)
        }
        static func bad(_ input: String, _ reason: String, type: String = "datetime") -> Shape {
            Shape(input: input, expected: reason, refused: true, type: type)
        }
    }

    static let shapes: [Shape] = [
        // 0–9 fraction digits, space or T.
        .ok("2023-12-29 16:00:00", "2023-12-29 16:00:00"),
        .ok("2023-12-29T16:00:00", "2023-12-29 16:00:00"),
        .ok("2023-12-29 16:00:00.1", "2023-12-29 16:00:00.100000"),
        .ok("2023-12-29 16:00:00.12", "2023-12-29 16:00:00.120000"),
        .ok("2023-12-29 16:00:00.123", "2023-12-29 16:00:00.123000"),
        .ok("2023-12-29T16:00:00.1234", "2023-12-29 16:00:00.123400"),
        .ok("2023-12-29 16:00:00.12345", "2023-12-29 16:00:00.123450"),
        .ok("2023-12-29 16:00:00.123456", "2023-12-29 16:00:00.123456"),
        .ok("2023-12-29 16:00:00.0000000", "2023-12-29 16:00:00"),
        .ok("2023-12-29 16:00:00.1234560", "2023-12-29 16:00:00.123456"),
        .ok("2023-12-29T16:00:00.12345600", "2023-12-29 16:00:00.123456"),
        .ok("2023-12-29 16:00:00.123456000", "2023-12-29 16:00:00.123456"),
        .ok("2023-12-29 16:00:00.0000000000000", "2023-12-29 16:00:00"),
        .bad("2023-12-29 16:00:00.1234567", "7 fractional-second digits"),
        .bad("2023-12-29 16:00:00.000000001", "rounded"),
        .bad("2023-12-29 16:00:00.", "not a datetime"),
        // Offsets.
        .ok("2026-11-02T13:04:05Z", "2026-11-02 13:04:05"),
        .ok("2026-11-02 13:04:05.5Z", "2026-11-02 13:04:05.500000"),
        .ok("2026-11-02T13:04:05+03:00", "2026-11-02 10:04:05"),
        .ok("2026-11-02T13:04:05-0300", "2026-11-02 16:04:05"),
        .ok("2026-11-02T13:04:05.1234560000+03:00", "2026-11-02 10:04:05.123456"),
        .bad("2026-11-02T13:04:05.1234567+03:00", "rounded"),
        // Leap second, end of day, the ends of the calendar.
        .bad("2016-12-31 23:59:60", "leap second"),
        .bad("2026-11-02 24:00:00", "24:00"),
        .bad("2026-11-02 24:00", "24:00"),
        .bad("0000-01-01 00:00:00", "year"),
        .ok("0001-01-01 00:00:00", "0001-01-01 00:00:00"),
        .ok("9999-12-31 23:59:59.999999", "9999-12-31 23:59:59.999999"),
        .bad("9999-12-31 23:00:00-03:00", "UTC"),
        .bad("0001-01-01 01:00:00+03:00", "UTC"),
        .bad("2026-02-30 10:00:00", "not a datetime"),
        // Empty and garbage.
        .ok("", nil),
        .bad("garbage", "not a datetime"),
        .bad("2026-11-02 13:04:05.12x", "not a datetime"),
        .bad("2026-11-02 13:04:05+99:00", "not a datetime"),
        .bad(String(repeating: "9", count: 300), "not a datetime"),
        // A date column given a SQL Server datetime2.
        .bad("2023-12-29 16:00:00.0000000", "not a date", type: "date"),
    ]

    @Test("the full conversion keeps or refuses each shape with its reason", arguments: shapes)
    func fullConversion(_ shape: Shape) throws {
        // An empty line is a blank line, not a row: the empty value goes in quotes.
        let result = try typed(
            shape.input, ColumnContract(name: "quando", type: shape.type), quoted: shape.input.isEmpty)
        if shape.refused {
            guard case .refused(let reason) = result else {
                Issue.record("\(shape.input.debugDescription) was kept as \(result)")
                return
            }
            #expect(reason.contains(shape.expected!), "\(reason)")
        } else {
            #expect(result == .value(shape.expected))
        }
    }

    @Test("the fast path agrees with the full conversion on each shape", arguments: shapes)
    func fastPath(_ shape: Shape) throws {
        let contract = CSVContract(columns: [ColumnContract(name: "quando", type: shape.type)])
        let converter = try CompiledContract(contract).converters[0]
        var fastOut = RowBytes(capacity: 64)
        var fullOut = RowBytes(capacity: 64)
        defer {
            fastOut.deallocate()
            fullOut.deallocate()
        }
        let (fast, full) = Array(shape.input.utf8).withUnsafeBytes { raw in
            (
                converter.fast.convert(raw, quoted: false, into: &fastOut),
                converter.convert(raw, quoted: false, into: &fullOut)
            )
        }
        let fastBytes = Array(UnsafeRawBufferPointer(start: fastOut.base, count: fastOut.count))
        let fullBytes = Array(UnsafeRawBufferPointer(start: fullOut.base, count: fullOut.count))
        switch (fast, full) {
        case (.slow, _): #expect(fastBytes.isEmpty)
        case (.value, .value): #expect(fastBytes == fullBytes)
        case (.null, .null): break
        default: Issue.record("fast \(fast), full \(full)")
        }
    }

    @Test("sniffing, header detection and inference read each shape without trapping", arguments: shapes)
    func inference(_ shape: Shape) throws {
        // The row of the report: a date, a quoted text, the shape, numbers.
        let row = "2024-01-02,\"ag\",\(shape.input),0,6704.974958506101"
        let text = "day,name,at,n,x\n" + Array(repeating: row, count: 3).joined(separator: "\n") + "\n"
        let schema = try SchemaInference.infer(Array(text.utf8), options: SchemaInferenceOptions(table: "t"))
        #expect(schema.columns.map(\.name) == ["day", "name", "at", "n", "x"])
        // Without a header line too, so the sniffer's header detection sees the shape in its first row.
        let headerless = Array(repeating: row, count: 3).joined(separator: "\n")
        _ = Array(headerless.utf8).withUnsafeBytes { DialectSniffer.sniff($0, isWholeFile: true) }
        _ = try read(headerless)
    }

    @Test("a SQL Server export with datetime2 values reads through the default options (issue 13's crash)")
    func sqlServerExport() throws {
        let text =
            "day,name,at,n,x\n2024-01-02,\"ag\",2023-12-29 16:00:00.0000000,0,6704.974958506101\n"
            + "2024-01-03,\"bg\",2023-12-30 16:00:00.1234567,1,1.5\n"
        let result = try read(text)
        #expect(result.rows.count == 2)
        #expect(result.rows.first?[2] == "2023-12-29 16:00:00.0000000")
    }

    @Test("inference proposes datetime for SQL Server's zero-padded datetime2, text when digits would be lost")
    func inferenceOfDatetime2() throws {
        let zeros = "at\n2023-12-29 16:00:00.0000000\n2023-12-30 17:00:00.1230000\n2023-12-31 18:00:00.0000000\n"
        #expect(
            try SchemaInference.infer(Array(zeros.utf8), options: SchemaInferenceOptions(table: "t")).columns[0].type
                == .datetime)
        let precise = "at\n2023-12-29 16:00:00.1234567\n2023-12-30 17:00:00.0000001\n2023-12-31 18:00:00.0000000\n"
        #expect(
            try SchemaInference.infer(Array(precise.utf8), options: SchemaInferenceOptions(table: "t")).columns[0].type
                != .datetime)
    }

    @Test("a column declared datetime(3) refuses digits it would drop, and accepts zeros past them")
    func declaredPrecision() throws {
        let column = ColumnContract(name: "quando", type: "datetime(3)")
        #expect(try typed("2026-11-02 13:04:05.123", column) == .value("2026-11-02 13:04:05.123000"))
        #expect(try typed("2026-11-02 13:04:05.1230000", column) == .value("2026-11-02 13:04:05.123000"))
        guard case .refused(let reason) = try typed("2026-11-02 13:04:05.1234", column) else {
            Issue.record("kept a value with more digits than the column")
            return
        }
        #expect(reason.contains("datetime(3)"), "\(reason)")
        #expect(throws: CSVReadError.self) {
            _ = try typed("2026-11-02", ColumnContract(name: "quando", type: "datetime(7)"))
        }
    }
}

@Suite("header names")
struct HeaderNamesTotalTests {
    @Test("two long header names alike, with '_' where the rename cuts, do not trap")
    func longRepeatedNames() throws {
        // 64 bytes; the rename keeps 62 and the 62nd is '_', so the renamed name held "__".
        let name = String(repeating: "a", count: 61) + "_bb"
        let result = try read("\(name),\(name)\n1,2\n")
        #expect(result.columns.count == 2)
        #expect(Set(result.columns).count == 2)
        #expect(result.rows == [["1", "2"]])
    }
}

@Suite("engine options that used to trap")
struct OptionTotalityTests {
    @Test("an impossible dialect is refused with its reason, not a trap in the parser")
    func impossibleDialect() {
        var options = CSVReadOptions()
        options.dialect = DialectOverrides(
            delimiter: UInt8(ascii: ","), quote: .some(UInt8(ascii: ",")), escape: .some(nil), header: true)
        #expect(throws: CSVReadError.self) { _ = try CSVReader(options: options) }
        options.dialect = DialectOverrides(comment: .some(UInt8(ascii: "\n")))
        #expect(throws: CSVReadError.self) { _ = try CSVReader(options: options) }
    }

    @Test("inference with a sample size of zero or less reads nothing instead of trapping")
    func emptySample() {
        #expect(throws: CSVReadError.self) {
            _ = try SchemaInference.infer(
                Array("a,b\n1,2\n".utf8), options: SchemaInferenceOptions(table: "t", sampleBytes: -5))
        }
    }

    @Test("a ratio limit too large to multiply is no limit, not an overflow trap")
    func hugeRatio() throws {
        var options = CSVReadOptions()
        options.decompression = DecompressionLimits(maxRatio: Int.max, ratioGraceBytes: 0)
        let result = try read(try gzip(Array("a,b\n1,2\n".utf8)), options)
        #expect(result.rows == [["1", "2"]])
    }
}
