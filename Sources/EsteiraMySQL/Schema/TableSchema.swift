/// What a destination table must look like: columns with SQL types and nullability, and its keys.
///
/// The pipeline maps a route's contract (or an inferred schema) to this; EsteiraMySQL knows nothing of CSV
/// types. Used to create the table when it is absent (opt-in per route) and to check an existing table
/// before the first row is sent (``MySQLConnection/prepareTable(_:createIfMissing:)``).
public struct TableSchema: Sendable, Hashable {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var type: ColumnType
        /// Whether the loader may send NULL for it.
        public var nullable: Bool

        public init(_ name: String, _ type: ColumnType, nullable: Bool = true) {
            self.name = name
            self.type = type
            self.nullable = nullable
        }
    }

    public var name: String
    public var columns: [Column]
    /// Empty: no primary key is declared (none is created, none is checked).
    public var primaryKey: [String]
    public var uniqueKeys: [[String]]
    /// Plain indexes, created with the table and not checked (for example the replace-by-file source column).
    public var indexes: [[String]]

    public init(
        name: String, columns: [Column], primaryKey: [String] = [], uniqueKeys: [[String]] = [],
        indexes: [[String]] = []
    ) {
        self.name = name
        self.columns = columns
        self.primaryKey = primaryKey
        self.uniqueKeys = uniqueKeys
        self.indexes = indexes
    }

    /// Validates every name (before any SQL is sent) and that keys name declared columns.
    func validated() throws(MySQLError) -> (table: SQLIdentifier, columns: [SQLIdentifier]) {
        let operation = "check table schema"
        let table = try SQLIdentifier(name)
        guard !columns.isEmpty else {
            throw MySQLError(
                code: .invalidConfiguration, message: "table schema \(table.quoted) has no columns",
                operation: operation)
        }
        var seen: Set<String> = []
        var ids: [SQLIdentifier] = []
        for column in columns {
            let id = try SQLIdentifier(column.name)
            guard seen.insert(id.name.lowercased()).inserted else {
                throw MySQLError(
                    code: .invalidIdentifier, message: "column \(id.quoted) is declared twice",
                    operation: operation)
            }
            try column.type.validate(column: id)
            ids.append(id)
        }
        for key in [primaryKey] + uniqueKeys + indexes where !key.isEmpty {
            for name in key {
                let id = try SQLIdentifier(name)
                guard seen.contains(id.name.lowercased()) else {
                    throw MySQLError(
                        code: .invalidConfiguration,
                        message: "key column \(id.quoted) is not a column of \(table.quoted)",
                        operation: operation)
                }
            }
        }
        for name in primaryKey
        where columns.first(where: { $0.name.lowercased() == name.lowercased() })?.nullable == true {
            throw MySQLError(
                code: .invalidConfiguration,
                message: "primary key column `\(name)` is declared nullable; primary key columns are NOT NULL",
                operation: operation)
        }
        return (table, ids)
    }

    /// `CREATE TABLE IF NOT EXISTS` for this schema: InnoDB (a file load must be atomic), utf8mb4 with the
    /// binary collation (keys compare bytes exactly: 'a' and 'A', 'e' and 'é' are different keys).
    func createStatement() throws(MySQLError) -> String {
        let (table, ids) = try validated()
        var parts: [String] = []
        for (column, id) in zip(columns, ids) {
            parts.append("\(id.quoted) \(column.type.sql)\(column.nullable ? " NULL" : " NOT NULL")")
        }
        func list(_ names: [String]) -> String { names.map { "`\($0)`" }.joined(separator: ", ") }
        if !primaryKey.isEmpty { parts.append("PRIMARY KEY (\(list(primaryKey)))") }
        for (index, key) in uniqueKeys.enumerated() where !key.isEmpty {
            parts.append("UNIQUE KEY `uq_\(index + 1)` (\(list(key)))")
        }
        for (index, key) in indexes.enumerated() where !key.isEmpty {
            parts.append("KEY `ix_\(index + 1)` (\(list(key)))")
        }
        return "CREATE TABLE IF NOT EXISTS \(table.quoted) (\n  " + parts.joined(separator: ",\n  ")
            + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }
}

/// A column's SQL type, as a contract states it. Opaque with static constructors, so new types do not
/// break callers.
public struct ColumnType: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        /// Size in bytes: 1, 2, 3, 4 or 8.
        case integer(bytes: Int, unsigned: Bool)
        case boolean
        case decimal(precision: Int, scale: Int)
        case double
        case varchar(Int)
        case text
        case date
        case datetime(fractionalDigits: Int)
        case timestamp(fractionalDigits: Int)
        case time(fractionalDigits: Int)
        case varbinary(Int)
        case blob
        case json
    }

    let kind: Kind

    public static let tinyint = ColumnType(kind: .integer(bytes: 1, unsigned: false))
    public static let smallint = ColumnType(kind: .integer(bytes: 2, unsigned: false))
    public static let int = ColumnType(kind: .integer(bytes: 4, unsigned: false))
    public static let bigint = ColumnType(kind: .integer(bytes: 8, unsigned: false))
    public static let unsignedInt = ColumnType(kind: .integer(bytes: 4, unsigned: true))
    public static let unsignedBigint = ColumnType(kind: .integer(bytes: 8, unsigned: true))
    /// `TINYINT(1)`; values 0 and 1.
    public static let boolean = ColumnType(kind: .boolean)
    public static func decimal(precision: Int, scale: Int) -> ColumnType {
        ColumnType(kind: .decimal(precision: precision, scale: scale))
    }
    public static let double = ColumnType(kind: .double)
    /// Up to `length` characters (not bytes).
    public static func varchar(_ length: Int) -> ColumnType { ColumnType(kind: .varchar(length)) }
    /// Up to 16M bytes of text (`MEDIUMTEXT` when created: CSV fields can exceed TEXT's 64 KiB).
    public static let text = ColumnType(kind: .text)
    public static let date = ColumnType(kind: .date)
    public static func datetime(fractionalDigits: Int = 0) -> ColumnType {
        ColumnType(kind: .datetime(fractionalDigits: fractionalDigits))
    }
    public static func timestamp(fractionalDigits: Int = 0) -> ColumnType {
        ColumnType(kind: .timestamp(fractionalDigits: fractionalDigits))
    }
    public static func time(fractionalDigits: Int = 0) -> ColumnType {
        ColumnType(kind: .time(fractionalDigits: fractionalDigits))
    }
    public static func varbinary(_ length: Int) -> ColumnType { ColumnType(kind: .varbinary(length)) }
    public static let blob = ColumnType(kind: .blob)
    public static let json = ColumnType(kind: .json)

    /// The type in a CREATE TABLE.
    public var sql: String {
        switch kind {
        case .integer(let bytes, let unsigned):
            let name = [1: "TINYINT", 2: "SMALLINT", 3: "MEDIUMINT", 4: "INT", 8: "BIGINT"][bytes] ?? "BIGINT"
            return unsigned ? name + " UNSIGNED" : name
        case .boolean: return "TINYINT(1)"
        case .decimal(let precision, let scale): return "DECIMAL(\(precision),\(scale))"
        case .double: return "DOUBLE"
        case .varchar(let length): return "VARCHAR(\(length))"
        case .text: return "MEDIUMTEXT"
        case .date: return "DATE"
        case .datetime(let digits): return digits > 0 ? "DATETIME(\(digits))" : "DATETIME"
        case .timestamp(let digits): return digits > 0 ? "TIMESTAMP(\(digits))" : "TIMESTAMP"
        case .time(let digits): return digits > 0 ? "TIME(\(digits))" : "TIME"
        case .varbinary(let length): return "VARBINARY(\(length))"
        case .blob: return "MEDIUMBLOB"
        case .json: return "JSON"
        }
    }

    public var description: String { sql }

    func validate(column: SQLIdentifier) throws(MySQLError) {
        func bad(_ why: String) -> MySQLError {
            MySQLError(
                code: .invalidConfiguration, message: "column \(column.quoted): \(why)", operation: "check table schema"
            )
        }
        switch kind {
        case .integer(let bytes, _) where ![1, 2, 3, 4, 8].contains(bytes):
            throw bad("integer size must be 1, 2, 3, 4 or 8 bytes")
        case .decimal(let p, let s) where !(1...65).contains(p) || !(0...30).contains(s) || s > p:
            throw bad("DECIMAL(\(p),\(s)) is out of range: precision 1–65, scale 0–30 and at most the precision")
        case .varchar(let n) where !(1...16383).contains(n):
            throw bad("VARCHAR(\(n)) must be 1–16383 characters in utf8mb4")
        case .varbinary(let n) where !(1...65532).contains(n): throw bad("VARBINARY(\(n)) must be 1–65532 bytes")
        case .datetime(let d), .timestamp(let d), .time(let d):
            if !(0...6).contains(d) { throw bad("fractional seconds must be 0–6 digits") }
        default: break
        }
    }
}
