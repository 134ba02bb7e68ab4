extension MySQLConnection {
    /// Starts loading one object version into `table`: validates the names (before any SQL), makes sure
    /// `esteira_ledger` exists, checks that `table` is InnoDB (and, per mode, has a key or the source
    /// column), then — in a new transaction — inserts the ledger row. If another load of the same version
    /// is open, this waits on the ledger's unique key until that load commits (then returns an
    /// already-loaded `FileLoad`) or rolls back (then proceeds).
    ///
    /// - Parameters:
    ///   - mode: what the rows do to existing ones (see ``LoadMode``).
    ///   - path: `.loadDataLocalInfile` (the default) uses the bulk path whenever the server allows it and
    ///     falls back to INSERTs otherwise; `.batchedInsert` always uses INSERTs.
    ///   - maxStatementBytes: cap for one INSERT statement (further capped by max_allowed_packet).
    ///   - reload: load this version again even though the ledger has it (`esteira reload`). Needs
    ///     `.replaceByFile`: in the load's transaction the earlier ledger row of this version is marked
    ///     `superseded` and moved off the unique key, the new row gets the next `generation`, and the rows of
    ///     the earlier load (found by the source column) are deleted with those of the other versions.
    ///
    /// One file load at a time per connection; plain statements on the same connection run inside its
    /// transaction until it ends.
    public func beginFileLoad(
        table: String, columns: [String], ledger: LedgerRecord,
        mode: LoadMode = .append, path: LoadPath = .loadDataLocalInfile,
        maxStatementBytes: Int = FileLoad.defaultMaxStatementBytes, reload: Bool = false
    ) async throws -> FileLoad {
        let operation = "begin file load"
        let tableID = try SQLIdentifier(table)
        guard tableID.name.lowercased() != Ledger.tableName, tableID != LoadPlan.stageTable else {
            throw MySQLError(
                code: .invalidIdentifier, message: "\(tableID.quoted) is not a load destination",
                operation: operation)
        }
        var columnIDs: [SQLIdentifier] = []
        var seen: Set<String> = []
        for column in columns {
            let id = try SQLIdentifier(column)
            guard seen.insert(id.name.lowercased()).inserted else {
                throw MySQLError(
                    code: .invalidIdentifier, message: "column \(column.debugDescription) is listed twice",
                    operation: operation)
            }
            columnIDs.append(id)
        }
        guard !columnIDs.isEmpty else {
            throw MySQLError(
                code: .invalidIdentifier, message: "a file load needs at least one column",
                operation: operation)
        }
        if seen.contains(LoadPlan.stageSequence.name) {
            throw MySQLError(
                code: .invalidIdentifier, message: "\(LoadPlan.stageSequence.quoted) is reserved by Esteira",
                operation: operation)
        }
        var sourceColumn: SQLIdentifier?
        if case .replaceByFile(let name) = mode {
            let id = try SQLIdentifier(name)
            guard !seen.contains(id.name.lowercased()) else {
                throw MySQLError(
                    code: .invalidConfiguration,
                    message:
                        "replace-by-file source column \(id.quoted) is also a loaded column: Esteira fills it with the ledger id",
                    operation: operation)
            }
            sourceColumn = id
        }
        if reload && sourceColumn == nil {
            throw MySQLError(
                code: .invalidConfiguration,
                message:
                    "a reload needs load mode replace-by-file with a source column, or the rows of the earlier load cannot be found",
                operation: operation)
        }
        try ledger.validate()
        let request = BeginRequest(
            table: tableID, columns: columnIDs, mode: mode, sourceColumn: sourceColumn, ledger: ledger, path: path,
            requestedLimit: max(maxStatementBytes, 1024), reload: reload,
            lockTimeout: max(.seconds(1), config.readTimeout - .seconds(5)))
        let begun = try await run { session throws(MySQLError) -> Begun in
            try Self.begin(session: session, request)
        }
        return FileLoad(
            plan: begun.state.plan, ledger: ledger, alreadyLoaded: begun.previous,
            rowsReplaced: begun.rowsReplaced, connection: self, state: begun.state)
    }

    struct BeginRequest: Sendable {
        let table: SQLIdentifier
        let columns: [SQLIdentifier]
        let mode: LoadMode
        let sourceColumn: SQLIdentifier?
        let ledger: LedgerRecord
        let path: LoadPath
        let requestedLimit: Int
        let reload: Bool
        let lockTimeout: Duration
    }

    struct Begun: Sendable {
        let state: LoadState
        let previous: LedgerEntry?
        let rowsReplaced: Int
    }

    /// On the connection thread.
    private static func begin(session: MySQLSession, _ request: BeginRequest) throws(MySQLError) -> Begun {
        let table = request.table
        let operation = "begin file load (\(request.mode.name)) into \(table.quoted)"
        guard session.activeLoad == nil else {
            throw MySQLError(
                code: .loadNotOpen, message: "another file load is open on this connection",
                operation: operation)
        }
        // One round trip: the current database, and the engine of the destination table.
        let check = try session.query(
            "SELECT DATABASE(), (SELECT `ENGINE` FROM information_schema.`TABLES` WHERE `TABLE_SCHEMA` = DATABASE() "
                + "AND `TABLE_NAME` = \(MySQLEscaping.literal(table.name)))",
            operation: operation)
        guard let database = check.rows.first?[0] else {
            throw MySQLError(
                code: .mysql(1046), sqlState: "3D000",
                message: "No database selected: put the database in the MySQL URL", operation: operation)
        }
        let qualified = "\(database).\(table.name)"
        if !session.checkedTables.contains(qualified) {
            guard let engine = check.rows.first?[1] else {
                throw MySQLError(
                    code: .noSuchTable, sqlState: "42S02",
                    message: "Table '\(qualified)' doesn't exist", operation: operation)
            }
            guard engine.lowercased() == "innodb" else {
                throw MySQLError(
                    code: .invalidConfiguration,
                    message: "table '\(qualified)' uses the \(engine) engine; a file load needs InnoDB to be atomic",
                    operation: operation)
            }
            session.checkedTables.insert(qualified)
        }
        if !session.ledgerReady.contains(database) {
            // DDL commits implicitly, so this runs before the transaction starts.
            try Ledger.prepare(session: session)
            session.ledgerReady.insert(database)
        }
        let settings = try session.serverSettings()
        // The packet also carries a command byte and a header: leave a margin.
        let packet = settings.maxAllowedPacket
        let limit = min(request.requestedLimit, max(packet - 1024, packet / 2))

        var columnsInfo: [String: TableColumnInfo] = [:]
        if request.mode != .append {
            columnsInfo = try TableColumnInfo.load(table: table, session: session, operation: operation)
        }
        if request.mode.needsUniqueKey {
            let keys = try session.query(
                "SELECT 1 FROM information_schema.`STATISTICS` WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = "
                    + "\(MySQLEscaping.literal(table.name)) AND `NON_UNIQUE` = 0 LIMIT 1", operation: operation)
            guard !keys.rows.isEmpty else {
                throw MySQLError(
                    code: .invalidConfiguration,
                    message:
                        "table '\(qualified)' has no primary or unique key, so \(request.mode.name) cannot tell which rows already exist: add a key, or use append",
                    operation: operation)
            }
        }
        if let source = request.sourceColumn {
            guard let info = columnsInfo[source.name.lowercased()] else {
                throw MySQLError(
                    code: .invalidConfiguration,
                    message:
                        "table '\(qualified)' has no column \(source.quoted) for replace-by-file: add `\(source.name)` BIGINT UNSIGNED NULL with an index",
                    operation: operation)
            }
            guard info.dataType == "bigint" else {
                throw MySQLError(
                    code: .invalidConfiguration,
                    message:
                        "replace-by-file source column \(source.quoted) is \(info.columnType); it holds ledger ids and must be BIGINT (UNSIGNED)",
                    operation: operation)
            }
        }

        var path = request.path
        if path == .loadDataLocalInfile && !settings.localInfile {
            LoadState.noticeFallback("@@local_infile is OFF")
            path = .batchedInsert
        }

        let record = request.ledger
        let lockName = request.sourceColumn == nil ? nil : Ledger.lockNameExpression(record)
        let preliminary = LoadPlan(
            table: table, columns: request.columns, mode: request.mode,
            rowTarget: LoadPlan.usesStage(request.mode) ? LoadPlan.stageTable : table,
            constantColumns: [], lockName: lockName)
        // Both the staging table and the named lock live outside the transaction: created and taken first.
        if preliminary.usesStage {
            try createStage(session: session, plan: preliminary, columnsInfo: columnsInfo, operation: operation)
        }
        if let lockName {
            do {
                try takeLock(
                    lockName, timeout: request.lockTimeout, record: record, session: session,
                    operation: operation)
            } catch {
                LoadState.releaseResources(
                    plan: LoadPlan(
                        table: table, columns: request.columns, mode: request.mode,
                        rowTarget: preliminary.rowTarget, constantColumns: [],
                        lockName: nil), session: session)
                throw error
            }
        }

        let ledgerID: UInt64
        var rowsReplaced = 0
        do throws(MySQLError) {
            try session.execute("START TRANSACTION", operation: operation)
            var generation = 1
            if request.reload {
                generation = try supersede(record, session: session)
            }
            do throws(MySQLError) {
                try session.execute(
                    Ledger.insert(record, table: table, generation: generation),
                    operation: "file load: insert ledger row")
            } catch  where error.code == .duplicateEntry {
                _ = try? session.execute("ROLLBACK", operation: operation)
                LoadState.releaseResources(plan: preliminary, session: session)
                // Loaded before, or by a concurrent load that has just committed: report what it recorded.
                let result = try session.query(Ledger.select(record), operation: "read esteira_ledger")
                guard let previous = Ledger.entry(from: result) else { throw error }
                return Begun(state: .finished(plan: preliminary, path: path), previous: previous, rowsReplaced: 0)
            }
            ledgerID = session.lastInsertID
            if let source = request.sourceColumn {
                rowsReplaced = try deletePreviousVersions(
                    table: table, source: source, record: record, ledgerID: ledgerID, session: session)
            }
        } catch {
            _ = try? session.execute("ROLLBACK", operation: operation)
            LoadState.releaseResources(plan: preliminary, session: session)
            throw error
        }

        let constants = request.sourceColumn.map { [($0, String(ledgerID))] } ?? []
        let plan = LoadPlan(
            table: table, columns: request.columns, mode: request.mode,
            rowTarget: preliminary.rowTarget, constantColumns: constants, lockName: lockName)
        let state = LoadState(ledgerID: ledgerID, plan: plan, path: path, maxStatementBytes: limit)
        session.activeLoad = ObjectIdentifier(state)
        return Begun(state: state, previous: nil, rowsReplaced: rowsReplaced)
    }

    /// The staging table of the keyed modes (upsert, insert-ignore): the loaded columns with the table's own types, charsets and nullability
    /// (so bad values warn exactly as they would in the table), no keys (so every row of the file gets in,
    /// duplicates included), and a sequence that keeps file order. A temporary table is private to the
    /// session; it is created outside the transaction because some servers (MySQL with GTIDs) refuse
    /// temporary-table DDL inside one.
    private static func createStage(
        session: MySQLSession, plan: LoadPlan, columnsInfo: [String: TableColumnInfo],
        operation: String
    ) throws(MySQLError) {
        var definitions = ["\(LoadPlan.stageSequence.quoted) BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY"]
        for column in plan.columns {
            guard let info = columnsInfo[column.name.lowercased()] else {
                throw MySQLError(
                    code: .badField, sqlState: "42S22",
                    message: "Unknown column '\(column.name)' in table '\(plan.table.name)'",
                    operation: operation)
            }
            definitions.append("\(column.quoted) \(info.definition)")
        }
        try session.execute("DROP TEMPORARY TABLE IF EXISTS \(LoadPlan.stageTable.quoted)", operation: operation)
        try session.execute(
            "CREATE TEMPORARY TABLE \(LoadPlan.stageTable.quoted) (\(definitions.joined(separator: ", "))) ENGINE=InnoDB",
            operation: "\(operation): create staging table")
    }

    /// Two loads of versions of the same file must not interleave their delete-then-insert, or rows of both
    /// could survive. A named lock per file serialises them (it is not transactional, so it is taken before
    /// the transaction and released after it; a lost connection releases it too).
    private static func takeLock(
        _ name: String, timeout: Duration, record: LedgerRecord, session: MySQLSession,
        operation: String
    ) throws(MySQLError) {
        let seconds = timeout.wholeSecondsRoundedUp
        let got = try session.query("SELECT GET_LOCK(\(name), \(seconds))", operation: "\(operation): lock file")
        guard got.scalar == "1" else {
            throw MySQLError(
                code: .lockWaitTimeout, sqlState: "HY000",
                message:
                    "another load of s3://\(record.bucket)/\(record.key) held the replace-by-file lock for \(seconds)s; retry later",
                operation: operation)
        }
    }

    /// A reload, in its transaction: the ledger row of this version (if any) keeps its history but leaves
    /// the unique key, so the new attempt can take it. The row stays locked until the transaction ends, so a
    /// normal delivery of the same version waits, then finds the new row and reports it already loaded.
    /// Returns the new attempt's generation.
    private static func supersede(_ record: LedgerRecord, session: MySQLSession) throws(MySQLError) -> Int {
        let found = try session.query(
            "SELECT `id`, `generation` FROM `esteira_ledger` WHERE `source_id` = \(Ledger.sourceIDExpression(record)) FOR UPDATE",
            operation: "reload: lock the earlier ledger row")
        guard let row = found.rows.first, let id = row[0].flatMap({ UInt64($0) }) else { return 1 }
        let generation = row[1].flatMap { Int($0) } ?? 1
        try session.execute(
            "UPDATE `esteira_ledger` SET `state` = 'superseded', "
                + "`source_id` = SHA2(CONCAT(`source_id`, '\\nsuperseded\\n', `id`), 256) WHERE `id` = \(id)",
            operation: "reload: supersede the earlier ledger row")
        return generation + 1
    }

    private static func deletePreviousVersions(
        table: SQLIdentifier, source: SQLIdentifier, record: LedgerRecord, ledgerID: UInt64, session: MySQLSession
    ) throws(MySQLError) -> Int {
        // Ids first, then a DELETE by an explicit list: a DELETE with an IN (subquery) is not turned into a
        // semi-join by every server and can scan the whole table.
        let previous = try session.query(
            Ledger.previousVersions(record, table: table, excluding: ledgerID),
            operation: "file load: find previous versions")
        let ids = previous.rows.compactMap { $0.first ?? nil }.compactMap { UInt64($0) }
        guard !ids.isEmpty else { return 0 }
        var deleted: UInt64 = 0
        for chunk in stride(from: 0, to: ids.count, by: 1000) {
            let list = ids[chunk..<min(chunk + 1000, ids.count)].map(String.init).joined(separator: ",")
            deleted += try session.execute(
                "DELETE FROM \(table.quoted) WHERE \(source.quoted) IN (\(list))",
                operation: "file load: delete rows of previous versions")
        }
        return Int(deleted)
    }
}

/// One column of an existing table, as information_schema describes it.
struct TableColumnInfo: Sendable {
    let name: String
    let dataType: String
    let columnType: String
    let isNullable: Bool
    let charset: String?
    let collation: String?
    let defaultValue: String?
    let extra: String
    let ordinal: Int

    /// A column definition with the same type, charset and nullability (for the staging table).
    var definition: String {
        var text = columnType
        if let charset, let collation, SQLIdentifier.isValid(charset), SQLIdentifier.isValid(collation) {
            text += " CHARACTER SET \(charset) COLLATE \(collation)"
        }
        return text + (isNullable ? " NULL" : " NOT NULL")
    }

    /// Keyed by lowercased name (MySQL column names are case-insensitive).
    static func load(table: SQLIdentifier, session: MySQLSession, operation: String) throws(MySQLError)
        -> [String: TableColumnInfo]
    {
        let result = try session.query(
            "SELECT `COLUMN_NAME`, `DATA_TYPE`, `COLUMN_TYPE`, `IS_NULLABLE`, `CHARACTER_SET_NAME`, `COLLATION_NAME`, "
                + "`COLUMN_DEFAULT`, `EXTRA`, `ORDINAL_POSITION` FROM information_schema.`COLUMNS` "
                + "WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = \(MySQLEscaping.literal(table.name))",
            operation: operation)
        var columns: [String: TableColumnInfo] = [:]
        for row in result.rows where row.count == 9 {
            let info = TableColumnInfo(
                name: row[0] ?? "", dataType: (row[1] ?? "").lowercased(), columnType: (row[2] ?? "").lowercased(),
                isNullable: row[3] == "YES", charset: row[4], collation: row[5], defaultValue: row[6],
                extra: (row[7] ?? "").lowercased(), ordinal: Int(row[8] ?? "") ?? 0)
            columns[info.name.lowercased()] = info
        }
        return columns
    }
}
