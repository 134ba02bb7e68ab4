/// Where and how to connect.
///
/// Built from a URL for local use —
/// `mysql://user:password@host:port/database?socket=/path&ssl-mode=VERIFY_IDENTITY&ssl-ca=/path/ca.pem`
/// — or field by field (e.g. from an RDS Secrets Manager secret). The password never appears in
/// `description`, `debugDescription`, `dump()` or any error.
public struct MySQLConfig: Sendable, Equatable {
    /// Mirrors MySQL's `--ssl-mode`.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disabled = "DISABLED"
        /// Use TLS if the server offers it; no certificate check.
        case preferred = "PREFERRED"
        /// TLS or fail; no certificate check.
        case required = "REQUIRED"
        /// TLS with the server certificate checked against `tlsCAFile` (or the system store).
        /// Connector/C 3.3 checks the host name whenever it checks the chain, so this behaves as
        /// `verifyIdentity`.
        case verifyCA = "VERIFY_CA"
        /// TLS with the certificate chain and host name checked. The default for any non-loopback host.
        case verifyIdentity = "VERIFY_IDENTITY"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    /// The database selected on connect (the file load's table and ledger live here).
    public var database: String?
    /// A Unix socket path; when set, `host` and `port` are not used.
    public var unixSocket: String?
    public var tlsMode: TLSMode
    /// PEM bundle to verify the server with (for RDS: the global bundle from AWS).
    public var tlsCAFile: String?
    public var connectTimeout: Duration
    /// How long to wait for the server's answer to one statement (a large batch or COMMIT included).
    public var readTimeout: Duration
    public var writeTimeout: Duration
    /// The connection character set. utf8mb4 unless you have a reason; only charsets in which escaping is
    /// byte-wise safe are accepted (see ``MySQLEscaping``).
    public var charset: String

    public static let defaultPort = 3306
    public static let defaultCharset = "utf8mb4"
    /// Charsets in which no byte of a multi-byte character is an ASCII byte, so escaping is byte-wise exact.
    public static let supportedCharsets: Set<String> = ["utf8mb4", "utf8mb3", "utf8", "latin1", "ascii"]

    public init(
        host: String = "127.0.0.1",
        port: Int = MySQLConfig.defaultPort,
        user: String,
        password: String,
        database: String? = nil,
        unixSocket: String? = nil,
        tlsMode: TLSMode? = nil,
        tlsCAFile: String? = nil,
        connectTimeout: Duration = .seconds(10),
        readTimeout: Duration = .seconds(300),
        writeTimeout: Duration = .seconds(300),
        charset: String = MySQLConfig.defaultCharset
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.unixSocket = unixSocket
        self.tlsMode = tlsMode ?? Self.defaultTLSMode(host: host, unixSocket: unixSocket)
        self.tlsCAFile = tlsCAFile
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        self.charset = charset
    }

    /// Verified TLS unless the server is on this machine: RDS is never on loopback, and the local MariaDB
    /// has no certificate. "On this machine" is decided by the address (127.0.0.0/8, `::1`, or the name
    /// `localhost`), never by how a name starts (see ``LoopbackAddress``).
    public static func defaultTLSMode(host: String, unixSocket: String?) -> TLSMode {
        if unixSocket != nil { return .preferred }
        return LoopbackAddress.isLoopback(host) ? .preferred : .verifyIdentity
    }

    /// Parses `mysql://` (or `mariadb://`) URLs. User, password and database are percent-decoded.
    ///
    /// Query parameters: `socket`, `ssl-mode` (DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY),
    /// `ssl-ca`, `connect-timeout`, `read-timeout`, `write-timeout` (seconds), `charset`. Unknown parameters
    /// are an error, so a typo does not silently drop, say, TLS verification.
    public init(url: String) throws(MySQLError) {
        func bad(_ why: String) -> MySQLError {
            MySQLError(
                code: .invalidConfiguration, message: "\(why) in MySQL URL \(Self.redact(url: url))",
                operation: "parse MySQL URL")
        }
        var rest = Substring(url)
        guard let schemeEnd = rest.range(of: "://") else { throw bad("missing scheme") }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "mysql" || scheme == "mariadb" else { throw bad("unsupported scheme '\(scheme)'") }
        rest = rest[schemeEnd.upperBound...]
        // An '@' after the first '/', '?' or '#' means a password with an unencoded reserved character:
        // refuse it rather than parse part of the password as a path or parameter (and echo it in an error).
        if let cut = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }), rest[cut...].contains("@") {
            throw bad("'@' after the host: percent-encode '/', '?', '#' and '@' in user and password")
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        var queryPart: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            queryPart = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        var pathPart: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            pathPart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        // The authority: the last '@' separates credentials, so an unencoded '@' in a password still parses.
        var user = ""
        var password = ""
        var hostPort = rest
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            let rawUser: Substring
            var rawPassword: Substring = ""
            if let colon = userInfo.firstIndex(of: ":") {
                rawUser = userInfo[..<colon]
                rawPassword = userInfo[userInfo.index(after: colon)...]
            } else {
                rawUser = userInfo
            }
            guard let u = Self.percentDecode(rawUser) else { throw bad("bad percent-encoding in user") }
            guard let p = Self.percentDecode(rawPassword) else { throw bad("bad percent-encoding in password") }
            user = u
            password = p
        }
        guard !user.isEmpty else { throw bad("missing user") }

        var host = "127.0.0.1"
        var port = Self.defaultPort
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw bad("unterminated IPv6 address") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw bad("bad host") }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        } else if !hostPort.isEmpty {
            host = String(hostPort)
        }
        if host.isEmpty { host = "127.0.0.1" }
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw bad("bad port '\(portText)'") }
            port = p
        }

        var database: String?
        if !pathPart.isEmpty {
            guard let db = Self.percentDecode(pathPart), !db.contains("/") else { throw bad("bad database name") }
            database = db
        }

        var unixSocket: String?
        var tlsMode: TLSMode?
        var tlsCAFile: String?
        var connectTimeout = Duration.seconds(10)
        var readTimeout = Duration.seconds(300)
        var writeTimeout = Duration.seconds(300)
        var charset = Self.defaultCharset
        for pair in queryPart.split(separator: "&") where !pair.isEmpty {
            let (rawName, rawValue) =
                pair.firstIndex(of: "=").map { (pair[..<$0], pair[pair.index(after: $0)...]) }
                ?? (pair, "")
            guard let name = Self.percentDecode(rawName), let value = Self.percentDecode(rawValue) else {
                throw bad("bad percent-encoding in query")
            }
            func seconds() throws(MySQLError) -> Duration {
                guard let s = Int(value), s > 0 else { throw bad("\(name) must be a positive number of seconds") }
                return .seconds(s)
            }
            switch name.lowercased().replacingUnderscores() {
            case "socket": unixSocket = value
            case "ssl-mode", "sslmode":
                guard let mode = TLSMode(rawValue: value.uppercased().replacingHyphens()) else {
                    throw bad("unknown ssl-mode '\(value)'")
                }
                tlsMode = mode
            case "ssl-ca": tlsCAFile = value
            case "connect-timeout": connectTimeout = try seconds()
            case "read-timeout": readTimeout = try seconds()
            case "write-timeout": writeTimeout = try seconds()
            case "charset": charset = value.lowercased()
            default: throw bad("unknown parameter '\(name)'")
            }
        }
        guard Self.supportedCharsets.contains(charset) else { throw bad("unsupported charset '\(charset)'") }

        self.init(
            host: host, port: port, user: user, password: password, database: database,
            unixSocket: unixSocket, tlsMode: tlsMode, tlsCAFile: tlsCAFile,
            connectTimeout: connectTimeout, readTimeout: readTimeout, writeTimeout: writeTimeout,
            charset: charset)
    }

    /// The URL with the password replaced by `***` (safe to log).
    public var redactedURL: String {
        var s = "mysql://\(Self.percentEncode(user))"
        if !password.isEmpty { s += ":***" }
        s += "@"
        s += host.contains(":") ? "[\(host)]" : host
        s += ":\(port)"
        if let database { s += "/\(Self.percentEncode(database))" }
        var query: [String] = []
        if let unixSocket { query.append("socket=\(unixSocket)") }
        query.append("ssl-mode=\(tlsMode.rawValue)")
        if let tlsCAFile { query.append("ssl-ca=\(tlsCAFile)") }
        if charset != Self.defaultCharset { query.append("charset=\(charset)") }
        return s + "?" + query.joined(separator: "&")
    }

    // MARK: Helpers

    /// For errors about a URL that did not parse: hide everything between "://" and the last "@" (however
    /// malformed the URL, the password lies there).
    static func redact(url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return "(unparseable URL)" }
        let afterScheme = url[schemeEnd.upperBound...]
        guard let at = afterScheme.lastIndex(of: "@") else { return url }
        let userInfo = afterScheme[..<at]
        let user = userInfo.firstIndex(of: ":").map { userInfo[..<$0] } ?? userInfo
        return String(url[..<schemeEnd.upperBound]) + user + ":***" + url[at...]
    }

    static func percentDecode(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let hi = iterator.next().flatMap(hexValue), let lo = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension MySQLConfig: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { redactedURL }
    public var debugDescription: String { "MySQLConfig(\(redactedURL))" }
    /// `dump(config)` and debuggers show the redacted URL, not the stored password.
    public var customMirror: Mirror {
        Mirror(self, children: ["url": redactedURL], displayStyle: .struct)
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
    fileprivate func replacingHyphens() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}

extension Duration {
    /// Whole seconds for Connector/C's timeout options, rounded up, at least 1.
    var wholeSecondsRoundedUp: UInt32 {
        let (seconds, attoseconds) = components
        let rounded = seconds + (attoseconds > 0 ? 1 : 0)
        return UInt32(clamping: max(1, rounded))
    }
}
