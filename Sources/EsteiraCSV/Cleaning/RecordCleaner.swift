/// A cleaned row: one canonical value per output column, as the bytes MySQL parses (`1234.5`,
/// `2026-11-02`, `2026-11-03 01:30:00`, `1`), nil for NULL. A borrowed view into the cleaner's buffer,
/// valid only until the next record is cleaned; `strings` copies it out.
public struct TypedRow: RandomAccessCollection {
    @usableFromInline let base: UnsafeRawPointer?
    /// (start, length) per column; length -1 is NULL.
    @usableFromInline let spans: UnsafePointer<(Int32, Int32)>
    public let endIndex: Int
    public var startIndex: Int { 0 }

    @inlinable public subscript(index: Int) -> UnsafeRawBufferPointer? {
        precondition(index >= 0 && index < endIndex, "TypedRow index out of range")
        let (start, length) = spans[index]
        if length < 0 { return nil }
        return UnsafeRawBufferPointer(start: base.map { $0 + Int(start) }, count: Int(length))
    }

    public func string(at index: Int) -> String? {
        self[index].map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every value as a String (nil for NULL), the shape `FileLoad.append` takes.
    public var strings: [String?] {
        var out: [String?] = []
        out.reserveCapacity(endIndex)
        for i in 0..<endIndex { out.append(string(at: i)) }
        return out
    }
}

/// What became of one parsed record.
public enum CleanedRecord {
    /// The row to load.
    case row(TypedRow)
    /// Every field empty: skipped, not an error.
    case emptyRow
    /// Its key repeats an earlier row's: dropped, the first occurrence is kept.
    case duplicate
    /// Refused, with the reason to write beside it in the rejects file.
    case rejected(reason: String)
}

/// Turns parsed records into typed rows under a contract: matches the header to the contract's columns,
/// trims, recognises null tokens, converts every value, refuses rows that miss a required value or
/// cannot be typed, drops empty rows and repeated keys.
///
/// Without a contract every header column is loaded as text, an empty unquoted field as NULL.
///
/// One cleaner per file: it remembers the file's keys. A class so that cleaning a row never copies (and
/// retains) the cleaner's tables.
public final class RecordCleaner {
    /// The table columns each row has values for, in order.
    public let columns: [String]
    /// Fields a row of this file has (the header's count).
    public let fieldCount: Int
    private let converters: ContiguousArray<ColumnConverter>
    /// For each output column, the file field it comes from.
    private let sources: ContiguousArray<Int>
    private let keyColumns: [Int]
    private let dropEmptyRows: Bool
    private let deduplicator: KeyDeduplicator?
    private let whenFull: DedupeSettings.WhenFull
    /// The current row's canonical values, back to back, and where each lies.
    /// Allocated last in `init`, after everything that can throw: a class whose init throws never runs
    /// its deinit, so memory taken earlier would leak (the fuzzer found this).
    private var values: RowBytes
    /// The converters as unretained references: reading a class reference out of an array retains and
    /// releases it, twice per field, for nothing (the array keeps them alive).
    private let unretained: UnsafeMutableBufferPointer<Unmanaged<ColumnConverter>>
    /// `sources` as raw memory, read once per value without a bounds check (each is below `fieldCount`,
    /// which `clean` checks against the record first).
    private let sourceFields: UnsafeMutablePointer<Int>
    /// Each converter's `fast` part, side by side: the per-value fast path reads these without a call
    /// through a class reference. The token memory they point to belongs to the converters.
    private let fastPaths: UnsafeMutablePointer<FastConversion>
    private let spans: UnsafeMutablePointer<(Int32, Int32)>

    /// - Parameters:
    ///   - contract: the route's contract, or nil to load every column as text.
    ///   - header: the file's header names as written, or nil when the file has none (fields are then
    ///     taken in the contract's order).
    ///   - fieldCount: fields per row (the header's count, or the first row's when there is no header).
    ///   - destination: the table's columns, when known: every column loaded must be one of them.
    ///   - extraColumns: without a contract, `ignore` leaves out header columns `destination` lacks.
    public init(
        contract: CSVContract?, header: [String]?, fieldCount: Int,
        headerCollisions: HeaderNormalizer.CollisionPolicy = .rename, destination: DestinationColumns? = nil,
        extraColumns: CSVContract.ExtraColumns = .refuse
    ) throws(CSVReadError) {
        // A header that ends with a delimiter has an empty last name and nothing under it.
        var header = header
        var fieldCount = fieldCount
        if let names = header, names.count > 1, names.last!.trimmingSpaces.isEmpty {
            header = Array(names.dropLast())
            fieldCount -= 1
        }
        self.fieldCount = fieldCount
        let normalised = try header.map { (names) throws(CSVReadError) in
            try HeaderNormalizer.normalize(names, collisions: headerCollisions)
        }
        let compiled: CompiledContract
        // Without a contract or header: the file field each loaded column comes from.
        var openPositions: [Int] = []
        if let contract {
            do { compiled = try CompiledContract(contract) } catch { throw CSVReadError(.contract, error.description) }
        } else {
            var names = normalised ?? (0..<fieldCount).map { "column_\($0 + 1)" }
            var open = CSVContract(columns: [])
            open.extraColumns = .refuse
            openPositions = Array(names.indices)
            if let destination {
                let absent = names.filter { !destination.contains($0) }
                if !absent.isEmpty && extraColumns == .refuse || absent.count == names.count {
                    throw CSVReadError(
                        .badHeader,
                        destination.missing(
                            absent,
                            what: normalised == nil
                                ? "the file has no header, so its columns are named by position; its" : "the file's",
                            fix:
                                "add \(absent.count == 1 ? "it" : "them") to the table, map \(absent.count == 1 ? "it" : "them") with `source:` in the contract, or set `extra_columns: ignore`"
                        )
                            + ". " + destination.diff(fileColumns: names, rawHeader: header))
                }
                // `extra_columns: ignore`: load the columns the table has, leave out the rest.
                openPositions = names.indices.filter { destination.contains(names[$0]) }
                names = openPositions.map { names[$0] }
                open.extraColumns = .ignore
            }
            open.columns = names.map { ColumnContract(name: $0, type: "text") }
            open.nullTokens = [""]
            open.trim = false
            // The names are HeaderNormalizer's identifiers, which always compile; should one not, the
            // file is refused rather than the process stopped.
            do { compiled = try CompiledContract(open) } catch {
                throw CSVReadError(.badHeader, "the header cannot be used as column names: \(error.description)")
            }
        }
        var converters: [ColumnConverter] = []
        var sources: [Int] = []
        if let normalised {
            var fileIndex: [String: Int] = [:]
            for (i, name) in normalised.enumerated() where fileIndex[name] == nil { fileIndex[name] = i }
            var used = Set<Int>()
            for (c, converter) in compiled.converters.enumerated() {
                let wanted =
                    contract?.columns[c].source.map { HeaderNormalizer.identifier($0, position: c) } ?? converter.name
                if let i = fileIndex[wanted] ?? fileIndex[converter.name] {
                    converters.append(converter)
                    sources.append(i)
                    used.insert(i)
                } else if converter.required {
                    throw CSVReadError(
                        .badHeader,
                        "the file has no column '\(wanted)', which the contract requires (header: \(normalised.prefix(40).joined(separator: ", "))); fix the export or the route's contract"
                    )
                }
                // A missing optional column is not loaded: the table's default fills it.
            }
            let extra = normalised.indices.filter { !used.contains($0) }
            if !extra.isEmpty && compiled.contract.extraColumns == .refuse {
                let names = extra.prefix(10).map { "'\(normalised[$0])'" }.joined(separator: ", ")
                throw CSVReadError(
                    .badHeader,
                    "the file has columns the contract does not name: \(names); add them to the contract, or set extra_columns: ignore"
                )
            }
            guard !converters.isEmpty else {
                throw CSVReadError(
                    .badHeader,
                    "no column of the file matches the contract (header: \(normalised.prefix(20).joined(separator: ", ")))"
                )
            }
        } else {
            guard compiled.converters.count <= fieldCount || contract == nil else {
                throw CSVReadError(
                    .badHeader,
                    "rows have \(fieldCount) fields but the contract lists \(compiled.converters.count) columns, and the file has no header to match them by name"
                )
            }
            converters = compiled.converters
            sources = contract == nil ? openPositions : Array(converters.indices)
        }
        if let destination, contract != nil {
            let absent = converters.map(\.name).filter { !destination.contains($0) }
            if !absent.isEmpty {
                throw CSVReadError(
                    .badHeader,
                    destination.missing(
                        absent, what: "the contract's",
                        fix:
                            "add \(absent.count == 1 ? "it" : "them") to the table, or take \(absent.count == 1 ? "it" : "them") out of the contract"
                    ))
            }
        }
        self.converters = ContiguousArray(converters)
        self.sources = ContiguousArray(sources)
        columns = converters.map(\.name)
        keyColumns = compiled.keyIndexes.compactMap { key in
            converters.firstIndex { $0.name == compiled.converters[key].name }
        }
        if keyColumns.count != compiled.keyIndexes.count {
            throw CSVReadError(
                .badHeader,
                "the file lacks a key column (\(compiled.contract.key.joined(separator: ", "))); rows could not be deduplicated"
            )
        }
        dropEmptyRows = compiled.contract.dropEmptyRows
        let dedupe = compiled.contract.dedupe
        deduplicator = dedupe.enabled && !keyColumns.isEmpty ? KeyDeduplicator(settings: dedupe) : nil
        whenFull = dedupe.whenFull
        spans = .allocate(capacity: max(1, converters.count))
        values = RowBytes(capacity: 4096)
        unretained = .allocate(capacity: converters.count)
        _ = unretained.initialize(from: converters.map { Unmanaged.passUnretained($0) })
        sourceFields = .allocate(capacity: max(1, sources.count))
        sourceFields.initialize(from: sources, count: sources.count)
        fastPaths = .allocate(capacity: max(1, converters.count))
        fastPaths.initialize(from: converters.map(\.fast), count: converters.count)
    }

    deinit {
        spans.deallocate()
        unretained.deallocate()
        sourceFields.deallocate()
        fastPaths.deallocate()
        values.deallocate()
    }

    /// Keys currently remembered for deduplication, and the bytes that costs.
    public var dedupeKeys: (count: Int, bytes: Int) {
        guard let d = deduplicator else { return (0, 0) }
        return (d.count, d.memoryBytes)
    }

    /// Cleans one record. Throws only when the deduplication table is full and the contract says fail.
    public func clean(_ record: CSVRecord) throws(CSVReadError) -> CleanedRecord {
        var n = record.count
        // A trailing delimiter: one extra, empty, unquoted field.
        if n == fieldCount + 1 && record[n - 1].isEmpty && !record.isQuoted(n - 1) { n -= 1 }
        if dropEmptyRows && Self.mayBeEmpty(record, n) && Self.isEmpty(record, n) { return .emptyRow }
        guard n == fieldCount else {
            return .rejected(reason: "row has \(n) fields, the header has \(fieldCount)")
        }
        var out = values
        out.removeAll()
        defer { values = out }
        let sourceFields = sourceFields
        let fastPaths = fastPaths
        let spans = spans
        for c in 0..<unretained.count {
            let i = sourceFields[c]
            let start = out.count
            let (field, quoted) = record.uncheckedField(i)
            switch fastPaths[c].convert(field, quoted: quoted, into: &out) {
            case .value:
                spans[c] = (Int32(truncatingIfNeeded: start), Int32(truncatingIfNeeded: out.count &- start))
                continue
            case .null:
                if fastPaths[c].required {
                    return .rejected(reason: "column '\(converters[c].name)' (field \(i + 1)) is required but empty")
                }
                spans[c] = (0, -1)
                continue
            case .slow:
                break
            }
            let outcome = unretained[c]._withUnsafeGuaranteedRef { $0.convert(field, quoted: quoted, into: &out) }
            switch outcome {
            case .value:
                spans[c] = (Int32(truncatingIfNeeded: start), Int32(truncatingIfNeeded: out.count - start))
            case .null:
                if unretained[c]._withUnsafeGuaranteedRef({ $0.required }) {
                    return .rejected(reason: "column '\(converters[c].name)' (field \(i + 1)) is required but empty")
                }
                spans[c] = (0, -1)
            case .invalid(let why):
                return .rejected(reason: "column '\(converters[c].name)' (field \(i + 1)): \(why)")
            }
        }
        let row = TypedRow(base: UnsafeRawPointer(out.base), spans: spans, endIndex: converters.count)
        if let deduplicator {
            var hasher = deduplicator.hasher()
            for k in keyColumns { hasher.combine(row[k]) }
            switch deduplicator.insert(hasher.finalize()) {
            case .new: break
            case .duplicate: return .duplicate
            case .full:
                if whenFull == .fail {
                    let why = deduplicator.fullReason ?? "its keys could not be deduplicated"
                    throw CSVReadError(
                        .dedupeFull,
                        "\(why); raise the limit on the route's dedupe settings, or set dedupe.when_full: pass and let the table's primary key catch duplicates (load_mode insert-ignore or upsert)"
                    )
                }
            }
        }
        return .row(row)
    }

    /// False when the first field starts with a byte that is not blank: one test settles most rows.
    @inline(__always)
    private static func mayBeEmpty(_ record: CSVRecord, _ n: Int) -> Bool {
        guard n > 0 else { return true }
        let first = record.uncheckedField(0).bytes
        return first.isEmpty || first[0] <= 0x20 || first[0] == 0xC2
    }

    private static func isEmpty(_ record: CSVRecord, _ n: Int) -> Bool {
        for i in 0..<n where !ColumnConverter.trimmed(record[i]).isEmpty || record.isQuoted(i) { return false }
        return true
    }
}

extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
