import EsteiraMySQL
import Testing

@Suite("MySQLError classification")
struct ErrorClassificationTests {
    @Test(
        "transient: retrying later can succeed",
        arguments: [
            (UInt32(1213), "40001", "Deadlock found when trying to get lock; try restarting transaction"),
            (1205, "HY000", "Lock wait timeout exceeded; try restarting transaction"),
            (2013, "HY000", "Lost connection to server during query"),
            (2006, "HY000", "Server has gone away"),
            (2002, "HY000", "Can't connect to local server through socket"),
            (2003, "HY000", "Can't connect to MySQL server on 'db' (111)"),
            (2005, "HY000", "Unknown server host 'db'"),
            (2055, "HY000", "Lost connection to server at 'handshake: reading initial communication packet'"),
            (1040, "08004", "Too many connections"),
            (1203, "42000", "User esteira already has more than 'max_user_connections' active connections"),
            (
                1290, "HY000",
                "The MariaDB server is running with the --read-only option so it cannot execute this statement"
            ),
            (1792, "25006", "Cannot execute statement in a READ ONLY transaction"),
            (1836, "HY000", "Running in read-only mode"),
            (1053, "08S01", "Server shutdown in progress"),
            (1927, "70100", "Connection was killed"),
            (1317, "70100", "Query execution was interrupted"),
            (1969, "70100", "Query execution was interrupted (max_statement_time exceeded)"),
            (3024, "HY000", "Query execution was interrupted, maximum statement execution time exceeded"),
            (1158, "08S01", "Got an error reading communication packets"),
            (1161, "08S01", "Got timeout writing communication packets"),
            (1021, "HY000", "Disk full; waiting for someone to free some space"),
            (4031, "HY000", "The client was disconnected by the server because of inactivity"),
            // Unknown numbers fall back on SQLSTATE: class 08 (connection) and 40 (rollback).
            (9999, "08S01", "some new connection failure"),
            (9998, "40001", "some new serialization failure"),
        ])
    func transient(number: UInt32, sqlState: String, message: String) {
        let error = MySQLError(code: .mysql(number), sqlState: sqlState, message: message, operation: "test")
        #expect(error.isTransient)
        #expect(!error.isPermanent)
        #expect(error.mysqlErrorNumber == number)
        #expect(error.description.contains("[transient]"))
    }

    @Test(
        "permanent: the data or the configuration must change",
        arguments: [
            (UInt32(1062), "23000", "Duplicate entry 'x' for key 'PRIMARY'"),
            (1048, "23000", "Column 'n' cannot be null"),
            (1366, "22007", "Incorrect integer value: 'abc' for column `db`.`t`.`n` at row 1"),
            (1406, "22001", "Data too long for column 'name' at row 1"),
            (1264, "22003", "Out of range value for column 'n' at row 1"),
            (1452, "23000", "Cannot add or update a child row: a foreign key constraint fails"),
            (1045, "28000", "Access denied for user 'esteira'@'localhost' (using password: YES)"),
            (1044, "42000", "Access denied for user 'esteira'@'%' to database 'x'"),
            (1049, "42000", "Unknown database 'nope'"),
            (1054, "42S22", "Unknown column 'x' in 'field list'"),
            (1146, "42S02", "Table 'db.t' doesn't exist"),
            (1064, "42000", "You have an error in your SQL syntax"),
            (1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes"),
            (2014, "HY000", "Commands out of sync; you can't run this command now"),
            (2026, "HY000", "TLS/SSL error: certificate verify failed"),
            (9999, "HY000", "some new error"),
        ])
    func permanent(number: UInt32, sqlState: String, message: String) {
        let error = MySQLError(code: .mysql(number), sqlState: sqlState, message: message, operation: "test")
        // 1153 carries SQLSTATE 08S01, which would make an unknown number transient; a known code wins.
        #expect(error.isPermanent, "\(number) should be permanent")
        #expect(error.message == message, "MySQL's own message is kept")
        #expect(error.description.contains(message))
    }

    @Test(
        "Esteira's own errors are permanent",
        arguments: [
            MySQLError.Code.invalidIdentifier, .invalidConfiguration, .invalidRow, .rowTooLarge, .connectionClosed,
            .loadNotOpen, .invalidLedgerRecord,
        ])
    func ownCodes(code: MySQLError.Code) {
        let error = MySQLError(code: code, sqlState: "08S01", message: "m", operation: "o")
        #expect(error.isPermanent)
        #expect(error.mysqlErrorNumber == nil)
    }

    @Test func codesCompareByValue() {
        let error = MySQLError(code: .mysql(1213), sqlState: "40001", message: "d", operation: "o")
        #expect(error.code == .deadlock)
        #expect(error.code != .lockWaitTimeout)
        #expect(MySQLError.Code.duplicateEntry.mysqlErrorNumber == 1062)
    }

    @Test func lostConnectionsAreFlagged() {
        for number: UInt32 in [2006, 2013, 1927, 2055] {
            #expect(MySQLError(code: .mysql(number), message: "", operation: "").isConnectionLost)
        }
        #expect(!MySQLError(code: .deadlock, message: "", operation: "").isConnectionLost)
    }
}
