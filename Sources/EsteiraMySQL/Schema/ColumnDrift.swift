/// One column of an existing table, as far as a file's header is concerned.
public struct TableColumnDescription: Sendable, Hashable {
    public let name: String
    public let columnType: String
    public let nullable: Bool
    /// A default, AUTO_INCREMENT or a generated value: a row that does not give it still inserts.
    public let filledByServer: Bool
}

extension MySQLConnection {
    /// The table's columns in table order, or nil when it does not exist.
    public func describeColumns(_ name: String) async throws -> [TableColumnDescription]? {
        let table = try SQLIdentifier(name)
        return try await run { session throws(MySQLError) -> [TableColumnDescription]? in
            let columns = try TableColumnInfo.load(
                table: table, session: session, operation: "read the columns of \(table.quoted)")
            guard !columns.isEmpty else { return nil }
            return columns.values.sorted { $0.ordinal < $1.ordinal }.map {
                // MariaDB reports a nullable column's missing default as the text NULL.
                let hasDefault = $0.defaultValue != nil && !($0.isNullable && $0.defaultValue == "NULL")
                return TableColumnDescription(
                    name: $0.name, columnType: $0.columnType, nullable: $0.isNullable,
                    filledByServer: hasDefault || $0.extra.contains("auto_increment") || $0.extra.contains("generated"))
            }
        }
    }

    /// `ALTER TABLE … ADD COLUMN … NULL` (always nullable: the table's older rows have no value). DDL commits,
    /// so this runs outside any load. Returns false when the column is there already (another worker added
    /// it first: "Duplicate column name", 1060, is not an error).
    public func addColumn(table name: String, _ column: TableSchema.Column) async throws -> Bool {
        let table = try SQLIdentifier(name)
        let id = try SQLIdentifier(column.name)
        try column.type.validate(column: id)
        let sql = "ALTER TABLE \(table.quoted) ADD COLUMN \(id.quoted) \(column.type.sql) NULL"
        return try await run { session throws(MySQLError) -> Bool in
            guard session.activeLoad == nil else {
                throw MySQLError(
                    code: .loadNotOpen, message: "a file load is open on this connection; DDL would commit it",
                    operation: "add column \(id.quoted) to \(table.quoted)")
            }
            do throws(MySQLError) {
                try session.execute(sql, operation: "add column \(id.quoted) to \(table.quoted)")
                return true
            } catch  where error.mysqlErrorNumber == 1060 {
                return false
            }
        }
    }
}
