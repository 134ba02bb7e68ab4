import EsteiraCSV
import Testing

enum Typed: Equatable {
    case value(String?)
    case refused(String)
}

/// Converts one value through a one-column contract and returns what the reader made of it.
func typed(
    _ value: String, _ column: ColumnContract, contract configure: (inout CSVContract) -> Void = { _ in },
    quoted: Bool = false
) throws -> Typed {
    var contract = CSVContract(columns: [column])
    configure(&contract)
    let field = quoted ? "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : value
    let reader = try CSVReader(
        options: CSVReadOptions(
            encoding: .utf8,
            dialect: DialectOverrides(
                delimiter: UInt8(ascii: "\t"), quote: UInt8(ascii: "\""), escape: .some(nil), header: true),
            contract: contract))
    var result: Typed?
    let sink = { (event: CSVReadEvent) in
        switch event {
        case .columns: break
        case .row(let values): result = .value(values.string(at: 0))
        case .rejected(let row): result = .refused(row.reason)
        }
    }
    try reader.consume(Array("\(column.name)\n\(field)\n".utf8), sink)
    let summary = try reader.finish(sink)
    // A fully empty row is dropped rather than typed: report it as NULL.
    if summary.emptyRows == 1 { return .value(nil) }
    return try #require(result)
}

@Suite("typing")
struct TypingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var type: String
        var input: String
        /// The canonical value, nil for NULL; or, with `rejected`, a piece of the reason.
        var expected: String?
        var rejected = false
        var column: @Sendable (inout ColumnContract) -> Void = { _ in }
        var contract: @Sendable (inout CSVContract) -> Void = { _ in }
        var testDescription: String {
            "\(type) \(input.debugDescription) → \(rejected ? "rejected: " : "")\(expected ?? "NULL")"
        }

        static func ok(
            _ type: String, _ input: String, _ expected: String?,
            column: @escaping @Sendable (inout ColumnContract) -> Void = { _ in },
            contract: @escaping @Sendable (inout CSVContract) -> Void = { _ in }
        ) -> Case {
            Case(type: type, input: input, expected: expected, column: column, contract: contract)
        }
        static func bad(
            _ type: String, _ input: String, _ reason: String,
            column: @escaping @Sendable (inout ColumnContract) -> Void = { _ in },
            contract: @escaping @Sendable (inout CSVContract) -> Void = { _ in }
        ) -> Case {
            Case(type: type, input: input, expected: reason, rejected: true, column: column, contract: contract)
        }
    }

    static let brazil: @Sendable (inout CSVContract) -> Void = {
        $0.decimalSeparator = ","
        $0.dateFormats = ["dd/MM/yyyy"]
        $0.datetimeFormats = ["dd/MM/yyyy HH:mm:ss", "iso"]
    }

    static let cases: [Case] = [
        // Integers.
        .ok("int", "42", "42"), .ok("int", "-7", "-7"), .ok("int", "+7", "7"), .ok("int", " 12 ", "12"),
        .ok("int", "007", "7"), .ok("int", "2147483647", "2147483647"), .ok("int", "1,234", "1234"),
        .ok("int", "1.234", "1234", contract: brazil),
        .bad("int", "2147483648", "not an int"), .bad("int", "1.5", "has decimals"),
        .bad("int", "abc", "'abc' is not an int"),
        .bad("int", "1,23", "not an int"), .ok("bigint", "-9223372036854775808", "-9223372036854775808"),
        .bad("bigint", "9223372036854775808", "not a bigint"),
        // Decimals, both separators, thousands groups checked.
        .ok("decimal(12,2)", "1234.5", "1234.5"), .ok("decimal(12,2)", "1,234.56", "1234.56"),
        .ok("decimal(12,2)", "1.234,56", "1234.56", contract: brazil),
        .ok("decimal(12,2)", "-0,50", "-0.5", contract: brazil),
        .ok("decimal(12,2)", "R$ 10".dropFirst(3).description, "10"),
        .ok("decimal(12,2)", ",5", "0.5", contract: brazil),
        .ok("decimal(12,2)", "12.300", "12.3"), .ok("decimal(5,2)", "000123.40", "123.4"),
        .bad("decimal(12,2)", "1.2345", "more than 2 decimal places"),
        .bad("decimal(5,2)", "1234.5", "more than 3 digits"),
        .bad("decimal(12,2)", "1.23,4", "not a number", contract: brazil),
        .bad("decimal(12,2)", "12,5", "not a number"),
        .ok("decimal(12,2)", "12 345,00", "12345", column: { $0.thousandsSeparator = " " }, contract: brazil),
        .ok("double", "1.5e3", "1.5e3"), .ok("double", "2,5", "2.5", contract: brazil),
        .bad("double", "1e", "not a number"),
        // Booleans, Portuguese and English, any case.
        .ok("boolean", "true", "1"), .ok("boolean", "FALSE", "0"), .ok("boolean", "Sim", "1"),
        .ok("boolean", "NÃO", "0"),
        .ok("boolean", "não", "0"), .ok("boolean", "S", "1"), .ok("boolean", "n", "0"), .ok("boolean", "yes", "1"),
        .ok("boolean", "1", "1"), .ok("boolean", "0", "0"), .bad("boolean", "talvez", "not a boolean"),
        // Dates.
        .ok("date", "2026-11-02", "2026-11-02"), .ok("date", "02/11/2026", "2026-11-02", contract: brazil),
        .ok("date", "2/1/2026", "2026-01-02", contract: brazil),
        .ok("date", "29/02/2024", "2024-02-29", contract: brazil),
        .bad("date", "29/02/2026", "not a date", contract: brazil),
        .bad("date", "31/04/2026", "not a date", contract: brazil),
        .bad("date", "02/11/2026", "not a date in yyyy-MM-dd"),
        .ok("date", "11/02/2026", "2026-11-02", column: { $0.formats = ["MM/dd/yyyy"] }),
        .ok("date", "20261102", "2026-11-02", column: { $0.formats = ["yyyyMMdd"] }),
        // Datetimes: offsets become UTC; offset-less values take the contract's timezone.
        .ok("datetime", "2026-11-02T13:04:05Z", "2026-11-02 13:04:05"),
        .ok("datetime", "2026-11-02T23:30:00-03:00", "2026-11-03 02:30:00"),
        .ok("datetime", "2026-01-01T01:00:00+05:30", "2025-12-31 19:30:00"),
        .ok("datetime", "2026-11-02 13:04:05.25", "2026-11-02 13:04:05.250000"),
        .ok("datetime", "2026-11-02T13:04", "2026-11-02 13:04:00"),
        .ok(
            "datetime", "02/11/2026 22:15:00", "2026-11-03 01:15:00",
            contract: {
                brazil(&$0)
                $0.timezone = "-03:00"
            }),
        .ok("datetime", "2024-02-28T23:00:00-02:00", "2024-02-29 01:00:00"),
        .bad("datetime", "2026-11-02T25:00:00Z", "not a datetime"), .bad("datetime", "ontem", "not a datetime"),
        // Text and enums.
        .ok("text", "  Zoë  ", "Zoë"), .ok("text", "  Zoë  ", "  Zoë  ", column: { $0.trim = false }),
        .ok("varchar(3)", "açã", "açã"), .bad("varchar(3)", "ação", "4 characters; at most 3"),
        .ok("enum", "PAGO", "pago", column: { $0.values = ["novo", "pago"] }),
        .bad("enum", "cancelado", "not one of novo, pago", column: { $0.values = ["novo", "pago"] }),
        // Null tokens.
        .ok("int", "NULL", nil), .ok("int", "  ", nil),
        .ok("decimal(12,2)", "N/A", nil, contract: { $0.nullTokens = ["", "N/A", "-"] }),
        .ok("text", "-", nil, contract: { $0.nullTokens = ["", "-"] }), .bad("int", "-", "not an int"),
    ]

    @Test(
        "a value in a typed column becomes MySQL's canonical text, or the row is refused with a reason",
        arguments: cases)
    func conversion(_ c: Case) throws {
        var column = ColumnContract(name: "v", type: c.type)
        c.column(&column)
        let result = try typed(c.input, column, contract: c.contract)
        switch result {
        case .value(let value):
            #expect(!c.rejected, "accepted as \(value ?? "NULL")")
            if !c.rejected { #expect(value == c.expected) }
        case .refused(let reason):
            #expect(c.rejected, "refused: \(reason)")
            if c.rejected { #expect(reason.contains(c.expected!), "\(reason)") }
        }
    }

    @Test("a quoted empty field is an empty string in a text column, NULL elsewhere; required refuses both")
    func emptyFields() throws {
        #expect(try typed("", ColumnContract(name: "v", type: "text"), quoted: true) == .value(""))
        #expect(try typed("", ColumnContract(name: "v", type: "int"), quoted: true) == .value(nil))
        let required = try typed("", ColumnContract(name: "v", type: "text", required: true), quoted: true)
        #expect(required == .value(""))
        let missing = try typed("NULL", ColumnContract(name: "v", type: "int", required: true))
        guard case .refused(let reason) = missing else {
            Issue.record("accepted")
            return
        }
        #expect(reason == "column 'v' (field 1) is required but empty")
    }

    @Test(
        "bad contracts are refused before any file",
        arguments: [
            (ColumnContract(name: "v", type: "decimal(2,3)"), "decimal(precision,scale)"),
            (ColumnContract(name: "v", type: "money"), "unknown type 'money'"),
            (ColumnContract(name: "v", type: "enum"), "needs `values:`"),
            (ColumnContract(name: "Valor Total", type: "int"), "write it as 'valor_total'"),
            (ColumnContract(name: "d", type: "date", formats: ["dd/MM/yy"]), "yyyy"),
            (ColumnContract(name: "d", type: "date", formats: ["dd/MMM/yyyy"]), "not a pattern field"),
            (ColumnContract(name: "d", type: "date", formats: ["HH:mm"]), "needs yyyy, MM and dd"),
        ])
    func badContracts(column: ColumnContract, message: String) {
        #expect {
            try CSVContract(columns: [column]).validate()
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
