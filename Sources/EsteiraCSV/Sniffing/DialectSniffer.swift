/// Settings a route fixes instead of letting the sniffer guess; nil fields are sniffed.
public struct DialectOverrides: Sendable, Hashable {
    public var delimiter: UInt8?
    /// `.some(nil)` means "no quoting at all".
    public var quote: UInt8??
    public var escape: UInt8??
    public var header: Bool?
    public var bareQuote: CSVDialect.BareQuotePolicy?
    /// `.some(nil)` means "no comment lines" (not sniffed).
    public var comment: UInt8??
    public var skipRows: Int?

    public init(
        delimiter: UInt8? = nil, quote: UInt8?? = nil, escape: UInt8?? = nil, header: Bool? = nil,
        bareQuote: CSVDialect.BareQuotePolicy? = nil, comment: UInt8?? = nil, skipRows: Int? = nil
    ) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.header = header
        self.bareQuote = bareQuote
        self.comment = comment
        self.skipRows = skipRows
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
    public static let delimiters: [UInt8] = [
        UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|"),
    ]
    public static let quotes: [UInt8?] = [UInt8(ascii: "\""), nil, UInt8(ascii: "'")]

    /// - Parameters:
    ///   - sample: the start of the decoded (UTF-8) file; a last line cut by the sample's end is ignored
    ///     unless `isWholeFile`.
    public static func sniff(
        _ sample: UnsafeRawBufferPointer, isWholeFile: Bool = false,
        overrides: DialectOverrides = DialectOverrides(), maxRows: Int = 2_000
    ) -> SniffedDialect {
        var usable = sample
        if !isWholeFile, let lastBreak = sample.lastIndex(where: { $0 == 0x0A || $0 == 0x0D }), lastBreak > 0 {
            usable = UnsafeRawBufferPointer(rebasing: sample[0..<lastBreak])
        }
        let hasBackslash = usable.contains(UInt8(ascii: "\\"))
        let bareQuote = overrides.bareQuote ?? .refuseRecord
        // `#` lines are tried as comments only when some line starts with one; without comments first, so
        // a tie (a header whose first name is `#`) keeps the line.
        let hash = UInt8(ascii: "#")
        let startsWithHash =
            usable.first == hash
            || zip(usable, usable.dropFirst()).contains { ($0 == 0x0A || $0 == 0x0D) && $1 == hash }
        let comments: [UInt8?] = overrides.comment.map { [$0] } ?? (startsWithHash ? [nil, hash] : [nil])
        let skipRows = overrides.skipRows ?? 0
        var candidates: [CSVDialect] = []
        for delimiter in overrides.delimiter.map({ [$0] }) ?? delimiters {
            for quote in overrides.quote.map({ [$0] }) ?? quotes {
                let escapes: [UInt8?] =
                    overrides.escape.map { [$0] } ?? (quote != nil && hasBackslash ? [nil, UInt8(ascii: "\\")] : [nil])
                for escape in escapes {
                    for comment in comments {
                        let dialect = CSVDialect(
                            delimiter: delimiter, quote: quote, escape: escape, bareQuote: bareQuote,
                            comment: comment, skipRows: skipRows)
                        if dialect.invalidReason == nil { candidates.append(dialect) }
                    }
                }
            }
        }
        if candidates.isEmpty { candidates = [CSVDialect(bareQuote: bareQuote)] }

        var best: (score: Int, columns: Int, rows: Int, consistent: Int, preamble: Int, dialect: CSVDialect)?
        for dialect in candidates {
            let (rows, consistent, columns, malformed, preamble) = measure(usable, dialect: dialect, maxRows: maxRows)
            // Any dialect that splits rows beats one that does not; then agreement, minus errors.
            let score = consistent - 3 * malformed - (rows - consistent)
            let better: Bool
            if let b = best {
                let (multi, bestMulti) = (columns > 1, b.columns > 1)
                if multi != bestMulti {
                    better = multi
                } else if score != b.score {
                    better = score > b.score
                } else {
                    better = columns > b.columns
                }
            } else {
                better = true
            }
            if better { best = (score, columns, rows, consistent, preamble, dialect) }
        }
        guard var chosen = best else {
            return SniffedDialect(
                dialect: .rfc4180, hasHeader: overrides.header ?? true, columnCount: 0, sampleRows: 0, consistentRows: 0
            )
        }
        if overrides.skipRows == nil && chosen.preamble > 0 { chosen.dialect.skipRows = chosen.preamble }
        let header = overrides.header ?? detectHeader(usable, dialect: chosen.dialect, maxRows: maxRows)
        return SniffedDialect(
            dialect: chosen.dialect, hasHeader: header, columnCount: chosen.columns,
            sampleRows: chosen.rows, consistentRows: chosen.consistent)
    }

    /// Rows and how many agree on the modal field count; `preamble` is the physical lines above the first
    /// row of that count when every row before it is a single field (a report title, no delimiter) and the
    /// count is at least two: lines to skip. Zero when there are none or it is not that clear.
    private static func measure(_ sample: UnsafeRawBufferPointer, dialect: CSVDialect, maxRows: Int)
        -> (rows: Int, consistent: Int, columns: Int, malformed: Int, preamble: Int)
    {
        var counts: [Int: Int] = [:]
        var malformed = 0
        var rows = 0
        // The first rows' start lines and field counts (0: refused), for the preamble.
        var leading: [(line: Int, count: Int)] = []
        var parser = CSVParser(
            dialect: dialect,
            limits: CSVLimits(maxFieldBytes: 1 << 20, maxRecordBytes: 4 << 20, maxFields: 4096, maxRejectedRawBytes: 0))
        let collect = { (event: CSVEvent) in
            guard rows < maxRows else { return }
            switch event {
            case .record(let record):
                rows += 1
                counts[record.count, default: 0] += 1
                if leading.count < 16 { leading.append((record.line, record.count)) }
            case .malformed(let bad):
                rows += 1
                malformed += 1
                if leading.count < 16 { leading.append((bad.line, 0)) }
            }
        }
        parser.consume(sample, collect)
        parser.finish(collect)
        // The most frequent count; the larger one when two are as frequent.
        let modal = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }
        var preamble = 0
        if let modal, modal.key >= 2, modal.value >= 2,
            let first = leading.firstIndex(where: { $0.count == modal.key }),
            first > 0, leading[..<first].allSatisfy({ $0.count == 1 })
        {
            preamble = leading[first].line - 1
        }
        return (rows, modal?.value ?? 0, modal?.key ?? 0, malformed, preamble)
    }

    static func detectHeader(_ sample: UnsafeRawBufferPointer, dialect: CSVDialect, maxRows: Int) -> Bool {
        var first: [[UInt8]]?
        var guesses: [ColumnGuess] = []
        var rows = 0
        // Whether a value of the first row shows up again in its own column, which a header's names do not.
        var recurs = false
        var parser = CSVParser(dialect: dialect)
        let collect = { (event: CSVEvent) in
            guard case .record(let record) = event, rows < maxRows else { return }
            rows += 1
            guard let head = first else {
                first = record.map { Array($0) }
                guesses = Array(repeating: ColumnGuess(), count: record.count)
                for i in guesses.indices { guesses[i].preferComma = dialect.delimiter == UInt8(ascii: ";") }
                return
            }
            for i in 0..<min(record.count, guesses.count) {
                guesses[i].add(record[i], keepDistinct: false)
                if !recurs && !head[i].isEmpty && head[i].elementsEqual(record[i]) { recurs = true }
            }
        }
        parser.consume(sample, collect)
        parser.finish(collect)
        guard var first else { return false }
        // A delimiter at the end of every line leaves the header an empty last name: not a column.
        if first.count > 1, first[first.count - 1].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { first.removeLast() }
        var anyTyped = false
        for (i, value) in first.enumerated() where i < guesses.count && guesses[i].firstCandidate != nil {
            anyTyped = true
            if !value.withUnsafeBytes({ guesses[i].fits($0) }) { return true }
        }
        if anyTyped { return false }
        // Every column is text: a header names at least half of the columns (exports leave some names
        // blank and repeat others), none with a number or a date, and no name recurs in its own column.
        let names = first.map { String(decoding: $0, as: UTF8.self).trimmingSpaces }
        let named = names.filter { !$0.isEmpty }.count
        return named > 0 && named * 2 >= names.count && !recurs
            && !first.contains { value in
                value.withUnsafeBytes { raw in
                    var probe = ColumnGuess()
                    probe.add(raw, keepDistinct: false)
                    return probe.firstCandidate != nil
                }
            }
    }
}
