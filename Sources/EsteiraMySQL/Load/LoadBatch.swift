/// Rows for one ``FileLoad/append(_:)-(LoadBatch)``, escaped into statement bytes as they are added: a
/// caller that holds each field as bytes (a CSV engine's borrowed row) never builds a String per field.
///
/// Get one from ``FileLoad/makeBatch()``: it is encoded for the path the load is on — LOAD DATA text
/// (``LoadDataFormat``), or complete multi-row INSERT statements under the load's statement limit on the
/// fallback. Before the load exists, ``init(columnCount:)`` makes a batch in LOAD DATA text; a load on the
/// fallback converts it when it is appended (as it converts batches encoded before the server turned
/// `local_infile` off mid-load). The text is lossless, so the conversion is exact.
///
/// Add rows with ``append(row:)`` (any collection of optional byte buffers, nil for NULL — the bytes are
/// copied at once, so a borrowed view is fine), ``append(_:)`` (Strings), or field by field with
/// ``appendField(_:)`` and ``endRow()``. Every byte value 0–255 is escaped exactly; the bytes should be
/// UTF-8 (the load's character set is utf8mb4).
///
/// A value type: copies are independent (copy-on-write), and it is `Sendable`, so it can be built on one
/// task and loaded from another.
public struct LoadBatch: Sendable {
    /// Values per row.
    public let columnCount: Int
    /// Complete rows in the batch.
    public private(set) var count = 0
    /// The row number (0-based, within the load) of the first row, for error messages.
    var firstRowNumber: Int
    /// INSERT statement layout on the fallback; nil for LOAD DATA text.
    let insert: InsertLayout?
    /// `insert != nil`, and the parts of it every row needs, stored apart so the hot path copies (and
    /// retains) nothing.
    private let isInsert: Bool
    private let tupleTail: [UInt8]
    private let statementTail: [UInt8]
    private let fixedBytes: Int
    private let maxStatementBytes: Int

    /// The encoded bytes are `buffer[0..<used]`. The array is kept as long as its capacity (zero-filled),
    /// so fields are escaped in place through a pointer rather than appended byte by byte.
    private var buffer: [UInt8]
    private var used = 0
    /// Fields of the row being added.
    private var fieldsInRow = 0
    /// Where the row being added starts (its separating comma, on the INSERT path).
    private var rowStart = 0
    /// Where the row's tuple starts: its `(` (INSERT path).
    private var tupleStart = 0
    /// Rows in the statement being built (INSERT path).
    private var rowsInStatement = 0
    /// Earlier INSERT statements of this batch, complete.
    private var statements: [[UInt8]] = []
    private var statementRows: [Int] = []

    /// A batch of LOAD DATA text for a load with `columnCount` columns, made before the load exists.
    public init(columnCount: Int) {
        self.init(columnCount: columnCount, insert: nil, firstRowNumber: 0, capacity: 0)
    }

    init(columnCount: Int, insert: InsertLayout?, firstRowNumber: Int, capacity: Int) {
        self.columnCount = columnCount
        self.insert = insert
        self.isInsert = insert != nil
        self.tupleTail = insert?.tupleTail ?? []
        self.statementTail = insert?.statementTail ?? []
        self.fixedBytes = (insert?.prefix.count ?? 0) + (insert?.statementTail.count ?? 0)
        self.maxStatementBytes = insert?.maxStatementBytes ?? Int.max
        self.firstRowNumber = firstRowNumber
        self.buffer = [UInt8](repeating: 0, count: max(capacity, 256))
        if let insert { startStatement(insert) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Bytes encoded so far (statement text), a measure of what the batch will cost to send.
    public var byteCount: Int { statements.reduce(used) { $0 + $1.count } }

    /// Whether the batch is LOAD DATA text (else INSERT statements).
    var isLoadData: Bool { !isInsert }

    // MARK: Adding rows

    /// Adds one row: `row` yields one value per column, nil for NULL.
    @inlinable
    public mutating func append<Row: Sequence>(row: Row) throws(MySQLError)
    where Row.Element == UnsafeRawBufferPointer? {
        for value in row { appendField(value) }
        try endRow()
    }

    /// Adds one row of Strings (nil for NULL).
    public mutating func append(_ row: [String?]) throws(MySQLError) {
        for value in row {
            guard var value else {
                appendField(nil)
                continue
            }
            value.withUTF8 { appendField(UnsafeRawBufferPointer($0)) }
        }
        try endRow()
    }

    /// Adds the next value of the current row (nil for NULL). The bytes are escaped and copied now.
    public mutating func appendField(_ value: UnsafeRawBufferPointer?) {
        let length = value?.count ?? 0
        // Room for the worst case (every byte escaped) plus separator, quotes, and the row's opening comma
        // and `(`. A large value is measured exactly instead: the buffer is zero-filled, so room reserved
        // is resident, and wide rows would otherwise double a batch's buffer for room they never use.
        if let value, length > BatchEscaping.measureAbove {
            ensure(
                BatchEscaping.escapedLength(value, table: isInsert ? BatchEscaping.sqlLiteral : BatchEscaping.loadData)
                    + 8)
        } else {
            ensure(2 * length + 8)
        }
        let isFirst = fieldsInRow == 0
        if isFirst { rowStart = used }
        let isInsert = self.isInsert
        let rowsInStatement = self.rowsInStatement
        var tupleStart = self.tupleStart
        var used = self.used
        buffer.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            if isInsert {
                if isFirst {
                    if rowsInStatement > 0 {
                        out[used] = UInt8(ascii: ",")
                        used += 1
                    }
                    tupleStart = used
                    out[used] = UInt8(ascii: "(")
                    used += 1
                } else {
                    out[used] = UInt8(ascii: ",")
                    used += 1
                }
                if let value {
                    out[used] = UInt8(ascii: "'")
                    used += 1
                    used = BatchEscaping.escape(value, table: BatchEscaping.sqlLiteral, into: out, at: used)
                    out[used] = UInt8(ascii: "'")
                    used += 1
                } else {
                    out[used] = UInt8(ascii: "N")
                    out[used + 1] = UInt8(ascii: "U")
                    out[used + 2] = UInt8(ascii: "L")
                    out[used + 3] = UInt8(ascii: "L")
                    used += 4
                }
            } else {
                if !isFirst {
                    out[used] = UInt8(ascii: "\t")
                    used += 1
                }
                if let value {
                    used = BatchEscaping.escape(value, table: BatchEscaping.loadData, into: out, at: used)
                } else {
                    out[used] = UInt8(ascii: "\\")
                    out[used + 1] = UInt8(ascii: "N")
                    used += 2
                }
            }
        }
        self.used = used
        self.tupleStart = tupleStart
        fieldsInRow += 1
    }

    /// Ends the current row. Throws, and drops the row, if it has the wrong number of values or (on the
    /// INSERT path) could not fit in any statement under the limit.
    public mutating func endRow() throws(MySQLError) {
        let rowNumber = firstRowNumber + count
        guard fieldsInRow == columnCount, columnCount > 0 else {
            let fields = fieldsInRow
            dropRow()
            throw MySQLError(
                code: .invalidRow,
                message: "row \(rowNumber) has \(fields) fields; the load has \(columnCount) columns",
                operation: insert.map { "file load: insert into \($0.table)" } ?? "file load")
        }
        if isInsert {
            do throws(MySQLError) {
                try endTuple(rowNumber: rowNumber)
            } catch {
                fieldsInRow = 0
                throw error
            }
        } else {
            ensure(1)
            buffer[used] = UInt8(ascii: "\n")
            used += 1
        }
        fieldsInRow = 0
        count += 1
    }

    private mutating func dropRow() {
        if fieldsInRow > 0 { used = rowStart }
        fieldsInRow = 0
        if isInsert { stageTail() }
    }

    /// Whether a row was started with ``appendField(_:)`` and not ended.
    public var hasUnfinishedRow: Bool { fieldsInRow > 0 }

    // MARK: INSERT statements

    private mutating func startStatement(_ insert: InsertLayout) {
        used = 0
        rowsInStatement = 0
        write(insert.prefix)
        stageTail()
    }

    /// Keeps the statement's tail written just past the rows, so `[0..<used + tail]` is always a complete
    /// statement: sending never has to modify (and so copy) the buffer.
    private mutating func stageTail() {
        guard !statementTail.isEmpty else { return }
        ensure(statementTail.count)
        let at = used
        buffer.withUnsafeMutableBufferPointer { out in
            statementTail.withUnsafeBufferPointer { tail in
                (out.baseAddress! + at).update(from: tail.baseAddress!, count: tail.count)
            }
        }
    }

    private mutating func endTuple(rowNumber: Int) throws(MySQLError) {
        write(tupleTail)
        ensure(1)
        buffer[used] = UInt8(ascii: ")")
        used += 1
        let tupleBytes = used - tupleStart
        guard fixedBytes + tupleBytes <= maxStatementBytes else {
            used = rowStart
            stageTail()
            throw MySQLError(
                code: .rowTooLarge,
                message:
                    "row \(rowNumber) needs \(fixedBytes + tupleBytes) bytes of SQL; the limit is \(maxStatementBytes) (max_allowed_packet)",
                operation: "file load: insert into \(insert?.table ?? "")")
        }
        if rowsInStatement > 0 && used + statementTail.count > maxStatementBytes, let insert {
            // The row does not fit: the statement ends before it, and the row starts the next one.
            let tuple = Array(buffer[tupleStart..<used])
            statements.append(Array(buffer[0..<rowStart]) + statementTail)
            statementRows.append(rowsInStatement)
            startStatement(insert)
            write(tuple)
        }
        rowsInStatement += 1
        stageTail()
    }

    /// The complete INSERT statements, in order (INSERT path only).
    /// `body(statement, rows in it)`.
    func forEachStatement(_ body: (UnsafeBufferPointer<UInt8>, Int) throws(MySQLError) -> Void) throws(MySQLError) {
        guard isInsert else { return }
        for (statement, rows) in zip(statements, statementRows) {
            try statement.withUnsafeBufferPointer { (bytes) throws(MySQLError) in try body(bytes, rows) }
        }
        guard rowsInStatement > 0 else { return }
        let length = used + statementTail.count
        try buffer.withUnsafeBufferPointer { (bytes) throws(MySQLError) in
            try body(UnsafeBufferPointer(rebasing: bytes[0..<length]), rowsInStatement)
        }
    }

    /// The LOAD DATA text (LOAD DATA batches only).
    func withLoadDataText<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<used])) }
    }

    // MARK: Converting LOAD DATA text to INSERTs

    /// The same rows as INSERT statements with `layout`: for a LOAD DATA batch on a load that is (or has
    /// fallen back) on the INSERT path. Decodes exactly what ``appendField(_:)`` encodes.
    func converted(to layout: InsertLayout) throws(MySQLError) -> LoadBatch {
        precondition(insert == nil, "only LOAD DATA text is converted")
        var out = LoadBatch(
            columnCount: columnCount, insert: layout, firstRowNumber: firstRowNumber,
            capacity: used + used / 4 + 64)
        var field: [UInt8] = []
        var isNull = false
        var result: Result<Void, MySQLError> = .success(())
        func endField(_ out: inout LoadBatch) {
            if isNull && field.isEmpty {
                out.appendField(nil)
            } else {
                field.withUnsafeBytes { out.appendField($0) }
            }
            field.removeAll(keepingCapacity: true)
            isNull = false
        }
        withLoadDataText { text in
            var index = 0
            while index < text.count {
                let byte = text[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\t"):
                    endField(&out)
                case UInt8(ascii: "\n"):
                    endField(&out)
                    do throws(MySQLError) { try out.endRow() } catch {
                        result = .failure(error)
                        return
                    }
                case UInt8(ascii: "\\"):
                    let next = index < text.count ? text[index] : 0
                    index += 1
                    switch next {
                    case UInt8(ascii: "N") where field.isEmpty: isNull = true
                    case UInt8(ascii: "t"): field.append(0x09)
                    case UInt8(ascii: "n"): field.append(0x0A)
                    case UInt8(ascii: "r"): field.append(0x0D)
                    case UInt8(ascii: "0"): field.append(0x00)
                    default: field.append(next)  // `\\`
                    }
                default:
                    field.append(byte)
                }
            }
        }
        try result.get()
        return out
    }

    // MARK: The buffer

    private mutating func ensure(_ extra: Int) {
        let needed = used + extra
        guard needed > buffer.count else { return }
        buffer.append(contentsOf: repeatElement(0, count: max(needed, 2 * buffer.count) - buffer.count))
    }

    private mutating func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        ensure(bytes.count)
        let at = used
        buffer.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { source in
                (out.baseAddress! + at).update(from: source.baseAddress!, count: source.count)
            }
        }
        used += bytes.count
    }
}

/// What every INSERT statement of a load looks like around its rows.
struct InsertLayout: Sendable, Equatable {
    /// `INSERT INTO t (cols) VALUES `
    let prefix: [UInt8]
    /// Inside every tuple after the row's values (a constant column such as a source id).
    let tupleTail: [UInt8]
    /// After the last tuple (` ON DUPLICATE KEY UPDATE …`).
    let statementTail: [UInt8]
    let maxStatementBytes: Int
    /// The table, quoted, for messages.
    let table: String
}

/// The byte-wise escaping of both paths, on raw memory (the hot loop of a load).
enum BatchEscaping {
    /// For each byte, 0 if it stands for itself, else the character that follows a backslash.
    typealias Table = [UInt8]

    /// LOAD DATA with `ESCAPED BY '\\'` and tab/newline separators (``LoadDataFormat``).
    static let loadData: Table = table([
        0x5C: 0x5C, 0x09: UInt8(ascii: "t"), 0x0A: UInt8(ascii: "n"),
        0x0D: UInt8(ascii: "r"), 0x00: UInt8(ascii: "0"),
    ])
    /// SQL string literals, as `mysql_real_escape_string` for utf8mb4 (``MySQLEscaping``).
    static let sqlLiteral: Table = table([
        0x00: UInt8(ascii: "0"), 0x0A: UInt8(ascii: "n"), 0x0D: UInt8(ascii: "r"),
        0x1A: UInt8(ascii: "Z"), 0x5C: 0x5C, 0x27: 0x27, 0x22: 0x22,
    ])

    private static func table(_ escapes: [UInt8: UInt8]) -> Table {
        var table = [UInt8](repeating: 0, count: 256)
        for (byte, escaped) in escapes { table[Int(byte)] = escaped }
        return table
    }

    /// Values longer than this are measured (``escapedLength(_:table:)``) before room is made for them.
    static let measureAbove = 64 << 10

    /// The length of `value` once escaped with `table`.
    static func escapedLength(_ value: UnsafeRawBufferPointer, table: Table) -> Int {
        table.withUnsafeBufferPointer { table in
            var escapes = 0
            for byte in value where table[Int(byte)] != 0 { escapes += 1 }
            return value.count + escapes
        }
    }

    /// Writes `value` escaped with `table` at `out + at` (room for twice its length is the caller's job);
    /// returns the new end. Runs without escapes are copied whole.
    @inline(__always)
    static func escape(
        _ value: UnsafeRawBufferPointer, table: Table, into out: UnsafeMutablePointer<UInt8>,
        at start: Int
    ) -> Int {
        guard let source = value.baseAddress?.assumingMemoryBound(to: UInt8.self), value.count > 0 else { return start }
        let count = value.count
        return table.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            var at = start
            var runStart = 0
            var index = 0
            while index < count {
                let escaped = table[Int(source[index])]
                if escaped != 0 {
                    let run = index - runStart
                    if run > 0 {
                        (out + at).update(from: source + runStart, count: run)
                        at += run
                    }
                    out[at] = 0x5C
                    out[at + 1] = escaped
                    at += 2
                    runStart = index + 1
                }
                index += 1
            }
            let run = count - runStart
            if run > 0 {
                (out + at).update(from: source + runStart, count: run)
                at += run
            }
            return at
        }
    }
}
