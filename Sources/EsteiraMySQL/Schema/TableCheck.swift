/// What ``MySQLConnection/prepareTable(_:createIfMissing:)`` did.
public enum TablePreparation: Sendable, Hashable {
    /// The table did not exist and was created from the schema.
    case created
    /// The table exists and can take the schema's rows.
    case compatible
}

extension MySQLConnection {
    /// Makes sure `schema.name` can take rows of `schema`: creates it when absent and `createIfMissing`
    /// (opt-in per route), otherwise compares the existing table (information_schema) with the schema and
    /// throws ``MySQLError/Code/incompatibleTable`` listing every difference.
    ///
    /// "Compatible" means every load of schema-conforming rows will fit without MySQL changing a value: each
    /// column exists with the same kind of type at least as wide (VARCHAR(64) takes a VARCHAR(32) contract,
    /// not the reverse), text columns are utf8mb4, a nullable contract column is nullable, columns outside
    /// the contract can be left out (nullable, defaulted or generated), and declared keys exist.
    ///
    /// With `check: false` an existing table is taken as it is (a schema made up from a file's header, with
    /// no contract to hold the table to).
    ///
    /// DDL commits implicitly, so this refuses to run while a file load is open on the connection.
    @discardableResult
    public func prepareTable(_ schema: TableSchema, createIfMissing: Bool, check: Bool = true) async throws
        -> TablePreparation
    {
        let (table, _) = try schema.validated()
        let create = try schema.createStatement()
        return try await run { session throws(MySQLError) -> TablePreparation in
            let operation = "prepare table \(table.quoted)"
            guard session.activeLoad == nil else {
                throw MySQLError(
                    code: .loadNotOpen, message: "a file load is open on this connection; DDL would commit it",
                    operation: operation)
            }
            var columns = try TableColumnInfo.load(table: table, session: session, operation: operation)
            var outcome = TablePreparation.compatible
            if columns.isEmpty {
                guard createIfMissing else {
                    throw MySQLError(
                        code: .noSuchTable, sqlState: "42S02",
                        message:
                            "Table \(table.quoted) doesn't exist: create it, or let Esteira create it from the contract (create-table: true on the route)",
                        operation: operation)
                }
                try session.execute(create, operation: operation)
                columns = try TableColumnInfo.load(table: table, session: session, operation: operation)
                outcome = .created
            }
            guard check else { return outcome }
            let keys = try TableKeys.load(table: table, session: session, operation: operation)
            let differences = TableCheck.differences(schema: schema, columns: columns, keys: keys)
            guard differences.isEmpty else {
                throw MySQLError(
                    code: .incompatibleTable,
                    message: "table \(table.quoted) does not match the contract: "
                        + differences.joined(separator: "; "),
                    operation: operation)
            }
            return outcome
        }
    }
}

/// The unique indexes of a table (the primary key under the name PRIMARY), columns in index order.
struct TableKeys: Sendable {
    var unique: [String: [String]] = [:]

    var primaryKey: [String]? { unique["PRIMARY"] }

    static func load(table: SQLIdentifier, session: MySQLSession, operation: String) throws(MySQLError) -> TableKeys {
        let result = try session.query(
            "SELECT `INDEX_NAME`, `COLUMN_NAME` FROM information_schema.`STATISTICS` WHERE `TABLE_SCHEMA` = DATABASE() "
                + "AND `TABLE_NAME` = \(MySQLEscaping.literal(table.name)) AND `NON_UNIQUE` = 0 "
                + "ORDER BY `INDEX_NAME`, `SEQ_IN_INDEX`",
            operation: operation)
        var keys = TableKeys()
        for row in result.rows where row.count == 2 {
            keys.unique[row[0] ?? "", default: []].append(row[1] ?? "")
        }
        return keys
    }
}

/// Pure comparison of a schema with what information_schema says (unit-testable without a server).
enum TableCheck {
    static func differences(schema: TableSchema, columns: [String: TableColumnInfo], keys: TableKeys) -> [String] {
        var problems: [String] = []
        let declared = Set(schema.columns.map { $0.name.lowercased() })
        for column in schema.columns {
            let expected = "\(column.type.sql)\(column.nullable ? " NULL" : " NOT NULL")"
            guard let actual = columns[column.name.lowercased()] else {
                problems.append("column `\(column.name)` is missing (the contract has \(expected))")
                continue
            }
            if let why = typeProblem(column.type, actual) {
                problems.append(
                    "column `\(column.name)` is \(actual.columnType.uppercased()), the contract has \(column.type.sql): \(why)"
                )
            }
            if column.nullable && !actual.isNullable {
                problems.append("column `\(column.name)` is NOT NULL, but the contract allows empty values (NULL)")
            }
        }
        for actual in columns.values.sorted(by: { $0.ordinal < $1.ordinal })
        where !declared.contains(actual.name.lowercased()) {
            let generated =
                actual.extra.contains("auto_increment") || actual.extra.contains("generated")
                || actual.extra.contains("virtual") || actual.extra.contains("stored")
                || actual.extra.contains("persistent")
            if !actual.isNullable && actual.defaultValue == nil && !generated {
                problems.append(
                    "column `\(actual.name)` is NOT NULL without a default and not in the contract, so no row could be inserted"
                )
            }
        }
        func same(_ a: [String], _ b: [String]) -> Bool { a.map { $0.lowercased() } == b.map { $0.lowercased() } }
        // A declared primary key is also met by a unique key on the same columns (say, beside an
        // AUTO_INCREMENT id): the loader needs rows to be identified by those columns, not which index it is.
        let primaryAsUnique = keys.unique.values.contains {
            Set($0.map { $0.lowercased() }) == Set(schema.primaryKey.map { $0.lowercased() })
        }
        if !schema.primaryKey.isEmpty && !primaryAsUnique {
            if let primary = keys.primaryKey {
                if !same(primary, schema.primaryKey) {
                    problems.append(
                        "the primary key is (\(primary.joined(separator: ", "))), the contract's is (\(schema.primaryKey.joined(separator: ", ")))"
                    )
                }
            } else {
                problems.append(
                    "there is no primary key; the contract's is (\(schema.primaryKey.joined(separator: ", ")))")
            }
        }
        for key in schema.uniqueKeys where !key.isEmpty {
            let wanted = Set(key.map { $0.lowercased() })
            if !keys.unique.values.contains(where: { Set($0.map { $0.lowercased() }) == wanted }) {
                problems.append("no unique key on (\(key.joined(separator: ", ")))")
            }
        }
        return problems
    }

    /// Nil when `actual` stores every value of `expected` unchanged; otherwise why not.
    static func typeProblem(_ expected: ColumnType, _ actual: TableColumnInfo) -> String? {
        let type = actual.dataType
        let unsigned = actual.columnType.contains("unsigned")
        func number(_ text: String?) -> Int? { text.flatMap { Int($0) } }
        // "varchar(32)", "decimal(12,2)", "datetime(3)": the numbers in parentheses.
        let arguments: [Int] = {
            guard let open = actual.columnType.firstIndex(of: "("), let close = actual.columnType.firstIndex(of: ")")
            else { return [] }
            return actual.columnType[actual.columnType.index(after: open)..<close].split(separator: ",")
                .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }()
        let intBytes = ["tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4, "bigint": 8]
        let textBytes = ["tinytext": 255, "text": 65_535, "mediumtext": 16_777_215, "longtext": 4_294_967_295]
        let blobBytes = ["tinyblob": 255, "blob": 65_535, "mediumblob": 16_777_215, "longblob": 4_294_967_295]
        func charsetProblem() -> String? {
            guard let charset = actual.charset?.lowercased(), charset != "utf8mb4" else { return nil }
            return "it stores \(charset), and rows arrive as utf8mb4 (characters outside \(charset) would be refused)"
        }

        switch expected.kind {
        case .integer(let bytes, let wantUnsigned):
            guard let size = intBytes[type] else { return "not an integer type" }
            if wantUnsigned == unsigned { return size >= bytes ? nil : "too small" }
            if wantUnsigned { return size > bytes ? nil : "signed and not wider, so large values do not fit" }
            return "unsigned, so negative values do not fit"
        case .boolean:
            return intBytes[type] != nil || type == "bit" ? nil : "not an integer type"
        case .decimal(let precision, let scale):
            guard type == "decimal" || type == "numeric", arguments.count == 2 else { return "not DECIMAL" }
            if arguments[1] < scale { return "fewer decimal places" }
            if arguments[0] - arguments[1] < precision - scale { return "fewer integer digits" }
            return nil
        case .double:
            return type == "double" || type == "real" ? nil : "not DOUBLE"
        case .varchar(let length):
            if type == "varchar" || type == "char" {
                guard let capacity = arguments.first, capacity >= length else { return "shorter" }
                return charsetProblem()
            }
            if let bytes = textBytes[type] {
                return bytes >= length * 4 ? charsetProblem() : "too small for \(length) utf8mb4 characters"
            }
            return "not a text type"
        case .text:
            guard let bytes = textBytes[type] else { return "not a text type" }
            return bytes >= 16_777_215 ? charsetProblem() : "smaller than MEDIUMTEXT"
        case .date:
            return type == "date" ? nil : "not DATE"
        case .datetime(let digits), .timestamp(let digits):
            guard type == "datetime" || type == "timestamp" else { return "not DATETIME or TIMESTAMP" }
            return (number(arguments.first.map(String.init)) ?? 0) >= digits ? nil : "fewer fractional-second digits"
        case .time(let digits):
            guard type == "time" else { return "not TIME" }
            return (arguments.first ?? 0) >= digits ? nil : "fewer fractional-second digits"
        case .varbinary(let length):
            if type == "varbinary" || type == "binary" { return (arguments.first ?? 0) >= length ? nil : "shorter" }
            if let bytes = blobBytes[type] { return bytes >= length ? nil : "too small" }
            return "not a binary type"
        case .blob:
            guard let bytes = blobBytes[type] else { return "not a binary type" }
            return bytes >= 16_777_215 ? nil : "smaller than MEDIUMBLOB"
        case .json:
            // MariaDB's JSON is LONGTEXT with a check constraint.
            return type == "json" || type == "longtext" ? nil : "not JSON"
        }
    }
}

extension MySQLConnection {
    /// The columns of `name` in table order, or nil when there is no such table: what a file's header
    /// is checked against before a load starts, so a column the table lacks is named, with the table's
    /// columns, instead of surfacing as MySQL's `Unknown column` in the middle of the load.
    public func tableColumns(_ name: String) async throws -> [String]? {
        let table = try SQLIdentifier(name)
        return try await run { session throws(MySQLError) -> [String]? in
            let columns = try TableColumnInfo.load(
                table: table, session: session, operation: "read the columns of \(table.quoted)")
            guard !columns.isEmpty else { return nil }
            return columns.values.sorted { $0.ordinal < $1.ordinal }.map(\.name)
        }
    }
}
