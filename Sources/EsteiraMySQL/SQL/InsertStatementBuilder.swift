/// Turns rows into multi-row `INSERT INTO t (cols) VALUES (…),(…) [suffix]` statements, each at most
/// `maxStatementBytes` long, so none exceeds the server's max_allowed_packet. Pure: no I/O. The encoding
/// itself is ``LoadBatch``'s INSERT path; this describes the statements and builds them from Strings.
struct InsertStatementBuilder: Sendable {
    let table: SQLIdentifier
    let columnCount: Int
    let maxStatementBytes: Int
    let layout: InsertLayout

    /// - Parameters:
    ///   - constantColumns: extra columns with the same value (an SQL literal) in every row.
    ///   - suffix: SQL after the VALUES list.
    init(
        table: SQLIdentifier, columns: [SQLIdentifier], maxStatementBytes: Int,
        constantColumns: [(SQLIdentifier, String)] = [], suffix: String = ""
    ) {
        self.table = table
        self.columnCount = columns.count
        self.maxStatementBytes = maxStatementBytes
        let columnList = (columns + constantColumns.map(\.0)).map(\.quoted).joined(separator: ",")
        self.layout = InsertLayout(
            prefix: Array("INSERT INTO \(table.quoted) (\(columnList)) VALUES ".utf8),
            tupleTail: Array(constantColumns.map { "," + $0.1 }.joined().utf8),
            statementTail: suffix.isEmpty ? [] : Array((" " + suffix).utf8),
            maxStatementBytes: maxStatementBytes,
            table: table.quoted)
    }

    /// An empty batch of INSERT statements.
    func batch(firstRowNumber: Int, capacity: Int) -> LoadBatch {
        LoadBatch(columnCount: columnCount, insert: layout, firstRowNumber: firstRowNumber, capacity: capacity)
    }

    /// Calls `emit(statement, rowCount)` for consecutive runs of `rows`, in order. `firstRowNumber` (0-based,
    /// within the file) makes errors point at the right row.
    func build(
        _ rows: [[String?]], firstRowNumber: Int,
        emit: ([UInt8], Int) throws(MySQLError) -> Void
    ) throws(MySQLError) {
        var batch = batch(firstRowNumber: firstRowNumber, capacity: min(maxStatementBytes, 1 << 16))
        for row in rows { try batch.append(row) }
        try batch.forEachStatement { (statement, count) throws(MySQLError) in try emit(Array(statement), count) }
    }
}
