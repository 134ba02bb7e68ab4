import Foundation

extension MySQLConfig {
    /// Builds a config from a Secrets Manager secret in the RDS format —
    /// `{"username", "password", "host", "port", "dbname", "engine"}` — as RDS rotation writes it.
    ///
    /// `port` may be a number or a string; `dbname` and `engine` are optional (`database` overrides
    /// `dbname`); an engine other than MySQL, MariaDB or Aurora MySQL is refused. TLS is verified by default
    /// (VERIFY_IDENTITY unless the host is loopback); pass `tlsCAFile` with the RDS CA bundle.
    ///
    /// Errors never contain the secret's text, so a malformed secret cannot leak its password into a log.
    public init(
        rdsSecret json: String, database: String? = nil, tlsMode: TLSMode? = nil, tlsCAFile: String? = nil,
        connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(300),
        writeTimeout: Duration = .seconds(300)
    ) throws(MySQLError) {
        func bad(_ why: String) -> MySQLError {
            MySQLError(
                code: .invalidSecret,
                message: "the MySQL secret \(why) (expected the RDS format: "
                    + #"{"username","password","host","port","dbname"})"#, operation: "read MySQL secret")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        } catch {
            throw bad("is not valid JSON")  // deliberately without the parser's message: it can quote the text
        }
        guard let fields = object as? [String: Any] else { throw bad("is not a JSON object") }
        func string(_ key: String, required: Bool) throws(MySQLError) -> String? {
            guard let value = fields[key], !(value is NSNull) else {
                if required { throw bad("has no \"\(key)\"") }
                return nil
            }
            guard let text = value as? String else { throw bad("has a \"\(key)\" that is not a string") }
            if required && text.isEmpty { throw bad("has an empty \"\(key)\"") }
            return text
        }
        let user = try string("username", required: true)!
        let password = try string("password", required: true)!
        let host = try string("host", required: true)!
        var port = MySQLConfig.defaultPort
        if let value = fields["port"], !(value is NSNull) {
            if let text = value as? String, let number = Int(text) {
                port = number
            } else if let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue) {
                port = exact
            } else {
                throw bad("has a \"port\" that is not a number")
            }
            guard (1...65535).contains(port) else { throw bad("has a \"port\" outside 1–65535") }
        }
        if let engine = try string("engine", required: false)?.lowercased(),
            !["mysql", "mariadb", "aurora-mysql", "aurora"].contains(engine)
        {
            throw bad("is for engine \"\(engine)\"; Esteira loads into MySQL, MariaDB or Aurora MySQL")
        }
        let dbname = try string("dbname", required: false)
        self.init(
            host: host, port: port, user: user, password: password, database: database ?? dbname,
            tlsMode: tlsMode, tlsCAFile: tlsCAFile, connectTimeout: connectTimeout, readTimeout: readTimeout,
            writeTimeout: writeTimeout)
    }
}
