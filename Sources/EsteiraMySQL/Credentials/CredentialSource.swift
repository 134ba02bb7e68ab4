/// Where connections get their config (host, user, password…) from. Asked before every new connection;
/// told to ``refresh()`` when the server says the password is wrong, so a rotated secret is picked up
/// without a restart.
public protocol MySQLCredentialSource: Sendable {
    /// The config to connect with now (cached by implementations that fetch it remotely).
    func current() async throws -> MySQLConfig
    /// Drops any cached value: the next ``current()`` fetches again.
    func refresh() async
}

/// A fixed config: a `mysql://` URL for local use.
public struct StaticCredentialSource: MySQLCredentialSource {
    public let config: MySQLConfig

    public init(_ config: MySQLConfig) { self.config = config }

    public func current() async throws -> MySQLConfig { config }
    public func refresh() async {}
}

/// A Secrets Manager secret in the RDS format, fetched by a closure (the AWS client lives in another
/// module), parsed with ``MySQLConfig/init(rdsSecret:database:tlsMode:tlsCAFile:connectTimeout:readTimeout:writeTimeout:)``,
/// and cached until ``refresh()``. Concurrent callers share one fetch.
public actor SecretCredentialSource: MySQLCredentialSource {
    public typealias Fetch = @Sendable () async throws -> String

    private let fetchSecretString: Fetch
    private let configure: @Sendable (inout MySQLConfig) -> Void
    private let secretJSONToConfig: @Sendable (String) throws -> MySQLConfig
    private var cached: MySQLConfig?
    private var inFlight: Task<MySQLConfig, any Error>?
    /// How many times the secret was fetched (for metrics and tests).
    public private(set) var fetches = 0

    /// - Parameters:
    ///   - fetchSecretString: returns the secret's SecretString (e.g. Secrets Manager GetSecretValue).
    ///   - database: overrides the secret's `dbname`.
    ///   - tlsMode: defaults to VERIFY_IDENTITY for non-loopback hosts.
    ///   - tlsCAFile: the CA bundle to verify the server with (for RDS: AWS's global bundle).
    ///   - configure: adjusts each parsed config (timeouts…).
    public init(
        database: String? = nil, tlsMode: MySQLConfig.TLSMode? = nil, tlsCAFile: String? = nil,
        configure: @escaping @Sendable (inout MySQLConfig) -> Void = { _ in },
        fetchSecretString: @escaping Fetch
    ) {
        self.fetchSecretString = fetchSecretString
        self.configure = configure
        self.secretJSONToConfig = { json in
            try MySQLConfig(rdsSecret: json, database: database, tlsMode: tlsMode, tlsCAFile: tlsCAFile)
        }
    }

    public func current() async throws -> MySQLConfig {
        if let cached { return cached }
        if let inFlight { return try await inFlight.value }
        let fetch = fetchSecretString
        let parse = secretJSONToConfig
        let configure = self.configure
        let task = Task<MySQLConfig, any Error> {
            var config = try parse(try await fetch())
            configure(&config)
            return config
        }
        inFlight = task
        fetches += 1
        defer { inFlight = nil }
        let config = try await task.value
        cached = config
        return config
    }

    public func refresh() async {
        cached = nil
    }
}

extension MySQLConnection {
    /// Connects with the source's current config. If the server answers "access denied" (1045) — the
    /// password was rotated since it was cached — the source is refreshed and the connect tried once more;
    /// a second refusal is thrown (permanent: the secret itself is wrong).
    public static func connect(using source: some MySQLCredentialSource) async throws -> MySQLConnection {
        let config = try await source.current()
        do {
            return try await connect(config)
        } catch let error as MySQLError where error.code == .accessDenied {
            await source.refresh()
            let fresh = try await source.current()
            return try await connect(fresh)
        }
    }
}
