internal import CMySQL

/// Synchronous access to one connection, valid only on that connection's own thread — inside
/// ``MySQLConnection/run(_:)``. Not `Sendable`, so the compiler keeps it there: batch many statements in
/// one hop instead of paying a thread switch for each.
public final class MySQLSession {
    var handle: UnsafeMutablePointer<MYSQL>?
    /// Set by the error funnel when the connection is gone.
    private(set) var isBroken = false {
        didSet { if isBroken && !oldValue { onBroken?() } }
    }
    /// Tells the owning thread, which then reports the connection unusable.
    var onBroken: (() -> Void)?
    var cachedMaxAllowedPacket: Int?
    var cachedLocalInfile: Bool?
    /// Databases in which `esteira_ledger` is known to exist, so it is created at most once per connection.
    var ledgerReady: Set<String> = []
    /// `database.table` names already checked to be transactional.
    var checkedTables: Set<String> = []
    /// The file load whose transaction is open on this connection, if any.
    var activeLoad: ObjectIdentifier?

    init() {}

    // MARK: Statements

    /// Runs one statement and returns the affected-row count (any result set is read and dropped).
    @discardableResult
    public func execute(_ sql: String, operation: String = "execute") throws(MySQLError) -> UInt64 {
        try withBytes(of: sql) { (buffer) throws(MySQLError) in try execute(buffer, operation: operation) }
    }

    /// Runs a statement given as bytes (the batched-INSERT path builds them without a String round trip).
    @discardableResult
    func execute(bytes sql: [UInt8], operation: String) throws(MySQLError) -> UInt64 {
        try sql.withUnsafeBufferPointer { (buffer) throws(MySQLError) -> UInt64 in
            try execute(buffer, operation: operation)
        }
    }

    @discardableResult
    func execute(_ sql: UnsafeBufferPointer<UInt8>, operation: String) throws(MySQLError) -> UInt64 {
        let handle = try send(sql, operation: operation)
        if let result = mysql_store_result(handle) {
            mysql_free_result(result)
        } else if mysql_field_count(handle) != 0 {
            throw fail(operation)
        }
        return mysql_affected_rows(handle)
    }

    /// Runs one statement that returns rows and reads them all into memory.
    public func query(_ sql: String, operation: String = "query") throws(MySQLError) -> MySQLResult {
        let handle = try withBytes(of: sql) { (buffer) throws(MySQLError) in try send(buffer, operation: operation) }
        guard let result = mysql_store_result(handle) else {
            if mysql_field_count(handle) == 0 {
                return MySQLResult(columns: [], rows: [], affectedRows: mysql_affected_rows(handle))
            }
            throw fail(operation)
        }
        defer { mysql_free_result(result) }

        let fieldCount = Int(mysql_num_fields(result))
        var columns: [String] = []
        columns.reserveCapacity(fieldCount)
        if let fields = mysql_fetch_fields(result) {
            for index in 0..<fieldCount {
                columns.append(fields[index].name.map { String(cString: $0) } ?? "")
            }
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(mysql_num_rows(result)))
        while let row = mysql_fetch_row(result) {
            guard let lengths = mysql_fetch_lengths(result) else { throw fail(operation) }
            var values: [String?] = []
            values.reserveCapacity(fieldCount)
            for index in 0..<fieldCount {
                if let field = row[index] {
                    let bytes = UnsafeRawBufferPointer(start: field, count: Int(lengths[index]))
                    values.append(String(decoding: bytes, as: UTF8.self))
                } else {
                    values.append(nil)
                }
            }
            rows.append(values)
        }
        if mysql_errno(handle) != 0 { throw fail(operation) }
        return MySQLResult(columns: columns, rows: rows, affectedRows: 0)
    }

    /// Runs `statement`, a `LOAD DATA LOCAL INFILE '<streamName>' INTO TABLE …` statement, and serves the
    /// "file" from `read`: called here, on the connection's thread, with a buffer to fill; it returns how
    /// many bytes it wrote, 0 at the end. It may block (waiting for a producer) — that blocks only this
    /// connection's thread. A request for any other name is refused.
    ///
    /// If `read` throws, the server receives end-of-data early, keeps the rows it got (roll back!), and
    /// this method rethrows `read`'s own error, so its transient/permanent classification survives.
    /// Check ``LoadDataResult/warnings``: with LOCAL, bad values are warnings, not errors.
    public func loadDataLocalInfile(
        _ statement: String, streamName: String,
        read: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws -> LoadDataResult {
        let operation = "load data local infile"
        guard let handle else { throw Self.closedError(operation) }
        return try withoutActuallyEscaping(read) { read in
            let stream = LocalInfile.Stream(name: streamName, read: read)
            let sent: Result<UnsafeMutablePointer<MYSQL>, MySQLError> = LocalInfile.serving(stream, on: handle) {
                Result { () throws(MySQLError) in
                    try withBytes(of: statement) { (buffer) throws(MySQLError) in try send(buffer, operation: operation)
                    }
                }
            }
            if let failure = stream.failure { throw failure }
            _ = try sent.get()
            if let result = mysql_store_result(handle) { mysql_free_result(result) }
            let info = mysql_info(handle).map { String(cString: $0) }
            return LoadDataResult(
                affectedRows: mysql_affected_rows(handle), warnings: mysql_warning_count(handle),
                bytesSent: stream.bytesSent, info: info)
        }
    }

    /// The `AUTO_INCREMENT` value of the last INSERT on this connection.
    public var lastInsertID: UInt64 {
        guard let handle else { return 0 }
        return mysql_insert_id(handle)
    }

    /// The server's id for this connection (what `KILL` and the processlist show).
    public var connectionID: UInt64 {
        guard let handle else { return 0 }
        return UInt64(mysql_thread_id(handle))
    }

    /// The server's max_allowed_packet, asked once per connection.
    public func maxAllowedPacket() throws(MySQLError) -> Int {
        try serverSettings().maxAllowedPacket
    }

    /// Whether the server accepts LOAD DATA LOCAL INFILE (`@@local_infile`), asked once per connection.
    /// A server can still refuse it later (the variable is dynamic); the loader handles that too.
    public func serverAllowsLocalInfile() throws(MySQLError) -> Bool {
        try serverSettings().localInfile
    }

    struct ServerSettings {
        let maxAllowedPacket: Int
        let localInfile: Bool
    }

    /// One round trip for the server variables the loader needs.
    func serverSettings() throws(MySQLError) -> ServerSettings {
        if let cachedMaxAllowedPacket, let cachedLocalInfile {
            return ServerSettings(maxAllowedPacket: cachedMaxAllowedPacket, localInfile: cachedLocalInfile)
        }
        let operation = "read server settings"
        let result = try query("SELECT @@max_allowed_packet, @@local_infile", operation: operation)
        guard let row = result.rows.first, row.count == 2, let text = row[0], let packet = Int(text), packet > 0 else {
            throw MySQLError(code: .mysql(2000), message: "could not read @@max_allowed_packet", operation: operation)
        }
        let infile = row[1] == "1" || row[1]?.uppercased() == "ON"
        cachedMaxAllowedPacket = packet
        cachedLocalInfile = infile
        return ServerSettings(maxAllowedPacket: packet, localInfile: infile)
    }

    /// One entry of `SHOW WARNINGS`.
    public struct Warning: Sendable, Hashable {
        public let level: String
        public let code: UInt32
        public let message: String
    }

    /// The first `limit` warnings (and notes) of the last statement, in MySQL's own words.
    public func warnings(limit: Int = 5) throws(MySQLError) -> [Warning] {
        let result = try query("SHOW WARNINGS LIMIT \(max(1, limit))", operation: "show warnings")
        return result.rows.compactMap { row in
            guard row.count >= 3 else { return nil }
            return Warning(level: row[0] ?? "", code: UInt32(row[1] ?? "") ?? 0, message: row[2] ?? "")
        }
    }

    /// `mysql_ping`: a round trip that tells whether the connection still works (without reconnecting:
    /// auto-reconnect is off). A lost connection is marked broken by the error funnel.
    public func ping() throws(MySQLError) {
        guard let handle else { throw Self.closedError("ping") }
        if mysql_ping(handle) != 0 { throw fail("ping") }
    }

    // MARK: Escaping

    /// `mysql_real_escape_string`, which escapes for the connection's character set. On the connections
    /// this library opens it returns exactly what ``MySQLEscaping/escape(_:)`` does.
    public func escape(_ value: String) -> String {
        String(decoding: escape(bytes: Array(value.utf8)), as: UTF8.self)
    }

    /// `mysql_real_escape_string` on raw bytes.
    public func escape(bytes: [UInt8]) -> [UInt8] {
        guard let handle else { return MySQLEscaping.escape(bytes: bytes) }
        var out = [UInt8](repeating: 0, count: bytes.count * 2 + 1)
        let written = out.withUnsafeMutableBufferPointer { target in
            target.withMemoryRebound(to: CChar.self) { to in
                bytes.withUnsafeBufferPointer { source in
                    source.withMemoryRebound(to: CChar.self) { from in
                        mysql_real_escape_string(handle, to.baseAddress, from.baseAddress, UInt(from.count))
                    }
                }
            }
        }
        guard written <= UInt(out.count) else { return MySQLEscaping.escape(bytes: bytes) }  // (ulong)-1: error
        return Array(out.prefix(Int(written)))
    }

    /// A complete SQL literal for the value: `'escaped'`, or `NULL`.
    public func literal(_ value: String?) -> String { MySQLEscaping.literal(value) }

    // MARK: The error funnel

    /// The one place a failing `mysql_*` call becomes an error: number, SQLSTATE and message are read from
    /// the handle, and the error is classified (transient or permanent) by `MySQLError.init`.
    func fail(_ operation: String) -> MySQLError {
        guard let handle else { return Self.closedError(operation) }
        var number = mysql_errno(handle)
        var message = mysql_error(handle).map { String(cString: $0) } ?? ""
        let sqlState = mysql_sqlstate(handle).map { String(cString: $0) } ?? "HY000"
        if number == 0 {
            number = 2000  // CR_UNKNOWN_ERROR: a call failed without saying why
            if message.isEmpty { message = "unknown MySQL client error" }
        }
        let error = MySQLError(code: .mysql(number), sqlState: sqlState, message: message, operation: operation)
        if error.isConnectionLost { isBroken = true }
        return error
    }

    static func closedError(_ operation: String) -> MySQLError {
        MySQLError(code: .connectionClosed, message: "the connection is closed", operation: operation)
    }

    /// `String.withUTF8` only rethrows untyped errors; this keeps `MySQLError` typed.
    private func withBytes<T>(
        of sql: String, _ body: (UnsafeBufferPointer<UInt8>) throws(MySQLError) -> T
    ) throws(MySQLError) -> T {
        var sql = sql
        let result: Result<T, MySQLError> = sql.withUTF8 { buffer in
            Result { () throws(MySQLError) in try body(buffer) }
        }
        return try result.get()
    }

    private func send(_ sql: UnsafeBufferPointer<UInt8>, operation: String) throws(MySQLError) -> UnsafeMutablePointer<
        MYSQL
    > {
        guard let handle else { throw Self.closedError(operation) }
        let status = sql.withMemoryRebound(to: CChar.self) { chars in
            mysql_real_query(handle, chars.baseAddress, UInt(chars.count))
        }
        if status != 0 { throw fail(operation) }
        return handle
    }

    // MARK: Lifecycle (connection thread only)

    struct Opened: Sendable {
        let connectionID: UInt64
        let serverVersion: String
    }

    /// The strict session every Esteira connection runs in. NO_BACKSLASH_ESCAPES must stay out: the
    /// escaping relies on backslashes. UTC so TIMESTAMP columns do not depend on the server's zone.
    static let sessionSetup = """
        SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,\
        NO_ENGINE_SUBSTITUTION', time_zone = '+00:00', autocommit = 1
        """

    func open(_ config: MySQLConfig) throws(MySQLError) -> Opened {
        let operation = "connect to \(config.user)@\(config.unixSocket ?? "\(config.host):\(config.port)")"
        guard MySQLConfig.supportedCharsets.contains(config.charset) else {
            throw MySQLError(
                code: .invalidConfiguration, message: "unsupported charset '\(config.charset)'",
                operation: operation)
        }
        guard let handle = mysql_init(nil) else {
            throw MySQLError(code: .clientOutOfMemory, message: "mysql_init failed", operation: operation)
        }
        self.handle = handle

        var failedOption: String?
        func set(_ status: Int32, _ name: String) { if status != 0 && failedOption == nil { failedOption = name } }
        set(
            esteira_mysql_opt_uint(handle, MYSQL_OPT_CONNECT_TIMEOUT, config.connectTimeout.wholeSecondsRoundedUp),
            "connect timeout")
        set(
            esteira_mysql_opt_uint(handle, MYSQL_OPT_READ_TIMEOUT, config.readTimeout.wholeSecondsRoundedUp),
            "read timeout")
        set(
            esteira_mysql_opt_uint(handle, MYSQL_OPT_WRITE_TIMEOUT, config.writeTimeout.wholeSecondsRoundedUp),
            "write timeout")
        set(esteira_mysql_opt_string(handle, MYSQL_SET_CHARSET_NAME, config.charset), "charset")
        // Never reconnect behind our back: a silent reconnect would drop an open transaction.
        set(esteira_mysql_opt_bool(handle, MYSQL_OPT_RECONNECT, 0), "reconnect")
        // Needed by LOAD DATA LOCAL INFILE; what the server may read is restricted by the handler below.
        set(esteira_mysql_opt_uint(handle, MYSQL_OPT_LOCAL_INFILE, 1), "local infile")
        let transport = config.unixSocket == nil ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET
        set(esteira_mysql_opt_uint(handle, MYSQL_OPT_PROTOCOL, transport.rawValue), "protocol")
        switch config.tlsMode {
        case .disabled:
            break
        case .preferred, .required:
            // In Connector/C 3.3 this option only *asks* for TLS: without certificate verification the
            // connection silently stays plain if the server offers no TLS. REQUIRED is checked after connect.
            set(esteira_mysql_opt_bool(handle, MYSQL_OPT_SSL_ENFORCE, 1), "ssl enforce")
        case .verifyCA, .verifyIdentity:
            set(esteira_mysql_opt_bool(handle, MYSQL_OPT_SSL_ENFORCE, 1), "ssl enforce")
            set(esteira_mysql_opt_bool(handle, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, 1), "ssl verify")
        }
        if let ca = config.tlsCAFile, config.tlsMode != .disabled {
            set(esteira_mysql_opt_string(handle, MYSQL_OPT_SSL_CA, ca), "ssl ca")
        }
        if let failedOption {
            throw MySQLError(
                code: .invalidConfiguration, message: "Connector/C refused the \(failedOption) option",
                operation: operation)
        }

        let connected = mysql_real_connect(
            handle,
            config.unixSocket == nil ? config.host : nil,
            config.user,
            config.password,
            config.database,
            UInt32(clamping: config.port),
            config.unixSocket,
            0)
        if connected == nil { throw fail(operation) }
        if config.tlsMode != .disabled && config.tlsMode != .preferred && mysql_get_ssl_cipher(handle) == nil {
            throw MySQLError(
                code: .tlsConnectionError,
                message: "TLS is required (ssl-mode=\(config.tlsMode.rawValue)) but the server did not negotiate it",
                operation: operation)
        }

        LocalInfile.refuseServerFileRequests(handle)
        try execute(Self.sessionSetup, operation: "set up session")
        let version = mysql_get_server_info(handle).map { String(cString: $0) } ?? ""
        return Opened(connectionID: connectionID, serverVersion: version)
    }

    func closeHandle() {
        if let handle {
            mysql_close(handle)
            self.handle = nil
        }
    }
}
