/// Turns rows into multi-row `INSERT INTO t (cols) VALUES (…),(…) [suffix]` statements, each at most
/// `maxStatementBytes` long, so none exceeds the server's max_allowed_packet. Pure: no I/O.
struct InsertStatementBuilder: Sendable {
    let table: SQLIdentifier
    let columnCount: Int
    let maxStatementBytes: Int
    private let prefix: [UInt8]
    /// Appended inside every tuple after the row's values (a constant column such as a source id).
    private let tupleTail: [UInt8]
    /// Appended after the last tuple (`ON DUPLICATE KEY UPDATE …`).
    private let statementTail: [UInt8]

    /// - Parameters:
    ///   - constantColumns: extra columns with the same value (an SQL literal) in every row.
    ///   - suffix: SQL after the VALUES list.
    init(table: SQLIdentifier, columns: [SQLIdentifier], maxStatementBytes: Int,
         constantColumns: [(SQLIdentifier, String)] = [], suffix: String = "") {
        self.table = table
        self.columnCount = columns.count
        self.maxStatementBytes = maxStatementBytes
        let columnList = (columns + constantColumns.map(\.0)).map(\.quoted).joined(separator: ",")
        self.prefix = Array("INSERT INTO \(table.quoted) (\(columnList)) VALUES ".utf8)
        self.tupleTail = Array(constantColumns.map { "," + $0.1 }.joined().utf8)
        self.statementTail = suffix.isEmpty ? [] : Array((" " + suffix).utf8)
    }

    /// Calls `emit(statement, rowCount)` for consecutive runs of `rows`, in order. `firstRowNumber` (0-based,
    /// within the file) makes errors point at the right row.
    func build(
        _ rows: [[String?]], firstRowNumber: Int,
        emit: ([UInt8], Int) throws(MySQLError) -> Void
    ) throws(MySQLError) {
        let fixed = prefix.count + statementTail.count
        var statement = prefix
        statement.reserveCapacity(min(maxStatementBytes, 1 << 16))
        var count = 0
        var tuple: [UInt8] = []
        func flush() throws(MySQLError) {
            statement.append(contentsOf: statementTail)
            try emit(statement, count)
            statement.removeSubrange(prefix.count...)
            count = 0
        }
        for (offset, row) in rows.enumerated() {
            let rowNumber = firstRowNumber + offset
            guard row.count == columnCount else {
                throw MySQLError(
                    code: .invalidRow,
                    message: "row \(rowNumber) has \(row.count) fields; the load has \(columnCount) columns",
                    operation: "file load: insert into \(table.quoted)")
            }
            tuple.removeAll(keepingCapacity: true)
            tuple.append(UInt8(ascii: "("))
            for (index, value) in row.enumerated() {
                if index > 0 { tuple.append(UInt8(ascii: ",")) }
                MySQLEscaping.appendLiteral(value, to: &tuple)
            }
            tuple.append(contentsOf: tupleTail)
            tuple.append(UInt8(ascii: ")"))
            guard fixed + tuple.count <= maxStatementBytes else {
                throw MySQLError(
                    code: .rowTooLarge,
                    message: "row \(rowNumber) needs \(fixed + tuple.count) bytes of SQL; the limit is \(maxStatementBytes) (max_allowed_packet)",
                    operation: "file load: insert into \(table.quoted)")
            }
            if count > 0 && statement.count + 1 + tuple.count + statementTail.count > maxStatementBytes {
                try flush()
            }
            if count > 0 { statement.append(UInt8(ascii: ",")) }
            statement.append(contentsOf: tuple)
            count += 1
        }
        if count > 0 { try flush() }
    }
}
