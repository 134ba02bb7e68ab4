/// One file loaded into one table as one transaction, exactly once per object version.
///
/// Obtained from ``MySQLConnection/beginFileLoad(table:columns:ledger:mode:path:maxStatementBytes:)``, which
/// opens the transaction and inserts the ledger row first. Then append batches of rows — a ``LoadBatch`` from
/// ``makeBatch()``, filled with each row's bytes, or `[[String?]]` — (awaiting `append` is the
/// backpressure), and ``commit(rowsRejected:checksum:)``. Any error fails the load: its transaction is rolled back at once,
/// and the same error is thrown again by `commit`, so a caller cannot commit half a file. Dropping an open
/// load rolls it back too.
///
/// Rows go in with `LOAD DATA LOCAL INFILE` fed from memory (consecutive batches stream into one open
/// statement, see ``LoadDataFeed``), or, when the server has `local_infile` off, as multi-row INSERTs under
/// max_allowed_packet (``path`` says which). On
/// the bulk path MySQL turns bad values into warnings and stores converted data; the load treats any
/// warning as a failure and reports MySQL's own text (the first few of `SHOW WARNINGS`).
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
    public let mode: LoadMode
    /// The path chosen when the load began. (Should the server refuse LOCAL INFILE mid-load, the rest of
    /// the file falls back to INSERTs; the next load on the connection starts on the fallback.)
    public let path: LoadPath
    /// This load's row in `esteira_ledger` (nil when already loaded). In replace-by-file mode every row
    /// carries it in the source column.
    public let ledgerID: UInt64?
    /// Set when this object version is already in the ledger: nothing will be inserted.
    public let alreadyLoaded: LedgerEntry?
    /// Rows of earlier versions of the file deleted when the load began (replace-by-file only; they come
    /// back if the load is rolled back).
    public let rowsReplaced: Int
    public let connection: MySQLConnection
    let state: LoadState
    /// INSERT batches: the one being stored.
    private let inFlight = InFlightBatch()
    /// LOAD DATA batches: the open statement reading them.
    private let feed = LoadDataFeed()

    /// 4 MiB statements: large enough that round trips stop mattering, small enough to keep memory flat.
    public static let defaultMaxStatementBytes = 4 << 20

    init(
        plan: LoadPlan, ledger: LedgerRecord, alreadyLoaded: LedgerEntry?, rowsReplaced: Int,
        connection: MySQLConnection, state: LoadState
    ) {
        self.table = plan.table.name
        self.columns = plan.columns.map(\.name)
        self.mode = plan.mode
        self.path = state.path
        self.ledgerID = alreadyLoaded == nil ? state.ledgerID : nil
        self.ledger = ledger
        self.alreadyLoaded = alreadyLoaded
        self.rowsReplaced = rowsReplaced
        self.connection = connection
        self.state = state
    }

    /// An empty batch for this load's next ``append(_:)-(LoadBatch)``, encoded for the path the load is on
    /// (LOAD DATA text, or INSERT statements on the fallback). Fill it with rows, then append it.
    public func makeBatch() -> LoadBatch {
        let (firstRow, capacity) = inFlight.nextBatchHint()
        switch state.pathHint.value {
        case .loadDataLocalInfile:
            return LoadBatch(columnCount: columns.count, insert: nil, firstRowNumber: firstRow, capacity: capacity)
        case .batchedInsert:
            return state.insertBuilder.batch(firstRowNumber: firstRow, capacity: capacity)
        }
    }

    /// Sends `rows` (each with one value per column; nil is NULL) inside the load's transaction: the same
    /// as filling a ``makeBatch()`` with them and appending it.
    public func append(_ rows: [[String?]]) async throws {
        guard alreadyLoaded == nil, !rows.isEmpty else { return }
        var batch = makeBatch()
        do {
            for row in rows { try batch.append(row) }
        } catch {
            await abandon(error)
            throw error
        }
        try await append(batch)
    }

    /// Sends the batch's rows inside the load's transaction.
    ///
    /// Pipelined, one batch deep: the batch is handed to the connection's thread, and `append` returns
    /// once the *previous* batch has been sent — so the caller fills batch N+1 while MySQL stores batch N,
    /// and memory stays at two batches. On the bulk path consecutive batches stream into one open
    /// `LOAD DATA` statement (it ends at commit, or after a pause between batches), so MySQL never waits
    /// for a statement to start. An error in batch N is therefore thrown by a later `append` or by
    /// `commit` (the load is already rolled back by then); warnings about bad values, counted per
    /// statement, usually surface at `commit`.
    ///
    /// The batch must come from this load's ``makeBatch()`` or from ``LoadBatch/init(columnCount:)`` with
    /// one value per column, and have no unfinished row.
    public func append(_ batch: LoadBatch) async throws {
        guard alreadyLoaded == nil, !batch.isEmpty else { return }
        try inFlight.throwIfFailed()
        let state = self.state
        var batch = batch
        guard batch.columnCount == columns.count, !batch.hasUnfinishedRow,
            batch.insert == nil || batch.insert == state.insertBuilder.layout
        else {
            let error = MySQLError(
                code: .invalidRow,
                message: batch.columnCount != columns.count
                    ? "a batch of rows with \(batch.columnCount) fields; the load has \(columns.count) columns"
                    : batch.hasUnfinishedRow
                        ? "a batch with an unfinished row (appendField without endRow)"
                        : "a batch made for another load",
                operation: state.plan.operation)
            await abandon(error)
            throw error
        }
        batch.firstRowNumber = inFlight.reserve(batch.count, bytes: batch.byteCount)
        let numbered = batch
        if numbered.isLoadData {
            offering: while true {
                switch feed.offer(numbered, onInsertPath: state.pathHint.value == .batchedInsert) {
                case .accepted(let startStatement):
                    if startStatement { self.startStatement() }
                    return
                case .full:
                    await feed.waitForRoom()
                case .failed(let error):
                    throw error
                case .useInserts:
                    break offering
                }
            }
        }
        let completion = BatchCompletion()
        inFlight.add(completion)
        let queued = connection.thread.submit { session in
            guard let session else {
                return completion.finish(.failure(MySQLSession.closedError(state.plan.operation)))
            }
            completion.finish(Result { try state.append(numbered, session: session) })
        }
        if !queued { completion.finish(.failure(MySQLSession.closedError(state.plan.operation))) }
        try await inFlight.waitForPrevious()
    }

    /// Queues, at once (so nothing queued later can overtake it), a LOAD DATA statement reading the feed.
    private func startStatement() {
        let (state, feed) = (self.state, self.feed)
        let queued = connection.thread.submit { session in
            guard let session else { return feed.fail(MySQLSession.closedError(state.plan.operation)) }
            _ = try? state.streamLoadData(feed, session: session)
        }
        if !queued { feed.fail(MySQLSession.closedError(state.plan.operation)) }
    }

    /// Fails the load with an error raised on the caller's side (a bad row), so nothing half-done commits.
    private func abandon(_ error: any Error) async {
        let state = self.state
        feed.fail(error)
        _ = try? await inFlight.wait()
        _ = try? await connection.run { session in state.abandon(error, session: session) }
        inFlight.close(error)
    }

    /// Records the final counts in the ledger row and commits rows and ledger together.
    ///
    /// - Parameters:
    ///   - rowsRejected: rows the pipeline rejected; defaults to the value in ``ledger``.
    ///   - checksum: the source object's checksum; defaults to the value in ``ledger``.
    /// - Returns: `.loaded(rows:)` with the rows sent to MySQL (in insert-ignore mode this includes rows
    ///   skipped as duplicates; in upsert mode rows that updated existing ones).
    public func commit(rowsRejected: Int? = nil, checksum: String? = nil, rejectsURI: String? = nil) async throws
        -> LoadOutcome
    {
        if let alreadyLoaded { return .alreadyLoaded(alreadyLoaded) }
        var final = ledger
        if let rowsRejected { final.rowsRejected = rowsRejected }
        if let checksum { final.checksum = checksum }
        try final.validate()
        feed.close()
        try await inFlight.wait()
        let state = self.state
        let (rejected, sum) = (final.rowsRejected, final.checksum)
        let rows = try await connection.run { session in
            try state.commit(rowsRejected: rejected, checksum: sum, rejectsURI: rejectsURI, session: session)
        }
        inFlight.close(
            MySQLError(
                code: .loadNotOpen, message: "the load was already committed",
                operation: state.plan.operation))
        return .loaded(rows: rows)
    }

    /// Rolls the load back (nothing of it stays). Harmless after commit, failure or a previous rollback.
    public func rollback() async {
        guard alreadyLoaded == nil else { return }
        feed.close()
        _ = try? await inFlight.wait()
        let state = self.state
        _ = try? await connection.run { session in state.rollback(session: session) }
        inFlight.close(
            MySQLError(code: .loadNotOpen, message: "the load was rolled back", operation: state.plan.operation))
    }

    deinit {
        guard alreadyLoaded == nil else { return }
        feed.close()
        let state = self.state
        // Fire and forget: if the load is still open, end its transaction on the connection's thread.
        _ = connection.thread.submit { session in
            if let session { state.rollback(session: session) }
        }
    }
}

/// Everything about a load decided before its first row: the SQL it will run.
struct LoadPlan: Sendable {
    static let stageTable = try! SQLIdentifier("esteira_stage")
    static let stageSequence = try! SQLIdentifier("esteira_stage_seq")
    static let streamName = "esteira-rows"

    let table: SQLIdentifier
    let columns: [SQLIdentifier]
    let mode: LoadMode
    /// Where row statements write: the table, or (upsert) the session's staging table.
    let rowTarget: SQLIdentifier
    /// (column, SQL literal) set on every row: the source column in replace-by-file mode.
    let constantColumns: [(SQLIdentifier, String)]
    /// `GET_LOCK` name (an SQL expression) held for the load in replace-by-file mode.
    let lockName: String?

    var operation: String { "file load (\(mode.name)) into \(table.quoted)" }

    var usesStage: Bool { Self.usesStage(mode) }

    /// The keyed modes load into a staging table (no keys) and merge at commit. For upsert that gives true
    /// `ON DUPLICATE KEY UPDATE`. For insert-ignore it keeps duplicate keys out of LOAD DATA: loaded
    /// straight into the table with IGNORE, every skipped row would be a warning, and a bad value could
    /// only be told from them by counting — the protocol's count stops at 65,535, `SHOW WARNINGS` keeps only
    /// `max_error_count` of them, and a row skipped for its foreign key counts exactly like a duplicate.
    /// Into the stage, any warning at all is a changed value, in every mode.
    static func usesStage(_ mode: LoadMode) -> Bool { mode == .upsert || mode == .insertIgnore }

    func loadDataStatement() -> String {
        // No IGNORE: nothing is skipped on purpose here (with LOCAL, MySQL turns errors into warnings anyway,
        // and any warning fails the load).
        var sql =
            "LOAD DATA LOCAL INFILE '\(Self.streamName)' INTO TABLE \(rowTarget.quoted) "
            + "\(LoadDataFormat.clause) (\(columns.map(\.quoted).joined(separator: ",")))"
        if !constantColumns.isEmpty {
            sql += " SET " + constantColumns.map { "\($0.0.quoted) = \($0.1)" }.joined(separator: ", ")
        }
        return sql
    }

    func insertBuilder(maxStatementBytes: Int) -> InsertStatementBuilder {
        InsertStatementBuilder(
            table: rowTarget, columns: columns, maxStatementBytes: maxStatementBytes,
            constantColumns: constantColumns, suffix: "")
    }

    /// The staged rows into the table, in file order. Upsert: the last row for a key wins. Insert-ignore:
    /// the first row for a key wins and later ones are a no-op update — not INSERT IGNORE, which would also
    /// skip a row whose foreign key has no parent (and convert bad values), while this skips duplicate keys
    /// only; any other failure is an error under strict sql_mode.
    func mergeStatement() -> String {
        let list = columns.map(\.quoted).joined(separator: ",")
        let updates =
            mode == .insertIgnore
            ? "\(table.quoted).\(columns[0].quoted) = \(table.quoted).\(columns[0].quoted)"
            : columns.map { "\($0.quoted) = \(Self.stageTable.quoted).\($0.quoted)" }.joined(separator: ", ")
        return "INSERT INTO \(table.quoted) (\(list)) SELECT \(list) FROM \(Self.stageTable.quoted) "
            + "ORDER BY \(Self.stageSequence.quoted) ON DUPLICATE KEY UPDATE \(updates)"
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
    let plan: LoadPlan
    /// The path, as the connection's thread knows it.
    private(set) var path: LoadPath
    /// The same, readable from the caller's task to encode the next batch (a stale read only costs a
    /// re-encode on the thread).
    let pathHint: Locked<LoadPath>
    let maxStatementBytes: Int
    /// The fallback's statements.
    let insertBuilder: InsertStatementBuilder
    let loadDataStatement: String
    private(set) var phase: Phase = .open
    private(set) var rowsSent = 0

    init(ledgerID: UInt64, plan: LoadPlan, path: LoadPath, maxStatementBytes: Int) {
        self.ledgerID = ledgerID
        self.plan = plan
        self.path = path
        self.pathHint = Locked(path)
        self.maxStatementBytes = maxStatementBytes
        self.insertBuilder = plan.insertBuilder(maxStatementBytes: maxStatementBytes)
        self.loadDataStatement = plan.loadDataStatement()
    }

    /// A state for a load that found its version already in the ledger: never open.
    static func finished(plan: LoadPlan, path: LoadPath) -> LoadState {
        let state = LoadState(ledgerID: 0, plan: plan, path: path, maxStatementBytes: 0)
        state.phase = .committed
        return state
    }

    func append(_ batch: LoadBatch, session: MySQLSession) throws(MySQLError) {
        try requireOpen("append")
        do throws(MySQLError) {
            // (LOAD DATA batches come here only on the INSERT path: made before the load began or before the
            // server refused LOCAL INFILE. On the bulk path they go to the open statement, `streamLoadData`.)
            try insert(batch.isLoadData ? batch.converted(to: insertBuilder.layout) : batch, session: session)
            rowsSent += batch.count
        } catch {
            fail(error, session: session)
            throw error
        }
    }

    /// One LOAD DATA statement reading batches from `feed` until it closes, fails or idles. A refusal
    /// (local_infile turned off since the load began) switches the load to INSERTs, starting with the
    /// batch the statement would have read. Errors fail the load and the feed.
    func streamLoadData(_ feed: LoadDataFeed, session: MySQLSession) throws(MySQLError) {
        do throws(MySQLError) {
            try requireOpen("append")
            if path == .loadDataLocalInfile {
                do throws(MySQLError) {
                    try loadData(from: feed, session: session)
                    return
                } catch  where Self.isLocalInfileRefusal(error) {
                    session.cachedLocalInfile = false
                    Self.noticeFallback(error.message)
                    path = .batchedInsert
                    pathHint.value = .batchedInsert
                }
            }
            // On the INSERT path now: send the waiting batch that way.
            if let batch = feed.takeRefused() {
                try insert(batch.converted(to: insertBuilder.layout), session: session)
                rowsSent += batch.count
            }
        } catch {
            if case .open = phase { fail(error, session: session) }
            feed.fail(error)
            throw error
        }
    }

    private func loadData(from feed: LoadDataFeed, session: MySQLSession) throws(MySQLError) {
        let result: LoadDataResult
        do {
            result = try session.loadDataLocalInfile(loadDataStatement, streamName: LoadPlan.streamName) { buffer in
                feed.read(into: buffer)
            }
        } catch let error as MySQLError {
            throw error
        } catch {
            throw MySQLError(code: .mysql(2000), message: "LOAD DATA failed: \(error)", operation: plan.operation)
        }
        let rowCount = feed.endStatement()
        try check(result, rowCount: rowCount, session: session)
        rowsSent += rowCount
    }

    /// Fails the load with an error raised outside the connection's thread (while encoding).
    func abandon(_ error: any Error, session: MySQLSession) {
        guard case .open = phase else { return }
        let failure =
            (error as? MySQLError)
            ?? MySQLError(code: .invalidRow, message: "\(error)", operation: plan.operation)
        fail(failure, session: session)
    }

    private func insert(_ batch: LoadBatch, session: MySQLSession) throws(MySQLError) {
        try batch.forEachStatement { (statement, _) throws(MySQLError) in
            try session.execute(statement, operation: plan.operation)
        }
    }

    /// A finished LOAD DATA statement: no warning at all, and every row read. (No mode skips duplicates in
    /// LOAD DATA: the keyed modes load a staging table without keys, see ``LoadPlan/usesStage(_:)``. So
    /// the protocol's warning count, which stops at 65,535, is only ever compared with zero.)
    private func check(_ result: LoadDataResult, rowCount: Int, session: MySQLSession) throws(MySQLError) {
        if result.warnings > 0 {
            throw warningsError(session: session, count: result.warnings)
        }
        if let records = result.records, records != UInt64(rowCount) {
            throw MySQLError(
                code: .invalidRow,
                message:
                    "MySQL read \(records) rows from a batch of \(rowCount): the row encoding does not match the LOAD DATA format",
                operation: plan.operation)
        }
    }

    /// MySQL's own words for what went wrong, with row numbers made relative to the whole load.
    private func warningsError(session: MySQLSession, count: UInt32) -> MySQLError {
        let warnings = (try? session.warnings(limit: 5)) ?? []
        let shown = warnings.prefix(3).map {
            "\($0.level) \($0.code): \(Self.shiftRowNumber($0.message, by: rowsSent))"
        }
        let more = Int(count) > shown.count ? " (and \(Int(count) - shown.count) more)" : ""
        let text = shown.isEmpty ? "\(count) warnings" : shown.joined(separator: "; ") + more
        let code: MySQLError.Code = warnings.first.map { .mysql($0.code) } ?? .mysql(1265)
        return MySQLError(
            code: code, sqlState: code == .duplicateEntry ? "23000" : "HY000",
            message: "MySQL changed or dropped values while loading, so the file is refused: \(text)",
            operation: plan.operation)
    }

    /// "… at row 3" counts from the start of one LOAD DATA statement; report it from the start of the load.
    static func shiftRowNumber(_ message: String, by offset: Int) -> String {
        guard offset > 0, let range = message.range(of: " at row ", options: .backwards),
            let number = Int(message[range.upperBound...])
        else { return message }
        return message[..<range.upperBound] + String(number + offset)
    }

    /// Server refusals of LOAD DATA LOCAL: 1148 (ER_NOT_ALLOWED_COMMAND, older servers), 3948 (MySQL 8
    /// ER_CLIENT_LOCAL_FILES_DISABLED), 4166 (MariaDB ER_LOAD_INFILE_CAPABILITY_DISABLED), 2068 (client side).
    static let localInfileRefusals: Set<UInt32> = [1148, 3948, 4166, 2068]

    static func isLocalInfileRefusal(_ error: MySQLError) -> Bool {
        localInfileRefusals.contains(error.mysqlErrorNumber ?? 0)
    }

    static func noticeFallback(_ why: String) {
        MySQLNotices.once(
            "local-infile-off",
            "the MySQL server refuses LOAD DATA LOCAL INFILE (\(why)); loads fall back to batched INSERTs, "
                + "which are slower: set local_infile=1 on the server (an RDS parameter group setting) for the bulk path"
        )
    }

    func commit(rowsRejected: Int, checksum: String, rejectsURI: String?, session: MySQLSession) throws(MySQLError)
        -> Int
    {
        try requireOpen("commit")
        do {
            if plan.usesStage {
                // No warning check: this is a plain INSERT … SELECT (never IGNORE) between columns of the same types, under
                // strict sql_mode, so a bad value is an error; warnings here are statement-level notes
                // (e.g. binlog safety) that say nothing about the data.
                try session.execute(plan.mergeStatement(), operation: "\(plan.operation): merge staged rows")
            }
            try session.execute(
                Ledger.finish(
                    id: ledgerID, rowsLoaded: rowsSent, rowsRejected: rowsRejected, checksum: checksum,
                    rejectsURI: rejectsURI),
                operation: "file load: update ledger")
            try session.execute("COMMIT", operation: "file load: commit")
        } catch {
            fail(error, session: session)
            throw error
        }
        phase = .committed
        release(session: session)
        return rowsSent
    }

    func rollback(session: MySQLSession) {
        guard case .open = phase else { return }
        _ = try? session.execute("ROLLBACK", operation: "file load: rollback")
        phase = .rolledBack
        release(session: session)
    }

    private func fail(_ error: MySQLError, session: MySQLSession) {
        // Deadlocks already rolled the whole transaction back; every other error leaves it open. Either
        // way, end it now so no lock is held while the caller decides what to do.
        _ = try? session.execute("ROLLBACK", operation: "file load: rollback")
        phase = .failed(error)
        release(session: session)
    }

    /// After the transaction ended: the named lock and the staging table (neither is transactional).
    private func release(session: MySQLSession) {
        LoadState.releaseResources(plan: plan, session: session)
        session.activeLoad = nil
    }

    static func releaseResources(plan: LoadPlan, session: MySQLSession) {
        guard !session.isBroken else { return }  // both die with the connection
        if let lockName = plan.lockName {
            _ = try? session.execute("DO RELEASE_LOCK(\(lockName))", operation: "file load: release lock")
        }
        if plan.usesStage {
            _ = try? session.execute(
                "DROP TEMPORARY TABLE IF EXISTS \(LoadPlan.stageTable.quoted)",
                operation: "file load: drop staging table")
        }
    }

    private func requireOpen(_ what: String) throws(MySQLError) {
        switch phase {
        case .open: return
        case .failed(let error): throw error  // the original error, with its classification
        case .committed:
            throw MySQLError(
                code: .loadNotOpen, message: "\(what) after the load was committed", operation: plan.operation)
        case .rolledBack:
            throw MySQLError(
                code: .loadNotOpen, message: "\(what) after the load was rolled back", operation: plan.operation)
        }
    }
}

/// The INSERT batches queued on the connection's thread, and the first error any batch hit.
///
/// A batch's job is queued on the thread at once, behind the one being stored, so the server never waits
/// for the caller between two statements; the caller waits only for the batch before it (at most one
/// stored, one queued, one being filled).
final class InFlightBatch: Sendable {
    private struct State {
        var queued: [BatchCompletion] = []
        var failure: (any Error)?
        var rowsEncoded = 0
        var lastBatchBytes = 0
    }

    private let state = Locked(State())

    /// Throws the first error a batch of the load hit, without waiting.
    func throwIfFailed() throws {
        if let failure = state.value.failure { throw failure }
    }

    /// Waits for every queued batch; throws the first error any batch of the load hit.
    func wait() async throws {
        try await wait(keepingNewest: false)
    }

    /// Waits for every queued batch but the newest.
    func waitForPrevious() async throws {
        try await wait(keepingNewest: true)
    }

    private func wait(keepingNewest: Bool) async throws {
        let (waiting, failure) = state.withLock { state in
            let count = keepingNewest ? max(0, state.queued.count - 1) : state.queued.count
            let waiting = Array(state.queued.prefix(count))
            state.queued.removeFirst(count)
            return (waiting, state.failure)
        }
        if let failure { throw failure }
        for completion in waiting {
            do {
                try await completion.value()
            } catch {
                state.withLock { $0.failure = $0.failure ?? error }
                throw error
            }
        }
    }

    /// The row number (0-based, within the load) of the next batch's first row.
    func reserve(_ count: Int, bytes: Int) -> Int {
        state.withLock { state in
            defer { state.rowsEncoded += count }
            state.lastBatchBytes = bytes
            return state.rowsEncoded
        }
    }

    /// For a new batch: its first row's number, and a buffer size that will likely not need to grow.
    func nextBatchHint() -> (firstRow: Int, capacity: Int) {
        state.withLock { ($0.rowsEncoded, $0.lastBatchBytes + $0.lastBatchBytes / 8) }
    }

    /// After commit, rollback or a failure: later calls fail with `error` (unless an earlier failure says more).
    func close(_ error: any Error) {
        state.withLock { $0.failure = $0.failure ?? error }
    }

    func add(_ completion: BatchCompletion) {
        state.withLock { $0.queued.append(completion) }
    }
}

/// The outcome of one job on the connection's thread, awaited from a task.
final class BatchCompletion: Sendable {
    private struct State {
        var result: Result<Void, any Error>?
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private let state = Locked(State())

    func finish(_ result: Result<Void, any Error>) {
        let waiter = state.withLock { state in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result = state.withLock { state in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
