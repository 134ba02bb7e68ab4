/// The one error type of EsteiraMySQL.
///
/// Every failing `mysql_*` call becomes a `MySQLError` in one place (`MySQLSession.fail`), and is classified
/// there, once, as transient (retry the whole file later: deadlock, lost connection, failover…) or permanent
/// (the file or the configuration is wrong: constraint violation, bad value, access denied…). The worker
/// decides on ``isTransient`` alone; it never re-parses messages.
///
/// Messages are MySQL's own (they can quote a rejected value, never the password); `operation` says what
/// Esteira was doing, and never holds SQL text, which could carry row data.
public struct MySQLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. Opaque so that new codes never break a `switch` in callers: compare with `==`
    /// against the `static let` members, or read ``mysqlErrorNumber``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Kind: Hashable, Sendable {
            /// A server error (1000–1999, 3000+) or a Connector/C client error (2000–2999, 5000+).
            case mysql(UInt32)
            case invalidIdentifier
            case invalidConfiguration
            case invalidRow
            case rowTooLarge
            case connectionClosed
            case loadNotOpen
            case invalidLedgerRecord
            case incompatibleTable
            case invalidSecret
        }

        let kind: Kind

        init(_ kind: Kind) { self.kind = kind }

        /// A code for a MySQL/MariaDB server or client error number.
        public static func mysql(_ number: UInt32) -> Code { Code(.mysql(number)) }

        /// The MySQL error number, or nil for errors raised by Esteira before reaching the server.
        public var mysqlErrorNumber: UInt32? {
            if case .mysql(let number) = kind { return number }
            return nil
        }

        public var description: String {
            switch kind {
            case .mysql(let number): return "\(number)"
            case .invalidIdentifier: return "invalid-identifier"
            case .invalidConfiguration: return "invalid-configuration"
            case .invalidRow: return "invalid-row"
            case .rowTooLarge: return "row-too-large"
            case .connectionClosed: return "connection-closed"
            case .loadNotOpen: return "load-not-open"
            case .invalidLedgerRecord: return "invalid-ledger-record"
            case .incompatibleTable: return "incompatible-table"
            case .invalidSecret: return "invalid-secret"
            }
        }

        // Esteira's own codes: raised before any SQL is sent.
        /// A table or column name that is not letters, digits and underscores, at most 64 characters.
        public static let invalidIdentifier = Code(.invalidIdentifier)
        /// A URL or option that cannot be used (unknown parameter, bad port, unsupported charset…).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A row whose field count differs from the load's column count.
        public static let invalidRow = Code(.invalidRow)
        /// A single row whose INSERT would not fit in the server's max_allowed_packet.
        public static let rowTooLarge = Code(.rowTooLarge)
        /// The connection was closed (by `close()`) before the work could run.
        public static let connectionClosed = Code(.connectionClosed)
        /// `append`/`commit` on a file load that was already committed, rolled back or failed.
        public static let loadNotOpen = Code(.loadNotOpen)
        /// A ledger record with an empty or oversized bucket, key or version, or a negative count.
        public static let invalidLedgerRecord = Code(.invalidLedgerRecord)
        /// An existing destination table that cannot take the contract's rows (the message lists why).
        public static let incompatibleTable = Code(.incompatibleTable)
        /// A Secrets Manager secret that is not valid JSON in the RDS format (its text is never shown).
        public static let invalidSecret = Code(.invalidSecret)

        // Server errors (mysqld_error.h). Transient ones first.
        public static let checkRead = mysql(1020)
        public static let diskFull = mysql(1021)
        public static let outOfMemory = mysql(1037)
        public static let outOfSortMemory = mysql(1038)
        public static let tooManyConnections = mysql(1040)
        public static let outOfResources = mysql(1041)
        public static let badHandshake = mysql(1043)
        public static let serverShutdown = mysql(1053)
        public static let tableFull = mysql(1114)
        public static let cannotCreateThread = mysql(1135)
        public static let abortingConnection = mysql(1152)
        public static let netReadError = mysql(1158)
        public static let netReadInterrupted = mysql(1159)
        public static let netErrorOnWrite = mysql(1160)
        public static let netWriteInterrupted = mysql(1161)
        public static let tooManyUserConnections = mysql(1203)
        public static let lockWaitTimeout = mysql(1205)
        public static let deadlock = mysql(1213)
        /// `--read-only` (a writer demoted during an RDS/Aurora failover) among other options.
        public static let optionPreventsStatement = mysql(1290)
        public static let queryInterrupted = mysql(1317)
        public static let readOnlyTransaction = mysql(1792)
        public static let readOnlyMode = mysql(1836)
        /// MariaDB: the connection was KILLed.
        public static let connectionKilled = mysql(1927)
        /// MariaDB: max_statement_time exceeded.
        public static let statementTimeout = mysql(1969)
        /// MySQL: max_execution_time exceeded.
        public static let queryTimeout = mysql(3024)
        public static let userLockDeadlock = mysql(3058)
        /// MySQL 8.0.24+: disconnected by wait_timeout.
        public static let clientInteractionTimeout = mysql(4031)

        // Permanent server errors worth naming.
        public static let accessDeniedToDatabase = mysql(1044)
        public static let accessDenied = mysql(1045)
        public static let badDatabase = mysql(1049)
        public static let badField = mysql(1054)
        public static let duplicateEntry = mysql(1062)
        public static let parseError = mysql(1064)
        public static let noSuchTable = mysql(1146)
        public static let dataTooLong = mysql(1406)
        public static let truncatedWrongValue = mysql(1292)
        public static let badNull = mysql(1048)
        public static let warnDataOutOfRange = mysql(1264)
        public static let truncatedWrongValueForField = mysql(1366)
        public static let rowIsReferenced = mysql(1451)
        public static let noReferencedRow = mysql(1452)
        public static let packetTooLarge = mysql(1153)

        // Client errors (errmsg.h).
        public static let socketCreateError = mysql(2001)
        public static let connectionError = mysql(2002)
        public static let connectionHostError = mysql(2003)
        public static let ipSocketError = mysql(2004)
        public static let unknownHost = mysql(2005)
        public static let serverGone = mysql(2006)
        public static let clientOutOfMemory = mysql(2008)
        public static let tcpConnection = mysql(2011)
        public static let serverHandshake = mysql(2012)
        public static let serverLost = mysql(2013)
        public static let commandsOutOfSync = mysql(2014)
        public static let tlsConnectionError = mysql(2026)
        public static let serverLostExtended = mysql(2055)
        public static let netRead = mysql(5013)
        public static let netWrite = mysql(5014)
    }

    public let code: Code
    /// The five-character SQLSTATE ("HY000" when MySQL gives none).
    public let sqlState: String
    /// MySQL's own message (or Esteira's, for its own codes).
    public let message: String
    /// What Esteira was doing: "connect", "query", "file load: insert into `orders`"… Never SQL text.
    public let operation: String
    /// Decided once, here. Transient: retry the whole unit of work later. Permanent: do not retry.
    public let isTransient: Bool

    public var isPermanent: Bool { !isTransient }
    /// The MySQL error number, or nil for Esteira's own codes.
    public var mysqlErrorNumber: UInt32? { code.mysqlErrorNumber }

    public init(code: Code, sqlState: String = "HY000", message: String, operation: String) {
        self.code = code
        self.sqlState = sqlState.isEmpty ? "HY000" : sqlState
        self.message = message
        self.operation = operation
        self.isTransient = Self.classify(code: code, sqlState: self.sqlState)
    }

    public var description: String {
        let number = code.mysqlErrorNumber.map { "MySQL error \($0) (\(sqlState))" } ?? "Esteira MySQL error [\(code)]"
        return "\(number) during \(operation): \(message) [\(isTransient ? "transient" : "permanent")]"
    }

    // MARK: Classification

    /// Errors that a later retry of the same work can get past without anyone changing anything.
    static let transientCodes: Set<Code> = [
        .checkRead, .diskFull, .outOfMemory, .outOfSortMemory, .tooManyConnections, .outOfResources,
        .badHandshake, .serverShutdown, .tableFull, .cannotCreateThread, .abortingConnection,
        .netReadError, .netReadInterrupted, .netErrorOnWrite, .netWriteInterrupted,
        .tooManyUserConnections, .lockWaitTimeout, .deadlock, .optionPreventsStatement, .queryInterrupted,
        .readOnlyTransaction, .readOnlyMode, .connectionKilled, .statementTimeout, .queryTimeout,
        .userLockDeadlock, .clientInteractionTimeout,
        .socketCreateError, .connectionError, .connectionHostError, .ipSocketError,
        // DNS: in Kubernetes and during an RDS failover a name can briefly fail to resolve.
        .unknownHost,
        .serverGone, .clientOutOfMemory, .tcpConnection, .serverHandshake, .serverLost, .serverLostExtended,
        .netRead, .netWrite,
    ]

    /// Errors after which the connection itself is unusable (the caller must open a new one).
    static let connectionLostCodes: Set<Code> = [
        .serverShutdown, .abortingConnection, .netReadError, .netReadInterrupted, .netErrorOnWrite,
        .netWriteInterrupted, .connectionKilled, .clientInteractionTimeout, .serverGone, .serverLost,
        .serverLostExtended, .netRead, .netWrite, .commandsOutOfSync,
    ]

    /// Known permanent errors, listed so that the SQLSTATE fallback below cannot override them (1153
    /// "packet too large" carries 08S01, yet the same packet will be too large next time).
    static let permanentCodes: Set<Code> = [
        .accessDeniedToDatabase, .accessDenied, .badDatabase, .badField, .duplicateEntry, .parseError,
        .noSuchTable, .dataTooLong, .truncatedWrongValue, .badNull, .warnDataOutOfRange,
        .truncatedWrongValueForField, .rowIsReferenced, .noReferencedRow, .packetTooLarge,
        .commandsOutOfSync, .tlsConnectionError,
    ]

    static func classify(code: Code, sqlState: String) -> Bool {
        if transientCodes.contains(code) { return true }
        if permanentCodes.contains(code) { return false }
        guard code.mysqlErrorNumber != nil else { return false }  // Esteira's own codes: permanent
        // Unknown numbers: SQLSTATE class 08 (connection exception) and 40 (transaction rollback,
        // e.g. serialization failure) are retryable by definition.
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("40")
    }

    /// True when this error means the connection is gone and must be replaced.
    public var isConnectionLost: Bool { Self.connectionLostCodes.contains(code) }
}
