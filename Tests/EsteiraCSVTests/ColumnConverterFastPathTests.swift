import Testing

@testable import EsteiraCSV

/// `FastConversion.convert` settles common values without building messages. It must never disagree
/// with `ColumnConverter.convert`: for every value it either answers `.slow` having written nothing, or
/// gives the same outcome and the same canonical bytes.
@Suite("typing fast path")
struct ColumnConverterFastPathTests {
    struct Column: CustomTestStringConvertible, Sendable {
        var type: String
        var configure: @Sendable (inout CSVContract) -> Void = { _ in }
        var values: [String] = []
        var testDescription: String { type }
    }

    static let brazil: @Sendable (inout CSVContract) -> Void = {
        $0.decimalSeparator = ","
        $0.dateFormats = ["dd/MM/yyyy"]
        $0.datetimeFormats = ["dd/MM/yyyy HH:mm:ss", "iso"]
    }

    static let columns: [Column] = [
        Column(type: "int"), Column(type: "bigint"), Column(type: "decimal(12,2)"), Column(type: "decimal(5,2)"),
        Column(type: "decimal(12,2)", configure: brazil), Column(type: "double"), Column(type: "boolean"),
        Column(type: "date"), Column(type: "date", configure: brazil), Column(type: "datetime"),
        Column(type: "datetime", configure: { $0.timezone = "-03:00" }), Column(type: "datetime", configure: brazil),
        Column(type: "text"), Column(type: "varchar(5)"), Column(type: "enum"),
        Column(type: "text", configure: { $0.nullTokens = ["", "-", "N/A", "a long null token!"] }),
        Column(type: "int", configure: { $0.trim = false }),
        Column(
            type: "boolean",
            configure: {
                $0.trueValues = ["ja", "JAWOHL", "verdadeiramente"]
                $0.falseValues = ["nein"]
            }),
    ]

    /// Hand-picked edge cases for every type, plus generated ones.
    static func values() -> [String] {
        var values = [
            "", " ", "\t", "NULL", "null", "Null", "-", "N/A", "a long null token!", "\u{A0}", " 42 ", "42", "-7", "+7",
            "0", "-0", "007", "123456789", "1234567890", "2147483647", "2147483648", "-2147483648", "1,234", "1.234",
            "9223372036854775807", "1234.5", "1234.56", "0.5", ".5", "5.", "-0.50", "12.300", "1.2345", "1234.567",
            "123456789012.34", "1.5e3", "1e", "true", "TRUE", "True", "false", "FALSE", "t", "f", "1", "0", "yes",
            "no", "Y", "N", "sim", "SIM", "não", "NÃO", "nao", "verdadeiro", "VERDADEIRO", "falso", "talvez", "ja",
            "JAWOHL", "jawohl", "nein", "verdadeiramente", "2026-11-02", "2024-02-29", "2026-02-29", "2026-02-30",
            "2026-13-01", "2026-00-10", "0000-01-01", "9999-12-31", "2026-1-02", "2026/11/02", "02/11/2026",
            "2026-11-02T13:04:05", "2026-11-02T13:04:05Z", "2026-11-02t13:04:05z", "2026-11-02 13:04:05",
            "2026-11-02T23:30:00-03:00", "2026-11-02T01:30:00+03:00", "2026-12-31T23:59:59-18:00",
            "2026-01-01T00:00:00+18:59", "2026-01-01T00:00:00+19:00", "2026-01-01T00:00:00+05:60",
            "2026-11-02T24:00:00",
            "2026-11-02T13:60:00", "2026-11-02T13:04:60", "2026-11-02T13:04:05.123", "2026-11-02T13:04:05.123Z",
            "2026-11-02T13:04:05+0300", "2026-11-02T13:04:05+03", "2026-11-02T13:04", "2026-11-02X13:04:05Z",
            "2026-11-02T13:04:05*03:00", "2026-11-02T13:04:05-03-00", "02/11/2026 13:04:05", "new", "paid", "shipped",
            "cancelled", "Paid", "CANCELLED", "refunded", "abcde", "abcdef", "ação", "açãoé", "😀😀😀😀😀", "😀😀😀😀😀😀",
            "a,b", "x\"y", "exactly-16-bytes", "seventeen-bytes!!",
        ]
        var random = SplitMix(seed: 3)
        let pieces = ["0", "1", "2", "9", "-", "+", ".", ",", " ", "T", "Z", ":", "a", "A", "é", "e", "\t"]
        for _ in 0..<1500 {
            values.append(String((0..<(1 + random.below(12))).map { _ in pieces[random.below(pieces.count)] }.joined()))
        }
        // Near-canonical dates and datetimes with one byte changed.
        let templates = ["2026-11-02", "2026-11-02T13:04:05Z", "2026-11-02T13:04:05-03:00", "2026-11-02T13:04:05"]
        for template in templates {
            let bytes = Array(template.utf8)
            for i in bytes.indices {
                for b: UInt8 in [0x2F, 0x30, 0x31, 0x32, 0x33, 0x35, 0x39, 0x3A, 0x20, 0x2D, 0x2B, 0x54, 0x5A] {
                    var changed = bytes
                    changed[i] = b
                    values.append(String(decoding: changed, as: UTF8.self))
                }
            }
        }
        return values
    }

    @Test("agrees with the full conversion on every value", arguments: columns)
    func agreesWithFullConversion(column: Column) throws {
        var contract = CSVContract(columns: [
            ColumnContract(
                name: "c", type: column.type,
                values: column.type == "enum" ? ["new", "paid", "shipped", "cancelled", "açãoé"] : nil)
        ])
        column.configure(&contract)
        let converter = try CompiledContract(contract).converters[0]
        var fastOut = RowBytes(capacity: 64)
        var fullOut = RowBytes(capacity: 64)
        defer {
            fastOut.deallocate()
            fullOut.deallocate()
        }
        var settled = 0
        for value in Self.values() {
            for quoted in [false, true] {
                let bytes = Array(value.utf8)
                fastOut.removeAll()
                fullOut.removeAll()
                let (fast, full) = bytes.withUnsafeBytes { raw in
                    (
                        converter.fast.convert(raw, quoted: quoted, into: &fastOut),
                        converter.convert(raw, quoted: quoted, into: &fullOut)
                    )
                }
                let fastBytes = Array(UnsafeRawBufferPointer(start: fastOut.base, count: fastOut.count))
                let fullBytes = Array(UnsafeRawBufferPointer(start: fullOut.base, count: fullOut.count))
                switch (fast, full) {
                case (.slow, _):
                    #expect(fastBytes.isEmpty, "\(value.debugDescription): the fast path wrote before giving up")
                case (.value, .value):
                    settled += 1
                    #expect(fastBytes == fullBytes, "\(column.type) \(value.debugDescription) quoted=\(quoted)")
                case (.null, .null):
                    settled += 1
                default:
                    Issue.record(
                        "\(column.type) \(value.debugDescription) quoted=\(quoted): fast \(fast), full \(full)")
                }
            }
        }
        // The fast path is worth having: it settles a good share of these values itself.
        #expect(settled > 0)
    }

    @Test("packing reads exactly the field's bytes")
    func packing() {
        for n in 1...16 {
            let bytes = (0..<n).map { UInt8(0x41 + $0) }
            let words = bytes.withUnsafeBytes { PackedTokens.pack16($0.baseAddress!, n) }
            var expected: (UInt64, UInt64) = (0, 0)
            for (i, b) in bytes.enumerated() {
                if i < 8 {
                    expected.0 |= UInt64(b) << UInt64(8 * i)
                } else {
                    expected.1 |= UInt64(b) << UInt64(8 * (i - 8))
                }
            }
            #expect(words == expected, "\(n) bytes")
        }
        #expect(PackedTokens.asciiLowercased(0x5A41_5B40_7A61_3039) == 0x7A61_5B40_7A61_3039)
    }
}
