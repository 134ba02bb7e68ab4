/// Settings a route fixes instead of letting the sniffer guess; nil fields are sniffed.
public struct DialectOverrides: Sendable, Hashable {
    public var delimiter: UInt8?
    /// `.some(nil)` means "no quoting at all".
    public var quote: UInt8??
    public var escape: UInt8??
    public var header: Bool?
    public var bareQuote: CSVDialect.BareQuotePolicy?

    public init(delimiter: UInt8? = nil, quote: UInt8?? = nil, escape: UInt8?? = nil, header: Bool? = nil,
                bareQuote: CSVDialect.BareQuotePolicy? = nil) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.header = header
        self.bareQuote = bareQuote
    }

    public var isComplete: Bool { delimiter != nil && quote != nil && escape != nil && header != nil }
}

/// The sniffer's verdict on a sample.
public struct SniffedDialect: Sendable, Hashable {
    public var dialect: CSVDialect
    public var hasHeader: Bool
    /// Fields per row, as most rows of the sample have them.
    public var columnCount: Int
    /// Rows of the sample read with that dialect, and how many had `columnCount` fields.
    public var sampleRows: Int
    public var consistentRows: Int
}

/// Guesses delimiter, quote, escape and header from the first kilobytes of a file, the way DuckDB's
/// sniffer does: parse the sample with every candidate dialect, keep the one under which the most rows
/// agree on a field count (more columns winning ties, errors costing heavily), then call the first row a
/// header when it does not fit the types the other rows settle on.
public enum DialectSniffer {
    public static let delimiters: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|")]
    public static let quotes: [UInt8?] = [UInt8(ascii: "\""), nil, UInt8(ascii: "'")]

    /// - Parameters:
    ///   - sample: the start of the decoded (UTF-8) file; a last line cut by the sample's end is ignored
    ///     unless `isWholeFile`.
    public static func sniff(_ sample: UnsafeRawBufferPointer, isWholeFile: Bool = false,
                             overrides: DialectOverrides = DialectOverrides(), maxRows: Int = 2_000) -> SniffedDialect {
        var usable = sample
        if !isWholeFile, let lastBreak = sample.lastIndex(where: { $0 == 0x0A || $0 == 0x0D }), lastBreak > 0 {
            usable = UnsafeRawBufferPointer(rebasing: sample[0..<lastBreak])
        }
        let hasBackslash = usable.contains(UInt8(ascii: "\\"))
        let bareQuote = overrides.bareQuote ?? .refuseRecord
        var candidates: [CSVDialect] = []
        for delimiter in overrides.delimiter.map({ [$0] }) ?? delimiters {
            for quote in overrides.quote.map({ [$0] }) ?? quotes {
                let escapes: [UInt8?] = overrides.escape.map { [$0] } ?? (quote != nil && hasBackslash ? [nil, UInt8(ascii: "\\")] : [nil])
                for escape in escapes {
                    let dialect = CSVDialect(delimiter: delimiter, quote: quote, escape: escape, bareQuote: bareQuote)
                    if dialect.invalidReason == nil { candidates.append(dialect) }
                }
            }
        }
        if candidates.isEmpty { candidates = [CSVDialect.rfc4180] }

        var best: (score: Int, columns: Int, rows: Int, consistent: Int, dialect: CSVDialect)?
        for dialect in candidates {
            let (rows, consistent, columns, malformed) = measure(usable, dialect: dialect, maxRows: maxRows)
            // Any dialect that splits rows beats one that does not; then agreement, minus errors.
            let score = consistent - 3 * malformed - (rows - consistent)
            let better: Bool
            if let b = best {
                let (multi, bestMulti) = (columns > 1, b.columns > 1)
                if multi != bestMulti { better = multi } else if score != b.score { better = score > b.score } else { better = columns > b.columns }
            } else {
                better = true
            }
            if better { best = (score, columns, rows, consistent, dialect) }
        }
        let chosen = best!
        let header = overrides.header ?? detectHeader(usable, dialect: chosen.dialect, maxRows: maxRows)
        return SniffedDialect(dialect: chosen.dialect, hasHeader: header, columnCount: chosen.columns,
                              sampleRows: chosen.rows, consistentRows: chosen.consistent)
    }

    private static func measure(_ sample: UnsafeRawBufferPointer, dialect: CSVDialect, maxRows: Int)
        -> (rows: Int, consistent: Int, columns: Int, malformed: Int) {
        var counts: [Int: Int] = [:]
        var malformed = 0
        var rows = 0
        var parser = CSVParser(dialect: dialect, limits: CSVLimits(maxFieldBytes: 1 << 20, maxRecordBytes: 4 << 20, maxFields: 4096, maxRejectedRawBytes: 0))
        let collect = { (event: CSVEvent) in
            guard rows < maxRows else { return }
            switch event {
            case .record(let record):
                rows += 1
                counts[record.count, default: 0] += 1
            case .malformed:
                rows += 1
                malformed += 1
            }
        }
        parser.consume(sample, collect)
        parser.finish(collect)
        // The most frequent count; the larger one when two are as frequent.
        let modal = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }
        return (rows, modal?.value ?? 0, modal?.key ?? 0, malformed)
    }

    static func detectHeader(_ sample: UnsafeRawBufferPointer, dialect: CSVDialect, maxRows: Int) -> Bool {
        var first: [[UInt8]]?
        var guesses: [ColumnGuess] = []
        var rows = 0
        var parser = CSVParser(dialect: dialect)
        let collect = { (event: CSVEvent) in
            guard case .record(let record) = event, rows < maxRows else { return }
            rows += 1
            if first == nil {
                first = record.map { Array($0) }
                guesses = Array(repeating: ColumnGuess(), count: record.count)
                for i in guesses.indices { guesses[i].preferComma = dialect.delimiter == UInt8(ascii: ";") }
                return
            }
            for i in 0..<min(record.count, guesses.count) { guesses[i].add(record[i], keepDistinct: false) }
        }
        parser.consume(sample, collect)
        parser.finish(collect)
        guard let first else { return false }
        var anyTyped = false
        for (i, value) in first.enumerated() where i < guesses.count && guesses[i].firstCandidate != nil {
            anyTyped = true
            if !value.withUnsafeBytes({ guesses[i].fits($0) }) { return true }
        }
        if anyTyped { return false }
        // Every column is text: a header has a name in every column, each different, none a number.
        let names = first.map { String(decoding: $0, as: UTF8.self).trimmingSpaces }
        let allNamed = !names.contains(where: \.isEmpty)
        return allNamed && Set(names).count == names.count && !first.contains { value in
            value.withUnsafeBytes { raw in
                var probe = ColumnGuess()
                probe.add(raw, keepDistinct: false)
                return probe.firstCandidate != nil
            }
        }
    }
}
