/// What `esteira infer` needs to propose a route for a kind of file.
public struct SchemaInferenceOptions: Sendable {
    /// The destination table (also the route name unless `routeName` is given).
    public var table: String
    public var routeName: String?
    public var tenant: String?
    public var pattern: String?
    /// How much of the (stored, possibly compressed) input to read; the last, possibly cut, row of the
    /// sample is ignored.
    public var sampleBytes: Int
    public var encoding: CSVCharset
    public var dialect: DialectOverrides

    public init(
        table: String, routeName: String? = nil, tenant: String? = nil, pattern: String? = nil,
        sampleBytes: Int = 4 << 20, encoding: CSVCharset = .auto, dialect: DialectOverrides = DialectOverrides()
    ) {
        self.table = table
        self.routeName = routeName
        self.tenant = tenant
        self.pattern = pattern
        self.sampleBytes = sampleBytes
        self.encoding = encoding
        self.dialect = dialect
    }
}

/// One column as the sample shows it.
public struct InferredColumn: Sendable, Hashable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool
    /// The date/datetime pattern the values follow.
    public var format: String?
    /// `,` for decimal-comma columns.
    public var decimalSeparator: String?
}

/// A proposed schema, as a route contract (YAML) and as MySQL DDL.
public struct InferredSchema: Sendable {
    public var table: String
    public var columns: [InferredColumn]
    /// A column unique and never empty in the sample, preferring id-like names; empty when none is.
    public var key: [String]
    public var charset: CSVCharset
    public var compression: CSVCompression
    public var dialect: CSVDialect
    public var hasHeader: Bool
    public var sampledRows: Int
    public var rejectedRows: Int
    public var contract: CSVContract
    /// A `routes:` file with one route, ready to edit and load.
    public var routeYAML: String
    /// `CREATE TABLE IF NOT EXISTS …` for MySQL 8 / MariaDB.
    public var ddl: String
}

/// The job of the Glue crawler: read the start of a file and propose names, types (in DuckDB's order:
/// NULL, BOOLEAN, BIGINT, DECIMAL/DOUBLE, DATE, TIMESTAMP, VARCHAR), nullability and a candidate key.
///
/// Proposals come from a sample, so they are a starting point to review: a column empty in the sample
/// is proposed as nullable text, lengths get headroom, decimals at least 18 digits.
public enum SchemaInference {
    /// Infers from bytes in memory (the whole file or its start).
    public static func infer(_ bytes: [UInt8], options: SchemaInferenceOptions) throws(CSVReadError) -> InferredSchema {
        var state = try State(options)
        let cut = max(0, min(bytes.count, options.sampleBytes))
        do {
            try bytes.withUnsafeBytes { try state.consume(UnsafeRawBufferPointer(rebasing: $0[0..<cut])) }
            return try state.finish(stoppedEarly: cut < bytes.count)
        } catch let e as CSVReadError {
            throw e
        } catch {
            throw CSVReadError(.contract, "\(error)")
        }
    }

    /// Infers from a byte stream (an S3 body, a file read in chunks), reading at most `sampleBytes`.
    public static func infer<Chunks: AsyncSequence>(_ chunks: Chunks, options: SchemaInferenceOptions) async throws
        -> InferredSchema
    where Chunks.Element == [UInt8] {
        var state = try State(options)
        var read = 0
        var stoppedEarly = false
        for try await chunk in chunks {
            let take = max(0, min(chunk.count, options.sampleBytes - read))
            try chunk.withUnsafeBytes { try state.consume(UnsafeRawBufferPointer(rebasing: $0[0..<take])) }
            read += take
            if read >= options.sampleBytes {
                stoppedEarly = true
                break
            }
        }
        return try state.finish(stoppedEarly: stoppedEarly)
    }

    struct State {
        let options: SchemaInferenceOptions
        let reader: CSVReader
        var guesses: [ColumnGuess] = []
        var columns: [String] = []
        /// The latest row, applied only once the next one arrives: the last row of a cut sample is
        /// usually cut too.
        var pending: [String?]?
        var rows = 0
        var rejected = 0

        init(_ options: SchemaInferenceOptions) throws(CSVReadError) {
            self.options = options
            var read = CSVReadOptions(encoding: options.encoding, dialect: options.dialect)
            read.limits = CSVLimits(maxRejectedRawBytes: 256)
            reader = try CSVReader(options: read)
        }

        mutating func consume(_ bytes: UnsafeRawBufferPointer) throws {
            try reader.consume(bytes) { event in self.handle(event) }
        }

        mutating func handle(_ event: CSVReadEvent) {
            switch event {
            case .columns(let names):
                columns = names
                guesses = Array(repeating: ColumnGuess(), count: names.count)
            case .row(let values):
                if let pending { apply(pending) }
                pending = values.strings
            case .rejected:
                rejected += 1
            }
        }

        mutating func apply(_ values: [String?]) {
            rows += 1
            for (i, value) in values.enumerated() where i < guesses.count {
                guard var text = value else {
                    "".utf8.withContiguousStorageIfAvailable { guesses[i].add(UnsafeRawBufferPointer($0)) }
                    continue
                }
                text.withUTF8 { guesses[i].add(UnsafeRawBufferPointer($0)) }
            }
        }

        mutating func finish(stoppedEarly: Bool) throws -> InferredSchema {
            var summary = reader.summary
            do {
                summary = try reader.finish { event in self.handle(event) }
            } catch let e as CSVReadError where stoppedEarly && e.code == .compression {
                // A sample cut from a compressed file ends mid-stream, by design.
            }
            if let pending, !stoppedEarly { apply(pending) }
            let preferComma = summary.dialect.delimiter == UInt8(ascii: ";")
            var inferred: [InferredColumn] = []
            for (i, name) in columns.enumerated() {
                var guess = guesses[i]
                guess.preferComma = preferComma
                inferred.append(
                    InferredColumn(
                        name: name, type: guess.type, nullable: guess.nulls > 0 || guess.values == 0,
                        format: guess.format, decimalSeparator: guess.decimalSeparator))
            }
            let key = SchemaInference.candidateKey(inferred, guesses, rows: rows)
            return SchemaInference.render(
                options: options, columns: inferred, key: key, summary: summary, rows: rows, rejected: rejected)
        }
    }

    /// A table name for a file, when the user gave none: the file name without its folder, extensions
    /// (`.csv.gz`, `.txt`, `.tsv`), dates and numbers, as an identifier. `orders-2026-11-01.csv` →
    /// `orders`, `s3://b/acme/data/Relatório Vendas 2026-11.csv.gz` → `relatorio_vendas`; `imported`
    /// when nothing is left.
    public static func proposedTableName(forFile path: String) -> String {
        var name = Substring(path.split(separator: "/", omittingEmptySubsequences: true).last ?? "")
        let extensions = [".gz", ".gzip", ".zz", ".csv", ".txt", ".tsv", ".dat"]
        while let ext = extensions.first(where: { name.lowercased().hasSuffix($0) }) {
            name = name.dropLast(ext.count)
        }
        // Words of letters and digits; the ones without a letter (dates, sequence numbers) go.
        // (`identifier` names a name without letters or digits `column_1`, and puts `col_` before a digit.)
        let id = HeaderNormalizer.identifier(String(name), position: 0)
        let words =
            id.hasPrefix("column_")
            ? []
            : id.split(separator: "_")
                .filter { word in word.contains { $0.isLetter } && !(id.hasPrefix("col_") && word == "col") }
        var table = words.joined(separator: "_")
        if table.isEmpty { table = "imported" }
        if let first = table.first, first.isNumber { table = "t_" + table }
        return String(table.prefix(64))
    }

    /// The best single-column key: unique and complete in the sample, id-like names and integers first.
    static func candidateKey(_ columns: [InferredColumn], _ guesses: [ColumnGuess], rows: Int) -> [String] {
        guard rows >= 2 else { return [] }
        var best: (score: Int, name: String)?
        for (i, column) in columns.enumerated() where guesses[i].isUniqueAndComplete {
            switch column.type {
            case .boolean, .double, .decimal, .datetime: continue
            default: break
            }
            var score = 0
            let n = column.name
            if n == "id" || n.hasSuffix("_id") || n.hasPrefix("id_") {
                score += 4
            } else if ["cod", "codigo", "code", "numero", "num", "pedido", "key", "chave", "uuid"].contains(where: {
                n.contains($0)
            }) {
                score += 2
            }
            if column.type == .bigint || column.type == .int { score += 1 }
            if best == nil || score > best!.score { best = (score, n) }
        }
        return best.map { [$0.name] } ?? []
    }

    static func render(
        options: SchemaInferenceOptions, columns: [InferredColumn], key: [String], summary: CSVReadSummary,
        rows: Int, rejected: Int
    ) -> InferredSchema {
        var contractColumns: [ColumnContract] = []
        for c in columns {
            var column = ColumnContract(name: c.name, type: c.type.description, required: !c.nullable)
            if let format = c.format { column.formats = [format] }
            if let separator = c.decimalSeparator, separator == "," { column.decimalSeparator = "," }
            contractColumns.append(column)
        }
        let contract = CSVContract(columns: contractColumns, key: key)

        func q(_ s: String) -> String {
            var out = "\""
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\t": out += "\\t"
                default: out.unicodeScalars.append(ch)
                }
            }
            return out + "\""
        }
        let dialect = DialectSettings(summary.dialect, header: summary.hasHeader)
        var yaml =
            "# Proposed by schema inference from \(rows) sample rows\(rejected > 0 ? " (\(rejected) refused)" : ""): review types, lengths and the key.\n"
        yaml += "routes:\n"
        yaml += "  - name: \(q(options.routeName ?? options.table))\n"
        yaml += "    tenant: \(q(options.tenant ?? "CHANGE-ME"))\n"
        yaml += "    pattern: \(q(options.pattern ?? "*.csv"))\n"
        yaml += "    table: \(q(options.table))\n"
        yaml += "    encoding: \(summary.charset.rawValue)\n"
        yaml +=
            "    dialect: {delimiter: \(q(dialect.delimiter ?? ",")), quote: \(q(dialect.quote ?? "\"")), escape: \(q(dialect.escape ?? "none")), header: \(summary.hasHeader)\(dialect.comment.map { ", comment: \(q($0))" } ?? "")\(dialect.skipRows.map { ", skip_rows: \($0)" } ?? "")}\n"
        yaml += "    contract:\n"
        if !key.isEmpty { yaml += "      key: [\(key.map(q).joined(separator: ", "))]\n" }
        yaml += "      columns:\n"
        for c in contractColumns {
            var parts = ["name: \(q(c.name))", "type: \(q(c.type))", "required: \(c.required)"]
            if let f = c.formats { parts.append("formats: [\(f.map(q).joined(separator: ", "))]") }
            if let d = c.decimalSeparator { parts.append("decimal_separator: \(q(d))") }
            yaml += "        - {\(parts.joined(separator: ", "))}\n"
        }

        func ident(_ s: String) -> String {
            "`" + s.split(separator: "`", omittingEmptySubsequences: false).joined(separator: "``") + "`"
        }
        var lines = columns.map { "  \(ident($0.name)) \($0.type.sqlType) \($0.nullable ? "NULL" : "NOT NULL")" }
        if !key.isEmpty { lines.append("  PRIMARY KEY (\(key.map(ident).joined(separator: ", ")))") }
        let ddl =
            "-- Proposed from \(rows) sample rows; review before use.\nCREATE TABLE IF NOT EXISTS \(ident(options.table)) (\n"
            + lines.joined(separator: ",\n") + "\n) DEFAULT CHARSET = utf8mb4;\n"

        return InferredSchema(
            table: options.table, columns: columns, key: key, charset: summary.charset,
            compression: summary.compression, dialect: summary.dialect, hasHeader: summary.hasHeader,
            sampledRows: rows, rejectedRows: rejected, contract: contract, routeYAML: yaml, ddl: ddl)
    }
}
