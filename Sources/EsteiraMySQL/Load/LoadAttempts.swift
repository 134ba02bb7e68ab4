import Foundation

/// One attempt at loading an object version, as `esteira_ledger` records it: the first load has generation
/// 1, each `esteira reload` adds one; an earlier attempt is `superseded`, an undone one `unloaded`.
public struct LoadAttempt: Sendable, Hashable {
    public let ledgerID: UInt64
    public let version: String
    public let generation: Int
    /// `loaded`, `superseded` or `unloaded`.
    public let state: String
    public let rowsLoaded: Int
    public let rowsRejected: Int
    public let loadedAt: Date
}

extension MySQLConnection {
    /// Every attempt recorded for `bucket`/`key` into `table`, oldest first (all versions). Empty when the
    /// ledger does not exist yet.
    public func loadAttempts(bucket: String, key: String, table: String) async throws -> [LoadAttempt] {
        let tableID = try SQLIdentifier(table)
        let record = LedgerRecord(bucket: bucket, key: key, version: "-", fencingToken: 0)
        return try await run { session throws(MySQLError) -> [LoadAttempt] in
            try Ledger.prepare(session: session)
            let result = try session.query(
                "SELECT `id`, `version`, `generation`, `state`, `rows_loaded`, `rows_rejected`, UNIX_TIMESTAMP(`loaded_at`) "
                    + "FROM `esteira_ledger` WHERE `file_id` = \(Ledger.fileIDExpression(record)) AND `bucket` = "
                    + "\(MySQLEscaping.literal(bucket)) AND `object_key` = \(MySQLEscaping.literal(key)) "
                    + "AND `target_table` = \(MySQLEscaping.literal(tableID.name)) ORDER BY `id`",
                operation: "read esteira_ledger")
            return result.rows.compactMap { row -> LoadAttempt? in
                guard row.count == 7, let id = row[0].flatMap({ UInt64($0) }) else { return nil }
                return LoadAttempt(
                    ledgerID: id, version: row[1] ?? "", generation: row[2].flatMap { Int($0) } ?? 1,
                    state: row[3] ?? "", rowsLoaded: row[4].flatMap { Int($0) } ?? 0,
                    rowsRejected: row[5].flatMap { Int($0) } ?? 0,
                    loadedAt: Date(timeIntervalSince1970: row[6].flatMap { Double($0) } ?? 0))
            }
        }
    }

    /// Rows of `table` whose `sourceColumn` holds one of `ledgerIDs` (what a reload or unload would remove).
    public func countRows(table: String, sourceColumn: String, ledgerIDs: [UInt64]) async throws -> Int {
        let tableID = try SQLIdentifier(table)
        let source = try SQLIdentifier(sourceColumn)
        guard !ledgerIDs.isEmpty else { return 0 }
        let ids = ledgerIDs.map(String.init)
        return try await run { session throws(MySQLError) -> Int in
            var total = 0
            for chunk in stride(from: 0, to: ids.count, by: 1000) {
                let list = ids[chunk..<min(chunk + 1000, ids.count)].joined(separator: ",")
                let result = try session.query(
                    "SELECT COUNT(*) FROM \(tableID.quoted) WHERE \(source.quoted) IN (\(list))",
                    operation: "count rows of a load")
                total += result.scalar.flatMap { Int($0) } ?? 0
            }
            return total
        }
    }

    /// Undoes one load, in one transaction: deletes the rows whose `sourceColumn` holds `ledgerID` and marks
    /// that ledger row `unloaded`. The row keeps its place on the unique key, so a later delivery of the
    /// same version is reported as already loaded and is not loaded again; `esteira reload` loads it.
    /// Throws when the attempt is not `loaded` (already unloaded, or superseded by a reload).
    /// Returns the rows deleted.
    public func unloadFile(table: String, sourceColumn: String, ledgerID: UInt64) async throws -> Int {
        let tableID = try SQLIdentifier(table)
        let source = try SQLIdentifier(sourceColumn)
        let operation = "unload ledger row \(ledgerID) from \(tableID.quoted)"
        return try await run { session throws(MySQLError) -> Int in
            guard session.activeLoad == nil else {
                throw MySQLError(
                    code: .loadNotOpen, message: "a file load is open on this connection", operation: operation)
            }
            try session.execute("START TRANSACTION", operation: operation)
            do throws(MySQLError) {
                let state = try session.query(
                    "SELECT `state` FROM `esteira_ledger` WHERE `id` = \(ledgerID) AND `target_table` = "
                        + "\(MySQLEscaping.literal(tableID.name)) FOR UPDATE", operation: operation)
                guard let current = state.rows.first?.first ?? nil else {
                    throw MySQLError(
                        code: .invalidConfiguration, message: "no ledger row \(ledgerID) for \(tableID.quoted)",
                        operation: operation)
                }
                guard current == "loaded" else {
                    throw MySQLError(
                        code: .invalidConfiguration,
                        message: "ledger row \(ledgerID) is \(current), not loaded: nothing to unload",
                        operation: operation)
                }
                let deleted = try session.execute(
                    "DELETE FROM \(tableID.quoted) WHERE \(source.quoted) = \(ledgerID)",
                    operation: "\(operation): delete rows")
                try session.execute(
                    "UPDATE `esteira_ledger` SET `state` = 'unloaded' WHERE `id` = \(ledgerID)",
                    operation: "\(operation): mark the ledger row")
                try session.execute("COMMIT", operation: operation)
                return Int(deleted)
            } catch {
                _ = try? session.execute("ROLLBACK", operation: operation)
                throw error
            }
        }
    }
}
