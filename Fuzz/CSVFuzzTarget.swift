import EsteiraCSV

// libFuzzer entry point for the CSV engine: gzip/zlib detection and inflate, charset detection and
// decoding, dialect sniffing, parsing, header normalisation, typing, cleaning, dedupe and inference.
// Built together with Sources/EsteiraCSV by Fuzz/run.sh (`make fuzz`); not part of the package.
//
// The first input byte picks the options, so one corpus explores every path:
//   bits 0-2  charset (auto, utf-8, windows-1252, iso-8859-1, utf-16le, utf-16be)
//   bit  3    with the typed contract below, or untyped
//   bits 4-6  chunk size (1, 2, 3, 7, 64, 4096, whole input)
//   bit  7    a tiny sniff sample (so the sample boundary falls inside the input)
// The rest is the file.

let contract = CSVContract(
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

let charsets: [CSVCharset] = [.auto, .utf8, .windows1252, .iso88591, .utf16le, .utf16be, .auto, .auto]
let chunkSizes = [1, 2, 3, 7, 64, 4096, Int.max, 5]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var options = CSVReadOptions(encoding: charsets[Int(control & 7)])
    if control & 8 != 0 {
        var c = contract
        // Headerless files get the contract by position; with a header it matches by name.
        c.columns = Array(c.columns.prefix(8))
        options.contract = c
    }
    options.limits = CSVLimits(maxFieldBytes: 512, maxRecordBytes: 2048, maxFields: 64, maxRejectedRawBytes: 128)
    options.decompression = DecompressionLimits(maxOutputBytes: 1 << 20, maxRatio: 50, ratioGraceBytes: 64 << 10)
    if control & 0x80 != 0 { options.sniffBytes = 16 }
    let chunk = chunkSizes[Int((control >> 4) & 7)]

    var columns = 0
    do {
        let reader = try CSVReader(options: options)
        let sink = { (event: CSVReadEvent) in
            switch event {
            case .columns(let names):
                columns = names.count
                precondition(names.allSatisfy { !$0.isEmpty && $0.utf8.count <= 64 && $0.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F } },
                             "unsafe column name in \(names)")
                precondition(Set(names).count == names.count, "duplicate column names \(names)")
            case .row(let values):
                precondition(values.count == columns, "row of \(values.count) values for \(columns) columns")
            case .rejected(let row):
                precondition(!row.reason.isEmpty && row.line >= 1 && row.endLine >= row.line, "bad rejected row \(row)")
            }
        }
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + min(chunk, input.count))
            try reader.consume(UnsafeRawBufferPointer(rebasing: input[offset..<end]), sink)
            offset = end
        }
        try reader.finish(sink)
    } catch is CSVReadError {
        // A file refused as a whole, with a message: fine.
    } catch {
        preconditionFailure("unexpected error \(error)")
    }
    // Inference reads the same bytes through the same stages and must not trap either.
    _ = try? SchemaInference.infer(Array(input.prefix(8192)), options: SchemaInferenceOptions(table: "t", sampleBytes: 4096))
    return 0
}
