import Foundation

/// SQL for `esteira_ledger`, the table that makes a load exactly-once per object version: its row is
/// inserted first in the load's transaction, under a unique key derived from bucket, key and version, so a
/// second load of the same version waits on that key and then fails with a duplicate-key error instead of
/// inserting rows twice.
enum Ledger {
    static let tableName = "esteira_ledger"

    static let createTable = """
        CREATE TABLE IF NOT EXISTS `esteira_ledger` (
          `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
          `source_id` CHAR(64) NOT NULL
            COMMENT 'SHA2(bucket \\\\n key \\\\n version, 256)',
          `file_id` CHAR(64) NOT NULL DEFAULT ''
            COMMENT 'SHA2(bucket \\\\n key, 256): all versions of one file',
          `bucket` VARCHAR(255) NOT NULL,
          `object_key` VARCHAR(1024) NOT NULL,
          `version` VARCHAR(1024) NOT NULL,
          `fencing_token` BIGINT NOT NULL,
          `target_table` VARCHAR(64) NOT NULL,
          `rows_loaded` BIGINT UNSIGNED NOT NULL DEFAULT 0,
          `rows_rejected` BIGINT UNSIGNED NOT NULL DEFAULT 0,
          `checksum` VARCHAR(128) NOT NULL DEFAULT '',
          `loaded_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'UTC',
          `generation` INT UNSIGNED NOT NULL DEFAULT 1
            COMMENT '1 for the first load of a version, +1 for each esteira reload of it',
          `state` VARCHAR(16) NOT NULL DEFAULT 'loaded'
            COMMENT 'loaded; superseded (a reload replaced it); unloaded (esteira unload removed its rows)',
          `rejects_uri` TEXT NULL
            COMMENT 'where the refused rows were written (s3://… or a local path); NULL when none were',
          PRIMARY KEY (`id`),
          UNIQUE KEY `uq_esteira_ledger_source` (`source_id`),
          KEY `ix_esteira_ledger_file` (`file_id`, `target_table`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
        """

    /// Creates the ledger, or brings an older one up to date: ledgers made before replace-by-file lack
    /// `file_id`, ledgers made before reload/unload lack `generation` and `state`, older ones `rejects_uri`. Runs outside any
    /// transaction (DDL commits implicitly). Safe when workers race: a column or key another worker has just
    /// added is not an error (1060 duplicate column, 1061 duplicate key), so no `ADD COLUMN IF NOT EXISTS`
    /// (MariaDB only) is needed.
    static func prepare(session: MySQLSession) throws(MySQLError) {
        try session.execute(createTable, operation: "create esteira_ledger")
        let present = try session.query(
            "SELECT SUM(`COLUMN_NAME` = 'file_id'), SUM(`COLUMN_NAME` = 'state'), SUM(`COLUMN_NAME` = 'rejects_uri') "
                + "FROM information_schema.`COLUMNS` "
                + "WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = 'esteira_ledger' "
                + "AND `COLUMN_NAME` IN ('file_id', 'state', 'rejects_uri')",
            operation: "inspect esteira_ledger")
        let row = present.rows.first
        let hasFileID = (row?[0]).flatMap { $0 } ?? "0" != "0"
        let hasState = (row?[1]).flatMap { $0 } ?? "0" != "0"
        let hasRejectsURI = (row?[2]).flatMap { $0 } ?? "0" != "0"
        if !hasFileID {
            try upgrade(
                session,
                "ADD COLUMN `file_id` CHAR(64) NOT NULL DEFAULT '' AFTER `source_id`, "
                    + "ADD KEY `ix_esteira_ledger_file` (`file_id`, `target_table`)")
            try session.execute(
                "UPDATE `esteira_ledger` SET `file_id` = SHA2(CONCAT(`bucket`, '\\n', `object_key`), 256) WHERE `file_id` = ''",
                operation: "upgrade esteira_ledger")
        }
        if !hasState {
            try upgrade(
                session,
                "ADD COLUMN `generation` INT UNSIGNED NOT NULL DEFAULT 1, "
                    + "ADD COLUMN `state` VARCHAR(16) NOT NULL DEFAULT 'loaded'")
        }
        if !hasRejectsURI {
            try upgrade(session, "ADD COLUMN `rejects_uri` TEXT NULL")
        }
    }

    private static func upgrade(_ session: MySQLSession, _ change: String) throws(MySQLError) {
        do {
            try session.execute("ALTER TABLE `esteira_ledger` \(change)", operation: "upgrade esteira_ledger")
        } catch  where error.mysqlErrorNumber == 1060 || error.mysqlErrorNumber == 1061 {
            return  // another worker upgraded it first
        }
    }

    /// SHA2(bucket \n key): the same for every version of one file.
    static func fileIDExpression(_ record: LedgerRecord) -> String {
        "SHA2(CONCAT(\(MySQLEscaping.literal(record.bucket)), '\\n', \(MySQLEscaping.literal(record.key))), 256)"
    }

    /// The replace-by-file lock of one file; 64 characters, MySQL's limit for lock names.
    static func lockNameExpression(_ record: LedgerRecord) -> String {
        "CONCAT('esteira-replace:', LEFT(\(fileIDExpression(record)), 48))"
    }

    /// Ledger ids of the other loaded versions of the same file into the same table.
    static func previousVersions(_ record: LedgerRecord, table: SQLIdentifier, excluding id: UInt64) -> String {
        "SELECT `id` FROM `esteira_ledger` WHERE `file_id` = \(fileIDExpression(record)) AND `target_table` = "
            + "\(MySQLEscaping.literal(table.name)) AND `id` <> \(id)"
    }

    /// MySQL computes the source id, so every client (and a DBA by hand) derives the same key.
    static func sourceIDExpression(_ record: LedgerRecord) -> String {
        "SHA2(CONCAT(\(MySQLEscaping.literal(record.bucket)), '\\n', \(MySQLEscaping.literal(record.key)), "
            + "'\\n', \(MySQLEscaping.literal(record.version))), 256)"
    }

    static func insert(_ record: LedgerRecord, table: SQLIdentifier, generation: Int = 1) -> String {
        """
        INSERT INTO `esteira_ledger` (`generation`, `source_id`, `file_id`, `bucket`, `object_key`, `version`, `fencing_token`, \
        `target_table`, `rows_loaded`, `rows_rejected`, `checksum`) VALUES (\(generation), \(sourceIDExpression(record)), \(fileIDExpression(record)), \
        \(MySQLEscaping.literal(record.bucket)), \(MySQLEscaping.literal(record.key)), \
        \(MySQLEscaping.literal(record.version)), \(record.fencingToken), \(MySQLEscaping.literal(table.name)), \
        0, \(record.rowsRejected), \(MySQLEscaping.literal(record.checksum)))
        """
    }

    static func finish(id: UInt64, rowsLoaded: Int, rowsRejected: Int, checksum: String, rejectsURI: String?) -> String
    {
        """
        UPDATE `esteira_ledger` SET `rows_loaded` = \(rowsLoaded), `rows_rejected` = \(rowsRejected), \
        `checksum` = \(MySQLEscaping.literal(checksum)), \
        `rejects_uri` = \(rejectsURI.map(MySQLEscaping.literal) ?? "NULL") \
        WHERE `id` = \(id)
        """
    }

    static func select(_ record: LedgerRecord) -> String {
        """
        SELECT `id`, `source_id`, `bucket`, `object_key`, `version`, `fencing_token`, `target_table`, \
        `rows_loaded`, `rows_rejected`, `checksum`, UNIX_TIMESTAMP(`loaded_at`) \
        FROM `esteira_ledger` WHERE `source_id` = \(sourceIDExpression(record))
        """
    }

    static func entry(from result: MySQLResult) -> LedgerEntry? {
        guard let row = result.rows.first, row.count == 11 else { return nil }
        func text(_ index: Int) -> String { row[index] ?? "" }
        let record = LedgerRecord(
            bucket: text(2), key: text(3), version: text(4),
            fencingToken: Int64(text(5)) ?? 0,
            rowsLoaded: Int(text(7)) ?? 0, rowsRejected: Int(text(8)) ?? 0,
            checksum: text(9))
        return LedgerEntry(
            id: UInt64(text(0)) ?? 0, sourceID: text(1), record: record, table: text(6),
            loadedAt: Date(timeIntervalSince1970: Double(text(10)) ?? 0))
    }
}
