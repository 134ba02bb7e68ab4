/// The rows of a query, read fully into memory: for small answers (ledger look-ups, counts, checks), not
/// for streaming a table out.
public struct MySQLResult: Sendable, Equatable {
    /// Column names, in select order.
    public let columns: [String]
    /// Values as MySQL's text protocol sends them, decoded as UTF-8; nil is SQL NULL. Bytes that are not
    /// UTF-8 (BLOB, VARBINARY) come back with U+FFFD in their place: select `HEX(col)` for those.
    public let rows: [[String?]]
    /// For statements without a result set.
    public let affectedRows: UInt64

    public init(columns: [String], rows: [[String?]], affectedRows: UInt64 = 0) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    /// The value in `row` of the column named `column`, or nil (also when there is no such column).
    public subscript(row: Int, column: String) -> String? {
        guard rows.indices.contains(row), let index = columns.firstIndex(of: column) else { return nil }
        return rows[row][index]
    }

    /// The first column of the first row: for `SELECT COUNT(*)` and friends.
    public var scalar: String? { rows.first?.first ?? nil }
}
