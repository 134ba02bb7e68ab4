/// How to read one file; every field has a default that reads what partners usually send.
public struct CSVReadOptions: Sendable {
    /// `.auto` detects UTF-8, Windows-1252 or UTF-16 (see `CharsetDecoder`).
    public var encoding: CSVCharset
    /// Whatever is not fixed here is sniffed from the first `sniffBytes`.
    public var dialect: DialectOverrides
    /// Types, nullability, key and cleaning; nil loads every column as text.
    public var contract: CSVContract?
    public var headerCollisions: HeaderNormalizer.CollisionPolicy
    public var limits: CSVLimits
    public var decompression: DecompressionLimits
    /// How much decoded text the sniffer sees before parsing starts (held once, then released).
    public var sniffBytes: Int
    /// The destination table's columns, when known: a column to load that the table lacks refuses the
    /// file at its header (`BadHeader`), naming the table's columns.
    public var destination: DestinationColumns?
    /// Without a contract: what to do with header columns the destination table lacks (`ignore`: not
    /// loaded). With a contract, the contract's `extra_columns` applies to columns it does not name.
    public var extraColumns: CSVContract.ExtraColumns

    public init(
        encoding: CSVCharset = .auto, dialect: DialectOverrides = DialectOverrides(), contract: CSVContract? = nil,
        headerCollisions: HeaderNormalizer.CollisionPolicy = .rename, limits: CSVLimits = CSVLimits(),
        decompression: DecompressionLimits = DecompressionLimits(), sniffBytes: Int = 128 << 10
    ) {
        self.encoding = encoding
        self.dialect = dialect
        self.contract = contract
        self.headerCollisions = headerCollisions
        self.limits = limits
        self.decompression = decompression
        self.sniffBytes = sniffBytes
        self.destination = nil
        self.extraColumns = .refuse
    }
}

/// A destination table and its columns, in table order.
public struct DestinationColumns: Sendable, Hashable {
    public var table: String
    public var columns: [String]

    public init(table: String, columns: [String]) {
        self.table = table
        self.columns = columns
    }

    func contains(_ name: String) -> Bool { columns.contains { $0.lowercased() == name.lowercased() } }

    /// "the file's column 'order_date' is not in table acme_orders (its columns: …): add it …".
    func missing(_ names: [String], what: String, fix: String) -> String {
        let quoted =
            names.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
            + (names.count > 10 ? " and \(names.count - 10) more" : "")
        let shown = columns.prefix(60).joined(separator: ", ") + (columns.count > 60 ? ", …" : "")
        return
            "\(what) \(names.count == 1 ? "column" : "columns") \(quoted) \(names.count == 1 ? "is" : "are") not in table \(table) (its columns: \(shown)): \(fix)"
    }

    /// How a file's columns differ from the table's, for a refusal: "columns compared with table t: added
    /// 'a'; missing 'b'; renamed by normalisation 'Order Date' → 'order_date'". `rawHeader` is the header as
    /// the file spells it (same order as `fileColumns`), when there is one.
    public func diff(fileColumns: [String], rawHeader: [String]? = nil) -> String {
        func list(_ names: [String]) -> String {
            names.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
                + (names.count > 10 ? " and \(names.count - 10) more" : "")
        }
        let file = Set(fileColumns.map { $0.lowercased() })
        let added = fileColumns.filter { !contains($0) }
        let missing = columns.filter { !file.contains($0.lowercased()) }
        var renamed: [String] = []
        if let rawHeader, rawHeader.count == fileColumns.count {
            for (raw, name) in zip(rawHeader, fileColumns) where raw != name {
                renamed.append("'\(raw.prefix(60))' → '\(name)'")
            }
        }
        var parts: [String] = []
        if !added.isEmpty { parts.append("added (in the file, not the table) \(list(added))") }
        if !missing.isEmpty { parts.append("missing (in the table, not the file) \(list(missing))") }
        if !renamed.isEmpty {
            parts.append(
                "renamed by normalisation " + renamed.prefix(10).joined(separator: ", ")
                    + (renamed.count > 10 ? " and \(renamed.count - 10) more" : ""))
        }
        return "columns compared with table \(table): " + (parts.isEmpty ? "the same" : parts.joined(separator: "; "))
    }
}

/// A row refused by any stage, with what a person needs to find and fix it.
public struct RejectedRow: Sendable, Hashable, CustomStringConvertible {
    /// Physical line (1-based) where the row starts, and where it ends.
    public var line: Int
    public var endLine: Int
    /// The row as it is in the file (in UTF-8; an undecodable byte shows as U+FFFD), cut at
    /// `CSVLimits.maxRejectedRawBytes`.
    public var raw: String
    public var reason: String

    public init(line: Int, endLine: Int, raw: String, reason: String) {
        self.line = line
        self.endLine = endLine
        self.raw = raw
        self.reason = reason
    }

    public var description: String { "line \(line): \(reason)" }
}

/// What the reader hands on, in file order.
public enum CSVReadEvent {
    /// The output columns, once, before any row.
    case columns([String])
    /// A typed, cleaned row: one canonical value per column, nil for NULL. Borrowed: valid during the
    /// sink call only; keep `row.strings`.
    case row(TypedRow)
    case rejected(RejectedRow)
}

/// What reading a file came to.
public struct CSVReadSummary: Sendable, Hashable {
    public var columns: [String] = []
    public var rows = 0
    public var rejected = 0
    /// Rows with every field empty, skipped.
    public var emptyRows = 0
    /// Rows dropped because their key repeated an earlier row's.
    public var duplicates = 0
    public var blankLines = 0
    public var compressedBytes: Int64 = 0
    /// Bytes after decompression, before charset decoding.
    public var bytes: Int64 = 0
    public var compression = CSVCompression.none
    public var charset = CSVCharset.auto
    public var dialect = CSVDialect.rfc4180
    public var hasHeader = true

    public init() {}
}

/// The whole engine for one file: compressed bytes in, typed rows out, streaming.
///
/// gzip/zlib detection (magic bytes) → inflate with bomb limits → charset detection and decoding to UTF-8
/// → dialect sniffing on the first `sniffBytes` → parsing → header normalisation and matching to the
/// contract → typing and cleaning → deduplication. Memory is bounded by the options (the sniff sample,
/// the parser's record limits, zlib's buffers, the dedupe table), never by the file.
///
/// Errors thrown are `CSVReadError` for a file that cannot be read at all, or whatever the sink throws.
/// Not thread-safe: one file, one task.
public final class CSVReader {
    public let options: CSVReadOptions
    public private(set) var summary = CSVReadSummary()

    private var pendingMagic: [UInt8] = []
    private var compressionDecided = false
    private var decompressor: Decompressor?
    private var charsetDecoder: CharsetDecoder
    /// Decoded text held for the sniffer, and the offsets in it of bytes that could not be decoded.
    private var sample: [UInt8] = []
    private var sampleInvalid: [(offset: Int, byte: UInt8, charset: CSVCharset)] = []
    private var sampleLineBreaks = 0
    /// The sample never grows past this, even when its lines are longer.
    static let maxSampleBytes = 8 << 20
    private var parser: ParserBox?
    private var cleaner: RecordCleaner?
    private var headerPending = true
    private var finished = false
    private var padding = NULPadding()
    /// The first record refused, for a file in which no record could be read at all.
    private var firstRefusal: String?

    final class ParserBox {
        var parser: CSVParser
        init(_ parser: consuming CSVParser) { self.parser = parser }
    }

    public init(options: CSVReadOptions = CSVReadOptions()) throws(CSVReadError) {
        self.options = options
        charsetDecoder = CharsetDecoder(options.encoding)
        if let contract = options.contract {
            do { try contract.validate() } catch { throw CSVReadError(.contract, error.description) }
        }
        // The parser traps on an impossible dialect: refuse it here, with its reason.
        let o = options.dialect
        let probe = CSVDialect(
            delimiter: o.delimiter ?? UInt8(ascii: ","), quote: o.quote ?? UInt8(ascii: "\""), escape: o.escape ?? nil,
            comment: o.comment ?? nil, skipRows: o.skipRows ?? 0)
        if let reason = probe.invalidReason { throw CSVReadError(.contract, "dialect: \(reason)") }
        if options.dialect.isComplete { startParser(dialect: nil) }
    }

    /// The output columns, once the header has been read.
    public var columns: [String]? { cleaner?.columns }

    public func consume(_ chunk: [UInt8], _ sink: (CSVReadEvent) throws -> Void) throws {
        try chunk.withUnsafeBytes { try consume($0, sink) }
    }

    /// Reads one chunk of the file as stored (compressed or not), calling `sink` for what it completes.
    public func consume(_ chunk: UnsafeRawBufferPointer, _ sink: (CSVReadEvent) throws -> Void) throws {
        precondition(!finished, "CSVReader used after finish")
        guard chunk.count > 0 else { return }
        summary.compressedBytes += Int64(chunk.count)
        if !compressionDecided {
            // Two bytes decide; a first chunk of one byte waits for the next.
            if pendingMagic.count + chunk.count < 2 {
                pendingMagic += chunk
                return
            }
            var head = pendingMagic
            head += chunk.prefix(2 - head.count)
            let format = head.withUnsafeBytes { CSVCompression.detect($0) }
            summary.compression = format
            compressionDecided = true
            if format != .none { decompressor = Decompressor(format: format, limits: options.decompression) }
            if !pendingMagic.isEmpty {
                let pending = pendingMagic
                pendingMagic = []
                try pending.withUnsafeBytes { try inflate($0, sink) }
            }
        }
        try inflate(chunk, sink)
    }

    /// Ends the file: flushes what is held, reads the last record, checks the compressed stream ended
    /// properly. Returns the totals.
    @discardableResult
    public func finish(_ sink: (CSVReadEvent) throws -> Void) throws -> CSVReadSummary {
        precondition(!finished, "CSVReader finished twice")
        if !compressionDecided && !pendingMagic.isEmpty {
            compressionDecided = true
            let pending = pendingMagic
            try pending.withUnsafeBytes { try decode($0, sink) }
        }
        if let decompressor {
            do { try decompressor.finish() } catch { throw CSVReadError(.compression, error.description) }
        }
        try charsetDecoder.finish { out in try self.text(out, sink) }
        padding.finish()
        if parser == nil { try startParser(sniffing: true, isWholeFile: true, sink) }
        if let box = parser {
            let stats = try box.parser.finish { event in try self.handle(event, sink) }
            summary.blankLines = stats.blankLineCount
        }
        finished = true
        summary.charset = charsetDecoder.charset == .auto ? .utf8 : charsetDecoder.charset
        if headerPending {
            if let firstRefusal {
                throw CSVReadError(.unreadable, "no row of the file could be read: \(firstRefusal)")
            }
            throw CSVReadError(
                .empty,
                "the file is empty\(summary.bytes > 0 ? " (only blank lines)" : ""): expected \(summary.hasHeader ? "a header row and " : "")data rows"
            )
        }
        return summary
    }

    // MARK: Stages

    private func inflate(_ bytes: UnsafeRawBufferPointer, _ sink: (CSVReadEvent) throws -> Void) throws {
        guard let decompressor else { return try decode(bytes, sink) }
        do {
            try decompressor.decompress(bytes) { piece in try self.decode(piece, sink) }
        } catch let e as DecompressionError {
            throw CSVReadError(e.isLimit ? .tooLarge : .compression, e.description)
        }
    }

    private func decode(_ bytes: UnsafeRawBufferPointer, _ sink: (CSVReadEvent) throws -> Void) throws {
        summary.bytes += Int64(bytes.count)
        try charsetDecoder.decode(bytes) { out in try self.text(out, sink) }
    }

    private func text(_ out: CharsetDecoder.Output, _ sink: (CSVReadEvent) throws -> Void) throws {
        switch out {
        case .text(let piece):
            try padding.filter(piece) { try self.unpadded(.text($0), sink) }
        case .invalid:
            try padding.flush { try self.unpadded(.text($0), sink) }
            try unpadded(out, sink)
        }
    }

    private func unpadded(_ out: CharsetDecoder.Output, _ sink: (CSVReadEvent) throws -> Void) throws {
        if let box = parser {
            switch out {
            case .text(let piece): try feed(box, piece, sink)
            case .invalid(let byte, let charset):
                box.parser.refuseCurrentRecord(invalidByte: byte, charset: charset.rawValue)
            }
            return
        }
        switch out {
        case .text(let piece):
            sample += piece
            if sampleLineBreaks < 3 { sampleLineBreaks += piece.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
        case .invalid(let byte, let charset): sampleInvalid.append((sample.count, byte, charset))
        }
        // A few whole lines at least, however small `sniffBytes` is; a line longer than the hard cap
        // is the parser's to refuse.
        if (sample.count >= options.sniffBytes && sampleLineBreaks >= 3)
            || sample.count >= max(options.sniffBytes, Self.maxSampleBytes)
        {
            try startParser(sniffing: true, isWholeFile: false, sink)
        }
    }

    /// Parses decoded text. Records after the header go straight to the cleaner held in a local, with
    /// counts kept in locals too: per record this touches no property of the reader (each would cost a
    /// dynamic exclusivity check).
    private func feed(_ box: ParserBox, _ piece: UnsafeRawBufferPointer, _ sink: (CSVReadEvent) throws -> Void) throws {
        // Unretained: `self.cleaner` keeps it alive, and once set it is never replaced, so the per-record
        // path need not retain and release it.
        var cleaner = self.cleaner.map { Unmanaged.passUnretained($0) }
        var rows = 0
        var empty = 0
        var duplicates = 0
        defer {
            summary.rows += rows
            summary.emptyRows += empty
            summary.duplicates += duplicates
        }
        try box.parser.consume(piece) { event in
            guard let current = cleaner, case .record(let record) = event else {
                try self.handle(event, sink)
                cleaner = self.cleaner.map { Unmanaged.passUnretained($0) }
                return
            }
            switch try current._withUnsafeGuaranteedRef({ try $0.clean(record) }) {
            case .row(let values):
                rows += 1
                try sink(.row(values))
            case .emptyRow:
                empty += 1
            case .duplicate:
                duplicates += 1
            case .rejected(let reason):
                try self.reject(record, reason, sink)
            }
        }
    }

    private func reject(_ record: CSVRecord, _ reason: String, _ sink: (CSVReadEvent) throws -> Void) throws {
        summary.rejected += 1
        let raw =
            record.raw.count > options.limits.maxRejectedRawBytes
            ? String(decoding: record.raw.prefix(options.limits.maxRejectedRawBytes), as: UTF8.self) + "…"
            : String(decoding: record.raw, as: UTF8.self)
        try sink(.rejected(RejectedRow(line: record.line, endLine: record.endLine, raw: raw, reason: reason)))
    }

    /// Sniffs the sample (unless the route fixed everything), starts the parser and feeds it the sample.
    private func startParser(sniffing: Bool, isWholeFile: Bool, _ sink: (CSVReadEvent) throws -> Void) throws {
        let sniffed = sample.withUnsafeBytes {
            DialectSniffer.sniff($0, isWholeFile: isWholeFile, overrides: options.dialect)
        }
        startParser(dialect: sniffed)
        let held = sample
        let invalid = sampleInvalid
        sample = []
        sampleInvalid = []
        guard let box = parser else { return }
        try held.withUnsafeBytes { all in
            var start = 0
            for (offset, byte, charset) in invalid {
                try feed(box, UnsafeRawBufferPointer(rebasing: all[start..<offset]), sink)
                box.parser.refuseCurrentRecord(invalidByte: byte, charset: charset.rawValue)
                start = offset
            }
            try feed(box, UnsafeRawBufferPointer(rebasing: all[start...]), sink)
        }
    }

    private func startParser(dialect sniffed: SniffedDialect?) {
        let o = options.dialect
        var dialect =
            sniffed?.dialect
            ?? CSVDialect(
                delimiter: o.delimiter ?? UInt8(ascii: ","), quote: o.quote ?? UInt8(ascii: "\""),
                escape: o.escape ?? nil, bareQuote: o.bareQuote ?? .refuseRecord,
                comment: o.comment ?? nil, skipRows: o.skipRows ?? 0)
        if let bare = o.bareQuote { dialect.bareQuote = bare }
        summary.dialect = dialect
        summary.hasHeader = sniffed?.hasHeader ?? o.header ?? true
        parser = ParserBox(CSVParser(dialect: dialect, limits: options.limits))
    }

    /// "line 1 is longer than the 4 MiB row limit", for a record refused for its size; nil otherwise.
    static func sizeText(_ bad: MalformedRecord) -> String? {
        switch bad.reason {
        case .recordTooLarge, .fieldTooLarge: "line \(bad.line) is longer than \(bad.reason.limitText)"
        case .tooManyFields(let limit): "line \(bad.line) has more than \(limit) fields"
        default: nil
        }
    }

    private func handle(_ event: CSVEvent, _ sink: (CSVReadEvent) throws -> Void) throws {
        switch event {
        case .malformed(let bad):
            if headerPending && summary.hasHeader {
                if let size = Self.sizeText(bad) {
                    // Often a file that is not CSV at all, or one whose quote is never closed.
                    throw CSVReadError(
                        .badHeader,
                        "\(size), so the header cannot be read: is the file CSV with line breaks, and is every quote closed?"
                    )
                }
                throw CSVReadError(.badHeader, "the header row (line \(bad.line)) cannot be read: \(bad.reason)")
            }
            if headerPending && firstRefusal == nil {
                firstRefusal = Self.sizeText(bad) ?? "line \(bad.line): \(bad.reason)"
            }
            summary.rejected += 1
            try sink(
                .rejected(
                    RejectedRow(line: bad.line, endLine: bad.endLine, raw: bad.rawText, reason: bad.reason.description))
            )
        case .record(let record):
            if headerPending {
                headerPending = false
                let header = summary.hasHeader ? record.strings : nil
                cleaner = try RecordCleaner(
                    contract: options.contract, header: header, fieldCount: record.count,
                    headerCollisions: options.headerCollisions, destination: options.destination,
                    extraColumns: options.extraColumns)
                summary.columns = cleaner!.columns
                try sink(.columns(cleaner!.columns))
                if header != nil { return }
            }
            switch try cleaner!.clean(record) {
            case .row(let values):
                summary.rows += 1
                try sink(.row(values))
            case .emptyRow:
                summary.emptyRows += 1
            case .duplicate:
                summary.duplicates += 1
            case .rejected(let reason):
                try reject(record, reason, sink)
            }
        }
    }
}
