import EsteiraCSV
import EsteiraMySQL
import Logging

/// `create_table: true` on a route: Esteira manages the destination table. Before a file's load
/// transaction begins (DDL commits implicitly in MySQL), the table is created when absent, and an existing
/// one is checked against the route's contract; a table that cannot take the contract's rows fails the file
/// permanently (`IncompatibleTable`) with every difference named.
///
/// Without a contract the table is made of the file's header columns, each nullable `MEDIUMTEXT`, and an
/// existing table is not checked (there is nothing to check it against). The pipeline sends such files'
/// values as text and MySQL's strict mode converts them, so text is the only type every later file is sure
/// to fit; a type guessed from the first file's first rows would pin the table to whichever file came first
/// and refuse the next file on its first value outside the sample. For typed columns, write a contract
/// (`esteira infer` proposes one from a sample file).
///
/// Two workers creating the same table at once both run `CREATE TABLE IF NOT EXISTS`; one creates it, the
/// other's statement does nothing, and both then check the table that exists.
///
/// Schema drift, on every route: a table column the file does not bring loads as NULL (or its default)
/// when the table allows it; a NOT NULL column without a default fails the file as `BadHeader`, naming it,
/// with the diff of the file's columns against the table's. With `extra_columns: add` (and `create_table`),
/// a column the file brings that the table lacks is added first — `ALTER TABLE … ADD COLUMN … NULL`, typed
/// from the contract or as MEDIUMTEXT — outside the load's transaction (DDL commits); two workers adding
/// the same column at once are fine (the second sees "Duplicate column" and goes on).
enum DestinationTable {
    /// Creates or checks the route's table, when the route manages it; adds the file's new columns on an
    /// `extra_columns: add` route; refuses a file that lacks a column the table needs. Returns the columns
    /// this call added.
    @discardableResult
    static func prepare(
        for route: Route, fileColumns: [String], on connection: MySQLConnection,
        logger: Logger? = nil
    ) async throws -> [String] {
        let schema = try route.managedTableSchema(fileColumns: fileColumns)
        var added: [String] = []
        // New columns first, so the check of an existing table against the contract sees them.
        if route.addsColumns, let existing = try await connection.describeColumns(route.table) {
            let present = Set(existing.map { $0.name.lowercased() })
            let wanted =
                fileColumns
                + (schema?.columns.map(\.name) ?? []).filter { name in
                    !fileColumns.contains { $0.lowercased() == name.lowercased() }
                }
            for name in wanted where !present.contains(name.lowercased()) {
                let type = schema?.columns.first { $0.name.lowercased() == name.lowercased() }?.type ?? .text
                if try await connection.addColumn(table: route.table, .init(name, type, nullable: true)) {
                    added.append(name)
                    logger?.notice(
                        "added a column the file brings",
                        metadata: [
                            "table": "\(route.table)", "column": "\(name)", "type": "\(type.sql)",
                            "route": "\(route.name)",
                        ])
                }
            }
        }
        if let schema {
            do {
                try await connection.prepareTable(schema, createIfMissing: true, check: route.contract != nil)
            } catch let error as MySQLError where error.code == .incompatibleTable {
                throw PipelineError(
                    .incompatibleTable,
                    "route '\(route.name)': \(error.message); change the table or the route's contract")
            }
        }
        // Absent: beginFileLoad says so in MySQL's words.
        guard let table = try await connection.describeColumns(route.table) else { return added }
        let file = Set(fileColumns.map { $0.lowercased() })
        let filledByEsteira = route.reloadSourceColumn?.lowercased()
        let needed = table.filter {
            !$0.nullable && !$0.filledByServer && !file.contains($0.name.lowercased())
                && $0.name.lowercased() != filledByEsteira
        }
        if !needed.isEmpty {
            let names = needed.map { "'\($0.name)'" }.joined(separator: ", ")
            let diff = DestinationColumns(table: route.table, columns: table.map(\.name)).diff(fileColumns: fileColumns)
            throw PipelineError(
                .badHeader,
                "the file has no \(needed.count == 1 ? "column" : "columns") \(names), which table \(route.table) has as NOT NULL without a default, so no row could be inserted: add \(needed.count == 1 ? "it" : "them") to the file, or make \(needed.count == 1 ? "it" : "them") nullable or give \(needed.count == 1 ? "it" : "them") a default. \(diff)"
            )
        }
        return added
    }
}

extension Route {
    /// What the route's table must look like when the route manages it (`create_table: true`), or nil.
    /// Throws what makes such a table impossible (checked at start-up, with `fileColumns` empty).
    public func managedTableSchema(fileColumns: [String]) throws(RoutingError) -> TableSchema? {
        guard createTable == true else { return nil }
        func bad(_ why: String) -> RoutingError { RoutingError("route '\(name)': create_table: \(why)") }
        let mode: LoadMode = try self.mode()
        var columns: [TableSchema.Column] = []
        var key: [String] = []
        if let contract {
            var keyBytesOf: [String: Int?] = [:]
            for column in contract.columns {
                let type: EsteiraCSV.ColumnType
                do {
                    type = try EsteiraCSV.ColumnType(
                        parsing: column.type, values: column.values, maxLength: column.maxLength)
                } catch {
                    throw bad(error.description)
                }
                let mapped = Self.mysqlType(type)
                keyBytesOf[column.name.lowercased()] = mapped.keyBytes
                var sqlType = mapped.type
                if case .datetime = type {
                    // `datetime(3)` in the contract: the table keeps what the typing layer keeps.
                    sqlType = .datetime(
                        fractionalDigits: (try? EsteiraCSV.ColumnType.fractionalDigits(in: column.type)) ?? 6)
                }
                columns.append(.init(column.name, sqlType, nullable: !column.required))
            }
            key = contract.key
            // InnoDB indexes at most 3072 bytes of a key, and utf8mb4 takes 4 per character; MEDIUMTEXT
            // cannot be indexed at all.
            var keyBytes = 0
            for name in key {
                guard let bytes = keyBytesOf[name.lowercased()] else { continue }  // the contract reports it
                if let bytes {
                    keyBytes += bytes
                } else {
                    throw bad(
                        "key column '\(name)' is text without a length, which MySQL cannot index; give it a type such as varchar(64)"
                    )
                }
            }
            if keyBytes > 3072 {
                throw bad(
                    "the key (\(key.joined(separator: ", "))) is longer than MySQL can index (3072 bytes; 4 per utf8mb4 character): shorten its varchar lengths"
                )
            }
        } else {
            columns = fileColumns.map { .init($0, .text, nullable: true) }
        }
        if mode.needsUniqueKey && key.isEmpty {
            throw bad("load_mode \(mode.name) needs a unique key on the table: give the route a contract with a key")
        }
        var indexes: [[String]] = []
        if case .replaceByFile(let source) = mode {
            if columns.contains(where: { $0.name.lowercased() == source.lowercased() }) {
                throw bad("source_column '\(source)' is also a column of the file; name a column of its own")
            }
            columns.append(.init(source, .unsignedBigint, nullable: true))
            indexes.append([source])
        }
        // The key becomes the primary key when none of its columns may be empty; otherwise a unique key
        // (which allows NULLs). An existing table passes the check with either, or with a unique key beside
        // its own primary key.
        let required = Set(columns.filter { !$0.nullable }.map { $0.name.lowercased() })
        let primary = !key.isEmpty && key.allSatisfy { required.contains($0.lowercased()) }
        return TableSchema(
            name: table, columns: columns, primaryKey: primary ? key : [],
            uniqueKeys: primary || key.isEmpty ? [] : [key], indexes: indexes)
    }

    /// The MySQL type a contract type's values fit, and the bytes it takes in an index (nil: it cannot be
    /// indexed).
    static func mysqlType(_ type: EsteiraCSV.ColumnType) -> (type: EsteiraMySQL.ColumnType, keyBytes: Int?) {
        switch type {
        case .int: return (.int, 4)
        case .bigint: return (.bigint, 8)
        case .decimal(let p, let s): return (.decimal(precision: p, scale: s), 32)
        case .double: return (.double, 8)
        case .boolean: return (.boolean, 1)
        case .date: return (.date, 3)
        // The typing layer writes microseconds (`2026-11-02 13:04:05.250000`).
        case .datetime: return (.datetime(fractionalDigits: 6), 8)
        case .text(let max?) where max <= 16_383: return (.varchar(max), max * 4)
        case .text: return (.text, nil)
        case .enumeration(let values):
            let longest = max(1, values.map { $0.unicodeScalars.count }.max() ?? 1)
            return (.varchar(longest), longest * 4)
        }
    }
}
