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
          PRIMARY KEY (`id`),
          UNIQUE KEY `uq_esteira_ledger_source` (`source_id`),
          KEY `ix_esteira_ledger_file` (`file_id`, `target_table`)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
        """

    /// Creates the ledger, or brings an older one up to date: ledgers made before replace-by-file lack
    /// `file_id`. Runs outside any transaction (DDL commits implicitly). Safe when workers race: a column
    /// another worker has just added is not an error.
    static func prepare(session: MySQLSession) throws(MySQLError) {
        try session.execute(createTable, operation: "create esteira_ledger")
        let hasFileID = try session.query(
            "SELECT COUNT(*) FROM information_schema.`COLUMNS` WHERE `TABLE_SCHEMA` = DATABASE() "
                + "AND `TABLE_NAME` = 'esteira_ledger' AND `COLUMN_NAME` = 'file_id'",
            operation: "inspect esteira_ledger")
        guard hasFileID.scalar == "0" else { return }
        do {
            try session.execute(
                "ALTER TABLE `esteira_ledger` ADD COLUMN `file_id` CHAR(64) NOT NULL DEFAULT '' AFTER `source_id`, "
                    + "ADD KEY `ix_esteira_ledger_file` (`file_id`, `target_table`)",
                operation: "upgrade esteira_ledger")
        } catch where error.mysqlErrorNumber == 1060 || error.mysqlErrorNumber == 1061 {
            return  // another worker upgraded it first
        }
        try session.execute(
            "UPDATE `esteira_ledger` SET `file_id` = SHA2(CONCAT(`bucket`, '\\n', `object_key`), 256) WHERE `file_id` = ''",
            operation: "upgrade esteira_ledger")
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

    static func insert(_ record: LedgerRecord, table: SQLIdentifier) -> String {
        """
        INSERT INTO `esteira_ledger` (`source_id`, `file_id`, `bucket`, `object_key`, `version`, `fencing_token`, \
        `target_table`, `rows_loaded`, `rows_rejected`, `checksum`) VALUES (\(sourceIDExpression(record)), \(fileIDExpression(record)), \
        \(MySQLEscaping.literal(record.bucket)), \(MySQLEscaping.literal(record.key)), \
        \(MySQLEscaping.literal(record.version)), \(record.fencingToken), \(MySQLEscaping.literal(table.name)), \
        0, \(record.rowsRejected), \(MySQLEscaping.literal(record.checksum)))
        """
    }

    static func finish(id: UInt64, rowsLoaded: Int, rowsRejected: Int, checksum: String) -> String {
        """
        UPDATE `esteira_ledger` SET `rows_loaded` = \(rowsLoaded), `rows_rejected` = \(rowsRejected), \
        `checksum` = \(MySQLEscaping.literal(checksum)) WHERE `id` = \(id)
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
