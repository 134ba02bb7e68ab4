/// One file loaded into one table as one transaction, exactly once per object version.
///
/// Obtained from ``MySQLConnection/beginFileLoad(table:columns:ledger:maxStatementBytes:)``, which opens the
/// transaction and inserts the ledger row first. Then ``append(_:)`` batches of rows (each call is one hop;
/// awaiting it is the backpressure), and ``commit(rowsRejected:checksum:)``. Any error fails the load: its
/// transaction is rolled back at once, and the same error is thrown again by `commit`, so a caller cannot
/// commit half a file. Dropping an open load rolls it back too.
///
/// If the version was already loaded, ``alreadyLoaded`` is set from the start — the caller may skip the
/// download — appends are ignored and `commit` returns ``LoadOutcome/alreadyLoaded(_:)``.
///
/// A transient error from `commit` can mean the commit happened but its answer was lost. Retrying the whole
/// file is still safe: the retry will find the ledger row and return `.alreadyLoaded`.
public final class FileLoad: Sendable {
    public let table: String
    public let columns: [String]
    public let ledger: LedgerRecord
    /// Set when this object version is already in the ledger: nothing will be inserted.
    public let alreadyLoaded: LedgerEntry?
    public let connection: MySQLConnection
    let state: LoadState

    /// 4 MiB statements: large enough that round trips stop mattering, small enough to keep memory flat.
    public static let defaultMaxStatementBytes = 4 << 20

    init(table: String, columns: [String], ledger: LedgerRecord, alreadyLoaded: LedgerEntry?,
         connection: MySQLConnection, state: LoadState) {
        self.table = table
        self.columns = columns
        self.ledger = ledger
        self.alreadyLoaded = alreadyLoaded
        self.connection = connection
        self.state = state
    }

    /// Inserts `rows` (each with one value per column; nil is NULL) inside the load's transaction, as a few
    /// multi-row INSERTs, in one hop to the connection's thread.
    public func append(_ rows: [[String?]]) async throws {
        guard alreadyLoaded == nil, !rows.isEmpty else { return }
        let state = self.state
        try await connection.run { session in try state.append(rows, session: session) }
    }

    /// Records the final counts in the ledger row and commits rows and ledger together.
    ///
    /// - Parameters:
    ///   - rowsRejected: rows the pipeline rejected; defaults to the value in ``ledger``.
    ///   - checksum: the source object's checksum; defaults to the value in ``ledger``.
    public func commit(rowsRejected: Int? = nil, checksum: String? = nil) async throws -> LoadOutcome {
        if let alreadyLoaded { return .alreadyLoaded(alreadyLoaded) }
        var final = ledger
        if let rowsRejected { final.rowsRejected = rowsRejected }
        if let checksum { final.checksum = checksum }
        try final.validate()
        let state = self.state
        let (rejected, sum) = (final.rowsRejected, final.checksum)
        let rows = try await connection.run { session in
            try state.commit(rowsRejected: rejected, checksum: sum, session: session)
        }
        return .loaded(rows: rows)
    }

    /// Rolls the load back (nothing of it stays). Harmless after commit, failure or a previous rollback.
    public func rollback() async {
        guard alreadyLoaded == nil else { return }
        let state = self.state
        _ = try? await connection.run { session in state.rollback(session: session) }
    }

    deinit {
        guard alreadyLoaded == nil else { return }
        let state = self.state
        // Fire and forget: if the load is still open, end its transaction on the connection's thread.
        _ = connection.thread.submit { session in
            if let session { state.rollback(session: session) }
        }
    }
}

/// The mutable side of a ``FileLoad``.
///
/// `@unchecked Sendable`: every method and field is used only on the owning connection's thread (from
/// inside a hop), one job at a time, so there is no concurrent access.
final class LoadState: @unchecked Sendable {
    enum Phase {
        case open
        case committed
        case rolledBack
        case failed(MySQLError)
    }

    let ledgerID: UInt64
    let builder: InsertStatementBuilder
    private(set) var phase: Phase = .open
    private(set) var rowsInserted = 0
    private let operation: String

    init(ledgerID: UInt64, builder: InsertStatementBuilder) {
        self.ledgerID = ledgerID
        self.builder = builder
        self.operation = "file load: insert into \(builder.table.quoted)"
    }

    /// A state for a load that found its version already in the ledger: never open.
    static func finished(builder: InsertStatementBuilder) -> LoadState {
        let state = LoadState(ledgerID: 0, builder: builder)
        state.phase = .committed
        return state
    }

    func append(_ rows: [[String?]], session: MySQLSession) throws(MySQLError) {
        try requireOpen("append")
        do {
            try builder.build(rows, firstRowNumber: rowsInserted) { (statement, count) throws(MySQLError) in
                try session.execute(bytes: statement, operation: operation)
                rowsInserted += count
            }
        } catch {
            fail(error, session: session)
            throw error
        }
    }

    func commit(rowsRejected: Int, checksum: String, session: MySQLSession) throws(MySQLError) -> Int {
        try requireOpen("commit")
        do {
            try session.execute(
                Ledger.finish(id: ledgerID, rowsLoaded: rowsInserted, rowsRejected: rowsRejected, checksum: checksum),
                operation: "file load: update ledger")
            try session.execute("COMMIT", operation: "file load: commit")
        } catch {
            fail(error, session: session)
            throw error
        }
        phase = .committed
        session.activeLoad = nil
        return rowsInserted
    }

    func rollback(session: MySQLSession) {
        guard case .open = phase else { return }
        _ = try? session.execute("ROLLBACK", operation: "file load: rollback")
        phase = .rolledBack
        session.activeLoad = nil
    }

    private func fail(_ error: MySQLError, session: MySQLSession) {
        // Deadlocks already rolled the whole transaction back; every other error leaves it open. Either
        // way, end it now so no lock is held while the caller decides what to do.
        _ = try? session.execute("ROLLBACK", operation: "file load: rollback")
        phase = .failed(error)
        session.activeLoad = nil
    }

    private func requireOpen(_ what: String) throws(MySQLError) {
        switch phase {
        case .open: return
        case .failed(let error): throw error  // the original error, with its classification
        case .committed:
            throw MySQLError(code: .loadNotOpen, message: "\(what) after the load was committed", operation: operation)
        case .rolledBack:
            throw MySQLError(code: .loadNotOpen, message: "\(what) after the load was rolled back", operation: operation)
        }
    }
}

extension MySQLConnection {
    /// Starts loading one object version into `table`: validates the names (before any SQL), makes sure
    /// `esteira_ledger` exists, checks that `table` is InnoDB, then — in a new transaction — inserts the
    /// ledger row. If another load of the same version is open, this waits on the ledger's unique key until
    /// that load commits (then returns an already-loaded `FileLoad`) or rolls back (then proceeds).
    ///
    /// One file load at a time per connection; plain statements on the same connection run inside its
    /// transaction until it ends.
    public func beginFileLoad(
        table: String, columns: [String], ledger: LedgerRecord,
        maxStatementBytes: Int = FileLoad.defaultMaxStatementBytes
    ) async throws -> FileLoad {
        let tableID = try SQLIdentifier(table)
        guard tableID.name.lowercased() != Ledger.tableName else {
            throw MySQLError(code: .invalidIdentifier, message: "`esteira_ledger` is not a load destination",
                             operation: "begin file load")
        }
        var columnIDs: [SQLIdentifier] = []
        var seen: Set<String> = []
        for column in columns {
            let id = try SQLIdentifier(column)
            guard seen.insert(id.name.lowercased()).inserted else {
                throw MySQLError(code: .invalidIdentifier, message: "column \(column.debugDescription) is listed twice",
                                 operation: "begin file load")
            }
            columnIDs.append(id)
        }
        guard !columnIDs.isEmpty else {
            throw MySQLError(code: .invalidIdentifier, message: "a file load needs at least one column",
                             operation: "begin file load")
        }
        try ledger.validate()
        let requestedLimit = max(maxStatementBytes, 1024)

        let columnList = columnIDs
        let begun = try await run { session throws(MySQLError) -> Begun in
            try Self.begin(session: session, table: tableID, columns: columnList, ledger: ledger,
                           requestedLimit: requestedLimit)
        }
        return FileLoad(table: tableID.name, columns: columnList.map(\.name), ledger: ledger,
                        alreadyLoaded: begun.previous, connection: self, state: begun.state)
    }

    struct Begun: Sendable {
        let state: LoadState
        let previous: LedgerEntry?
    }

    /// On the connection thread.
    private static func begin(
        session: MySQLSession, table: SQLIdentifier, columns: [SQLIdentifier], ledger: LedgerRecord,
        requestedLimit: Int
    ) throws(MySQLError) -> Begun {
        let operation = "begin file load into \(table.quoted)"
        guard session.activeLoad == nil else {
            throw MySQLError(code: .loadNotOpen, message: "another file load is open on this connection",
                             operation: operation)
        }
        // One round trip: the current database, and the engine of the destination table.
        let check = try session.query(
            "SELECT DATABASE(), (SELECT `ENGINE` FROM information_schema.`TABLES` WHERE `TABLE_SCHEMA` = DATABASE() "
                + "AND `TABLE_NAME` = \(MySQLEscaping.literal(table.name)))",
            operation: operation)
        guard let database = check.rows.first?[0] else {
            throw MySQLError(code: .mysql(1046), sqlState: "3D000",
                             message: "No database selected: put the database in the MySQL URL", operation: operation)
        }
        let qualified = "\(database).\(table.name)"
        if !session.checkedTables.contains(qualified) {
            guard let engine = check.rows.first?[1] else {
                throw MySQLError(code: .noSuchTable, sqlState: "42S02",
                                 message: "Table '\(qualified)' doesn't exist", operation: operation)
            }
            guard engine.lowercased() == "innodb" else {
                throw MySQLError(code: .invalidConfiguration,
                                 message: "table '\(qualified)' uses the \(engine) engine; a file load needs InnoDB to be atomic",
                                 operation: operation)
            }
            session.checkedTables.insert(qualified)
        }
        if !session.ledgerReady.contains(database) {
            // DDL commits implicitly, so this runs before the transaction starts.
            try session.execute(Ledger.createTable, operation: "create esteira_ledger")
            session.ledgerReady.insert(database)
        }
        // The packet also carries a command byte and a header: leave a margin.
        let packet = try session.maxAllowedPacket()
        let limit = min(requestedLimit, max(packet - 1024, packet / 2))
        let builder = InsertStatementBuilder(table: table, columns: columns, maxStatementBytes: limit)

        try session.execute("START TRANSACTION", operation: operation)
        do {
            try session.execute(Ledger.insert(ledger, table: table), operation: "file load: insert ledger row")
        } catch {
            _ = try? session.execute("ROLLBACK", operation: operation)
            guard error.code == .duplicateEntry else { throw error }
            // Loaded before, or by a concurrent load that has just committed: report what it recorded.
            let result = try session.query(Ledger.select(ledger), operation: "read esteira_ledger")
            guard let previous = Ledger.entry(from: result) else { throw error }
            return Begun(state: .finished(builder: builder), previous: previous)
        }
        let state = LoadState(ledgerID: session.lastInsertID, builder: builder)
        session.activeLoad = ObjectIdentifier(state)
        return Begun(state: state, previous: nil)
    }
}
