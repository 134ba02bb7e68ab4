/// What a file's rows do to the rows already in the table. Chosen per route.
public enum LoadMode: Sendable, Hashable, CustomStringConvertible {
    /// Insert every row; a row that duplicates a primary or unique key fails the whole file (MySQL's
    /// "Duplicate entry" message). The default.
    case append
    /// Insert rows whose key is new; rows whose primary or unique key already exists (in the table, or
    /// earlier in the same file) are skipped. Bad values still fail the file. Needs a primary or unique key.
    case insertIgnore
    /// Insert new keys, update the loaded columns of existing ones (`ON DUPLICATE KEY UPDATE`); within one
    /// file the last row for a key wins. Columns not loaded keep their values. Needs a primary or unique key.
    case upsert
    /// The file replaces what its previous versions loaded: in the load's transaction, rows whose
    /// `sourceColumn` holds the ledger id of an earlier version of the same bucket and key (into the same
    /// table) are deleted, then the new rows are inserted with `sourceColumn` set to this load's ledger id.
    /// `sourceColumn` must be a `BIGINT UNSIGNED` (or `BIGINT`) column, indexed, not among the loaded columns.
    case replaceByFile(sourceColumn: String)

    /// Parses a route's setting: `append`, `insert-ignore`, `upsert` or `replace-by-file` (which needs
    /// `sourceColumn`). Underscores and case are accepted too.
    public init(name: String, sourceColumn: String? = nil) throws(MySQLError) {
        let key = String(name.lowercased().map { $0 == "_" ? "-" : $0 })
        func bad(_ why: String) -> MySQLError {
            MySQLError(code: .invalidConfiguration, message: why, operation: "parse load mode")
        }
        switch key {
        case "append": self = .append
        case "insert-ignore", "ignore": self = .insertIgnore
        case "upsert": self = .upsert
        case "replace-by-file":
            guard let sourceColumn, !sourceColumn.isEmpty else {
                throw bad(
                    "load mode replace-by-file needs a source column (the BIGINT column that records which file loaded each row)"
                )
            }
            self = .replaceByFile(sourceColumn: sourceColumn)
        default:
            throw bad(
                "unknown load mode \(SQLIdentifier.shown(name)): use append, insert-ignore, upsert or replace-by-file")
        }
    }

    /// The route-file spelling.
    public var name: String {
        switch self {
        case .append: "append"
        case .insertIgnore: "insert-ignore"
        case .upsert: "upsert"
        case .replaceByFile: "replace-by-file"
        }
    }

    public var description: String {
        if case .replaceByFile(let column) = self { return "replace-by-file(\(column))" }
        return name
    }

    /// Modes that are meaningless without a key to collide on.
    public var needsUniqueKey: Bool {
        switch self {
        case .insertIgnore, .upsert: true
        case .append, .replaceByFile: false
        }
    }
}

/// How rows travel to the server.
public enum LoadPath: String, Sendable, Hashable, CustomStringConvertible {
    /// `LOAD DATA LOCAL INFILE`, fed from memory: the fast path, used whenever the server allows it.
    case loadDataLocalInfile = "load-data-local-infile"
    /// Multi-row `INSERT` statements sized under max_allowed_packet: the fallback when the server has
    /// `local_infile` off (or when asked for, e.g. behind a proxy that does not support LOCAL INFILE).
    case batchedInsert = "batched-insert"

    public var description: String { rawValue }
}
