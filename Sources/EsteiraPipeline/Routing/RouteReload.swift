import EsteiraMySQL

extension PipelineError.Code {
    /// `esteira reload` / `unload` on a route whose rows do not record the file that loaded them.
    public static let reloadRefused = PipelineError.Code(rawValue: "ReloadRefused")
}

extension Route {
    /// The source column a reload or unload finds a load's rows by, or nil when the route has none.
    public var reloadSourceColumn: String? {
        guard case .replaceByFile(let column)? = try? mode() else { return nil }
        return column
    }

    /// Why this route cannot reload or unload a file, with the settings to add; nil when it can.
    public var reloadRefusal: String? {
        guard reloadSourceColumn == nil else { return nil }
        let current = loadMode.map { " (instead of load_mode: \($0))" } ?? ""
        let ddl =
            createTable == true
            ? "create_table adds the column to a new table; for the existing table run:"
            : "and add the column to the table:"
        return """
            route '\(name)' cannot reload or unload a file: its rows do not record which file loaded them. \
            Add to the route in the routes file\(current):
                load_mode: replace-by-file
                source_column: esteira_ledger_id
            \(ddl)
                ALTER TABLE `\(table)` ADD COLUMN `esteira_ledger_id` BIGINT UNSIGNED NULL, ADD KEY (`esteira_ledger_id`);
            Rows loaded before the change have no ledger id: load the file again with `esteira reload` once the route has it.
            """
    }
}
