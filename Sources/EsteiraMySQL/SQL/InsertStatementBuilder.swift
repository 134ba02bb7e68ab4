/// Turns rows into multi-row `INSERT INTO t (cols) VALUES (…),(…)` statements, each at most
/// `maxStatementBytes` long, so none exceeds the server's max_allowed_packet. Pure: no I/O.
struct InsertStatementBuilder: Sendable {
    let table: SQLIdentifier
    let columnCount: Int
    let maxStatementBytes: Int
    private let prefix: [UInt8]

    init(table: SQLIdentifier, columns: [SQLIdentifier], maxStatementBytes: Int) {
        self.table = table
        self.columnCount = columns.count
        self.maxStatementBytes = maxStatementBytes
        let columnList = columns.map(\.quoted).joined(separator: ",")
        self.prefix = Array("INSERT INTO \(table.quoted) (\(columnList)) VALUES ".utf8)
    }

    /// Calls `emit(statement, rowCount)` for consecutive runs of `rows`, in order. `firstRowNumber` (0-based,
    /// within the file) makes errors point at the right row.
    func build(
        _ rows: [[String?]], firstRowNumber: Int,
        emit: ([UInt8], Int) throws(MySQLError) -> Void
    ) throws(MySQLError) {
        var statement = prefix
        statement.reserveCapacity(min(maxStatementBytes, 1 << 16))
        var count = 0
        var tuple: [UInt8] = []
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
            tuple.append(UInt8(ascii: ")"))
            guard prefix.count + tuple.count <= maxStatementBytes else {
                throw MySQLError(
                    code: .rowTooLarge,
                    message: "row \(rowNumber) needs \(prefix.count + tuple.count) bytes of SQL; the limit is \(maxStatementBytes) (max_allowed_packet)",
                    operation: "file load: insert into \(table.quoted)")
            }
            if count > 0 && statement.count + 1 + tuple.count > maxStatementBytes {
                try emit(statement, count)
                statement.removeSubrange(prefix.count...)
                count = 0
            }
            if count > 0 { statement.append(UInt8(ascii: ",")) }
            statement.append(contentsOf: tuple)
            count += 1
        }
        if count > 0 { try emit(statement, count) }
    }
}
