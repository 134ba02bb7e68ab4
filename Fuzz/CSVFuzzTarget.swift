import EsteiraCSV

// libFuzzer entry point for everything a worker runs on a file's bytes: gzip/zlib detection and inflate,
// charset detection and decoding, dialect sniffing (delimiter, quote, comment lines, preamble), header
// detection, parsing, header normalisation, the check against the table's columns, typing and cleaning
// under a contract, dedupe, and schema inference. Built together with Sources/EsteiraCSV by Fuzz/run.sh
// (`make fuzz`, and `make test` for FUZZ_SECONDS); not part of the package.
//
// Two option bytes, then the file:
//   byte 0  bits 0-2  charset (auto, utf-8, windows-1252, iso-8859-1, utf-16le, utf-16be)
//           bit  3    typed: with one of the contracts below, else untyped
//           bits 4-6  chunk size (1, 2, 3, 7, 64, 4096, whole input, 5)
//           bit  7    a tiny sniff sample (so the sample boundary falls inside the input)
//   byte 1  bits 0-1  comment: sniffed, none, '#', ';'
//           bits 2-3  skip_rows: sniffed, 0, 1, 3
//           bit  4    the destination table's columns are known (some header names missing from it)
//           bit  5    extra_columns: ignore
//           bit  6    the second contract (datetimes with precision, dates in several layouts)
//           bit  7    a fully fixed dialect (no sniffing): ',' '"' no escape, with header
//
// The contract every output must keep, checked here: column names are safe identifiers, unique; every
// row has one value per column; typed values are the canonical text MySQL reads for their type;
// refused rows carry a reason and their lines; a file refused as a whole says why (CSVReadError).

let brazilian = CSVContract(
    columns: [
        ColumnContract(name: "id", type: "bigint", required: true),
        ColumnContract(name: "valor", type: "decimal(12,2)"),
        ColumnContract(name: "data", type: "date", formats: ["dd/MM/yyyy", "yyyy-MM-dd"]),
        ColumnContract(name: "quando", type: "datetime", formats: ["iso", "dd/MM/yyyy HH:mm:ss"]),
        ColumnContract(name: "ok", type: "boolean"),
        ColumnContract(name: "status", type: "enum", values: ["novo", "pago"]),
        ColumnContract(name: "nome", type: "varchar(20)"),
        ColumnContract(name: "n", type: "double"),
    ],
    key: ["id"], nullTokens: ["", "-", "NULL"], decimalSeparator: ",", timezone: "-03:00",
    extraColumns: .ignore, dedupe: DedupeSettings(maxKeys: 64, whenFull: .pass))

let sqlServer = CSVContract(
    columns: [
        ColumnContract(name: "day", type: "date"),
        ColumnContract(name: "at", type: "datetime"),
        ColumnContract(
            name: "at3", type: "datetime(3)", formats: ["iso", "yyyy-MM-dd HH:mm:ss.SSS", "MM/dd/yyyy HH:mm"]),
        ColumnContract(name: "n", type: "int"),
        ColumnContract(name: "x", type: "decimal(18,6)"),
        ColumnContract(name: "name", type: "text"),
    ],
    key: ["n", "day"], timezone: "+05:30", extraColumns: .refuse, dedupe: DedupeSettings(maxKeys: 16, whenFull: .fail))

let charsets: [CSVCharset] = [.auto, .utf8, .windows1252, .iso88591, .utf16le, .utf16be, .auto, .auto]
let chunkSizes = [1, 2, 3, 7, 64, 4096, Int.max, 5]
let comments: [UInt8??] = [nil, .some(nil), .some(UInt8(ascii: "#")), .some(UInt8(ascii: ";"))]
let skips: [Int?] = [nil, 0, 1, 3]
let table = DestinationColumns(
    table: "t", columns: ["id", "valor", "data", "quando", "nome", "day", "at", "n", "x", "name", "column_1", "a", "b"])

/// A broken promise stops the run with its message (kept in -O builds, unlike precondition's).
func check(_ condition: Bool, _ message: @autoclosure () -> String) { if !condition { fatalError(message()) } }

func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

/// `yyyy-MM-dd` naming a real date in 0001…9999.
func isCanonicalDate(_ v: [UInt8]) -> Bool {
    guard v.count == 10, v[4] == 0x2D, v[7] == 0x2D, [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy({ isDigit(v[$0]) }) else {
        return false
    }
    let year = v[0..<4].reduce(0) { $0 * 10 + Int($1 - 0x30) }
    let month = Int(v[5] - 0x30) * 10 + Int(v[6] - 0x30)
    let day = Int(v[8] - 0x30) * 10 + Int(v[9] - 0x30)
    return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= 31
}

/// `yyyy-MM-dd HH:mm:ss[.ffffff]`, the time of day real, at most `digits` fraction digits that matter.
func isCanonicalDatetime(_ v: [UInt8], digits: Int) -> Bool {
    guard v.count == 19 || v.count == 26, isCanonicalDate(Array(v[0..<10])), v[10] == 0x20, v[13] == 0x3A,
        v[16] == 0x3A,
        [11, 12, 14, 15, 17, 18].allSatisfy({ isDigit(v[$0]) })
    else { return false }
    let hour = Int(v[11] - 0x30) * 10 + Int(v[12] - 0x30)
    let minute = Int(v[14] - 0x30) * 10 + Int(v[15] - 0x30)
    let second = Int(v[17] - 0x30) * 10 + Int(v[18] - 0x30)
    guard hour <= 23, minute <= 59, second <= 59 else { return false }
    if v.count == 26 {
        guard v[19] == 0x2E, v[20...].allSatisfy(isDigit) else { return false }
        // Digits past what the column keeps must be zeros: nothing is rounded.
        return v[(20 + digits)...].allSatisfy { $0 == 0x30 }
    }
    return true
}

/// `-?digits[.digits]`, no exponent, no thousands separators.
func isPlainNumber(_ v: [UInt8], decimals: Int) -> Bool {
    var i = v.first == 0x2D ? 1 : 0
    let start = i
    while i < v.count && isDigit(v[i]) { i += 1 }
    guard i > start else { return false }
    if i == v.count { return true }
    guard v[i] == 0x2E, v.count - i - 1 >= 1, v.count - i - 1 <= decimals else { return false }
    return v[(i + 1)...].allSatisfy(isDigit)
}

func checkValue(_ column: String, _ value: [UInt8], contract: CSVContract) {
    guard let type = contract.columns.first(where: { $0.name == column })?.type else { return }
    switch type {
    case "bigint", "int":
        check(
            isPlainNumber(value, decimals: 0),
            "\(column): '\(String(decoding: value, as: UTF8.self))' is not an integer")
        if type == "int" { check(Int32(String(decoding: value, as: UTF8.self)) != nil, "\(column): int out of range") }
    case "decimal(12,2)":
        check(
            isPlainNumber(value, decimals: 2),
            "\(column): '\(String(decoding: value, as: UTF8.self))' is not decimal(12,2)")
    case "decimal(18,6)":
        check(
            isPlainNumber(value, decimals: 6),
            "\(column): '\(String(decoding: value, as: UTF8.self))' is not decimal(18,6)")
    case "date": check(isCanonicalDate(value), "\(column): '\(String(decoding: value, as: UTF8.self))' is not a date")
    case "datetime":
        check(
            isCanonicalDatetime(value, digits: 6),
            "\(column): '\(String(decoding: value, as: UTF8.self))' is not a datetime")
    case "datetime(3)":
        check(
            isCanonicalDatetime(value, digits: 3),
            "\(column): '\(String(decoding: value, as: UTF8.self))' is not a datetime(3)")
    case "boolean": check(value == [0x30] || value == [0x31], "\(column): boolean '\(value)'")
    case "enum": check(value == Array("novo".utf8) || value == Array("pago".utf8), "\(column): enum '\(value)'")
    case "double":
        check(Double(String(decoding: value, as: UTF8.self))?.isFinite == true, "\(column): double '\(value)'")
    case "varchar(20)":
        check(value.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } <= 20, "\(column): longer than 20 characters")
    default: break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let control = data[0]
    let more = data[1]
    let input = UnsafeRawBufferPointer(start: data + 2, count: size - 2)
    var options = CSVReadOptions(encoding: charsets[Int(control & 7)])
    let contract = more & 0x40 != 0 ? sqlServer : brazilian
    if control & 8 != 0 { options.contract = contract }
    options.limits = CSVLimits(maxFieldBytes: 512, maxRecordBytes: 2048, maxFields: 64, maxRejectedRawBytes: 128)
    options.decompression = DecompressionLimits(maxOutputBytes: 1 << 20, maxRatio: 50, ratioGraceBytes: 64 << 10)
    if control & 0x80 != 0 { options.sniffBytes = 16 }
    options.dialect.comment = comments[Int(more & 3)]
    options.dialect.skipRows = skips[Int((more >> 2) & 3)]
    if more & 0x10 != 0 { options.destination = table }
    if more & 0x20 != 0 { options.extraColumns = .ignore }
    if more & 0x80 != 0 {
        options.dialect.delimiter = UInt8(ascii: ",")
        options.dialect.quote = .some(UInt8(ascii: "\""))
        options.dialect.escape = .some(nil)
        options.dialect.header = true
    }
    let chunk = chunkSizes[Int((control >> 4) & 7)]

    var columns: [String] = []
    do {
        let reader = try CSVReader(options: options)
        let sink = { (event: CSVReadEvent) in
            switch event {
            case .columns(let names):
                columns = names
                check(!names.isEmpty, "no columns")
                check(
                    names.allSatisfy {
                        !$0.isEmpty && $0.utf8.count <= 64
                            && $0.utf8.allSatisfy {
                                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
                            }
                    },
                    "unsafe column name in \(names)")
                check(Set(names).count == names.count, "duplicate column names \(names)")
                if let destination = options.destination {
                    check(
                        names.allSatisfy { destination.columns.contains($0) },
                        "a column \(names) not in the table was let through")
                }
            case .row(let values):
                check(values.count == columns.count, "row of \(values.count) values for \(columns.count) columns")
                if let contract = options.contract {
                    for (i, value) in values.enumerated() {
                        if let value { checkValue(columns[i], Array(value), contract: contract) }
                    }
                }
            case .rejected(let row):
                check(!row.reason.isEmpty && row.line >= 1 && row.endLine >= row.line, "bad rejected row \(row)")
            }
        }
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + min(chunk, input.count))
            try reader.consume(UnsafeRawBufferPointer(rebasing: input[offset..<end]), sink)
            offset = end
        }
        try reader.finish(sink)
    } catch let e as CSVReadError {
        // A file refused as a whole, with a message: fine.
        check(!e.message.isEmpty, "a refusal without a reason")
    } catch {
        fatalError("unexpected error \(error)")
    }
    // The sniffer on its own (whole file and cut sample), and inference, on the same bytes.
    let prefix = UnsafeRawBufferPointer(rebasing: input[0..<min(input.count, 8192)])
    let sniffed = DialectSniffer.sniff(prefix, isWholeFile: control & 1 == 0)
    check(sniffed.dialect.invalidReason == nil, "the sniffer chose an invalid dialect \(sniffed.dialect)")
    var inference = SchemaInferenceOptions(table: "t", sampleBytes: 4096)
    inference.dialect.comment = options.dialect.comment
    _ = try? SchemaInference.infer(Array(prefix), options: inference)
    return 0
}
