import ArgumentParser
import Dispatch
import EsteiraAWS
import EsteiraSFTP
import Foundation
import Logging

struct SFTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sftp",
        abstract: "SFTP gateway: partners upload over SFTP straight into the landing bucket.",
        discussion: """
            See docs/SFTP.md for the users file, host keys and limits.

            Example:
              esteira sftp --users sftp-users.yaml --host-key-dir /var/lib/esteira/sftp
            """,
        subcommands: [SFTPServeCommand.self, SFTPHashPasswordCommand.self],
        defaultSubcommand: SFTPServeCommand.self)
}

struct SFTPServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the SFTP gateway (the default of `esteira sftp`).",
        discussion: """
            Each user's home is a prefix of the bucket; an upload becomes an object when the client closes \
            the file, so the bucket's ObjectCreated event (and the worker) sees only whole files. SIGHUP \
            reloads the users; SIGTERM stops, aborting uploads still open.

            Examples:
              esteira sftp --users sftp-users.yaml --host-key-dir /var/lib/esteira/sftp
              esteira sftp --users-secret esteira/sftp-users --port 2222
              esteira sftp --users partners.yaml --users-secret esteira/sftp-users   # both sets of users
            """)

    @Option(help: "Users file, YAML (env ESTEIRA_SFTP_USERS).")
    var users: String = env("ESTEIRA_SFTP_USERS") ?? ""

    @Option(
        name: .customLong("users-secret"),
        help:
            "Secrets Manager secret holding a users file's text; with --users too, both sets of users (env ESTEIRA_SFTP_USERS_SECRET)."
    )
    var usersSecret: String = env("ESTEIRA_SFTP_USERS_SECRET") ?? ""

    @Option(
        name: .customLong("host-key-dir"),
        help:
            "Folder of ssh_host_*_key files (OpenSSH format); keys are made there when it has none (env ESTEIRA_SFTP_HOST_KEY_DIR)."
    )
    var hostKeyDir: String = env("ESTEIRA_SFTP_HOST_KEY_DIR") ?? "sftp-host-keys"

    @Option(help: "Address to listen on (env ESTEIRA_SFTP_HOST).")
    var host: String = env("ESTEIRA_SFTP_HOST") ?? "0.0.0.0"

    @Option(help: "SSH port (env ESTEIRA_SFTP_PORT; 0 picks a free port).")
    var port: Int = env("ESTEIRA_SFTP_PORT").flatMap(Int.init) ?? 2222

    @Option(help: "Landing bucket (env ESTEIRA_BUCKET).")
    var bucket: String = env("ESTEIRA_BUCKET") ?? "esteira-landing"

    @Option(
        name: .customLong("http-port"),
        help: "Port of /metrics and /healthz (env ESTEIRA_SFTP_HTTP_PORT; 0 picks a free port).")
    var httpPort: Int = env("ESTEIRA_SFTP_HTTP_PORT").flatMap(Int.init) ?? 9091

    @Flag(name: .customLong("no-http"), help: "Serve no /metrics or /healthz.")
    var noHTTP = false

    @Option(name: .customLong("max-sessions-per-user"), help: "SFTP sessions one user may hold at once.")
    var maxSessionsPerUser: Int = 4

    @Option(
        name: .customLong("idle-timeout"),
        help: "Seconds without a request before a session is closed (its open uploads are dropped).")
    var idleTimeout: Int = 300

    @Option(name: .customLong("login-grace"), help: "Seconds a connection has to log in.")
    var loginGrace: Int = 60

    @Option(
        name: .customLong("max-file-size"), help: "Largest upload, in bytes or with a K/M/G/T suffix (powers of 1024).")
    var maxFileSize: String = "64G"

    @Option(
        name: .customLong("part-size-mib"),
        help: "Multipart part size in MiB (5-512); each upload holds about two parts in memory.")
    var partSizeMiB: Int = 8

    @Option(
        name: .customLong("failed-login-delay"),
        help: "Seconds before a failed login is answered (grows with repeated failures).")
    var failedLoginDelay: Double = 1

    @Option(name: .customLong("max-channels-per-connection"), help: "SSH channels one connection may hold open.")
    var maxChannelsPerConnection: Int = 10

    @Option(
        name: .customLong("upload-memory-mib"),
        help: "MiB all uploads together may hold in part buffers; an upload that finds no room for one part is refused."
    )
    var uploadMemoryMiB: Int = 512

    @Option(
        name: .customLong("health-s3-interval"), help: "Seconds between checks that the bucket answers (for /healthz).")
    var healthS3Interval: Int = 10

    @Option(
        name: .customLong("health-s3-timeout"),
        help: "Seconds without a successful bucket check before /healthz answers 503.")
    var healthS3Timeout: Int = 60

    @Option(
        name: .customLong("max-auth-tries"),
        help: "Login attempts per connection before it is closed (OpenSSH's MaxAuthTries).")
    var maxAuthTries: Int = 6

    @Option(
        name: .customLong("max-connections"), help: "Connections at once, logged in or not; more are closed at once.")
    var maxConnections: Int = 500

    @Option(
        name: .customLong("max-startups"),
        help:
            "start:rate:full for connections not logged in yet, as OpenSSH's MaxStartups: from start on, rate% of new ones are dropped, rising to all at full."
    )
    var maxStartups: String = "10:30:100"

    @Option(
        name: .customLong("per-source-max-startups"),
        help:
            "Connections not logged in yet from one address (IPv6: one /64); more are closed at once (OpenSSH's PerSourceMaxStartups)."
    )
    var perSourceMaxStartups: Int = 4

    @Option(
        name: .customLong("password-check-threads"),
        help: "Threads that check password hashes (each check is a slow KDF).")
    var passwordCheckThreads: Int = 1

    @Option(
        name: .customLong("max-pending-password-checks"),
        help: "Password checks running or waiting at once; an attempt over this fails at once, without a check.")
    var maxPendingPasswordChecks: Int = 16

    func validate() throws {
        guard (0...65535).contains(port), (0...65535).contains(httpPort) else {
            throw ValidationError("--port and --http-port must be 0…65535 (0 picks a free port)")
        }
        guard !users.isEmpty || !usersSecret.isEmpty else {
            throw ValidationError("name the users with --users FILE or --users-secret NAME (see docs/SFTP.md)")
        }
        guard idleTimeout >= 1, loginGrace >= 1, maxSessionsPerUser >= 1 else {
            throw ValidationError("--idle-timeout, --login-grace and --max-sessions-per-user must be at least 1")
        }
        guard failedLoginDelay >= 0, failedLoginDelay <= 30 else {
            throw ValidationError("--failed-login-delay must be 0…30 seconds")
        }
        guard maxChannelsPerConnection >= 1, uploadMemoryMiB >= 1, healthS3Interval >= 1, healthS3Timeout >= 1 else {
            throw ValidationError(
                "--max-channels-per-connection, --upload-memory-mib, --health-s3-interval and --health-s3-timeout must be at least 1"
            )
        }
        do { _ = try StartupLimit(parsing: maxStartups) } catch { throw ValidationError("\(error)") }
        guard maxAuthTries >= 1, maxConnections >= 1, perSourceMaxStartups >= 1, maxPendingPasswordChecks >= 1 else {
            throw ValidationError(
                "--max-auth-tries, --max-connections, --per-source-max-startups and --max-pending-password-checks must be at least 1"
            )
        }
        guard (1...64).contains(passwordCheckThreads) else {
            throw ValidationError("--password-check-threads must be 1…64")
        }
        _ = try Self.byteCount(maxFileSize)
    }

    static func byteCount(_ text: String) throws -> Int64 {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text.uppercased())
        var scale: Int64 = 1
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let n = Int64(digits), n > 0 else {
            throw ValidationError("--max-file-size '\(text)' is not a size such as 5000000, 500M or 100G")
        }
        return n * scale
    }

    func run() async throws {
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let s3 = S3Client(client: aws)

        let store = SFTPUserStore(try await loadUsers(aws: aws))
        var settings = SFTPGatewaySettings(bucket: bucket)
        settings.host = host
        settings.port = port
        settings.maxSessionsPerUser = maxSessionsPerUser
        settings.idleTimeout = .seconds(idleTimeout)
        settings.loginGraceTime = .seconds(loginGrace)
        settings.maxFileSize = try Self.byteCount(maxFileSize)
        settings.partSize = partSizeMiB << 20
        settings.failedLoginDelay = .milliseconds(Int64(failedLoginDelay * 1000))
        settings.maxChannelsPerConnection = maxChannelsPerConnection
        settings.uploadMemoryLimit = uploadMemoryMiB << 20
        settings.maxAuthTries = maxAuthTries
        settings.maxConnections = maxConnections
        settings.maxStartups = try StartupLimit(parsing: maxStartups)
        settings.perSourceMaxStartups = perSourceMaxStartups
        settings.passwordCheckThreads = passwordCheckThreads
        settings.maxPendingPasswordChecks = maxPendingPasswordChecks
        do { settings = try settings.validated() } catch { throw UserFacingError("\(error)") }

        // Fail at start, not at a partner's first upload, when the bucket is wrong or unreachable.
        do {
            _ = try await s3.listDirectoryPage(bucket: bucket, prefix: "", maxKeys: 1)
        } catch {
            throw UserFacingError(
                "cannot list bucket '\(bucket)': \(error). Check --bucket / ESTEIRA_BUCKET and the AWS settings.")
        }

        let hostKeys: [HostKey]
        do { hostKeys = try HostKeys.loadOrCreate(directory: hostKeyDir, logger: logger) } catch {
            throw UserFacingError("\(error)")
        }
        for key in hostKeys {
            logger.notice(
                "host key",
                metadata: ["type": "\(key.type)", "fingerprint": "\(key.fingerprint)", "path": "\(key.path)"])
        }

        let metrics = SFTPMetrics()
        let gateway: SFTPGateway
        do {
            gateway = try await SFTPGateway.start(
                settings: settings, users: store, hostKeys: hostKeys, s3: s3,
                metrics: metrics, logger: logger)
        } catch { throw UserFacingError("\(error)") }
        var status: GatewayStatusServer?
        let health = BucketHealth(bucket: bucket, timeout: .seconds(healthS3Timeout))
        let probe =
            noHTTP
            ? nil
            : Task { [interval = healthS3Interval] in
                await health.run(s3: s3, interval: .seconds(interval), logger: logger)
            }
        defer { probe?.cancel() }
        if !noHTTP {
            do {
                status = try await GatewayStatusServer.start(
                    port: httpPort, metrics: metrics, gateway: { gateway.activeSessions },
                    health: { health.status })
            } catch {
                await gateway.stop()
                throw UserFacingError("\(error)")
            }
        }
        logger.notice(
            "sftp gateway listening",
            metadata: [
                "port": "\(gateway.port)", "bucket": "\(bucket)", "users": "\(store.current.users.count)",
                "http_port": "\(status.map { String($0.port) } ?? "off")",
            ])

        for await signal in Self.signals([SIGTERM, SIGINT, SIGHUP]) {
            if signal == SIGHUP {
                do {
                    // Connections of users who lost access are closed at once.
                    gateway.replaceUsers(with: try await loadUsers(aws: aws))
                    logger.notice("users reloaded", metadata: ["users": "\(store.current.users.count)"])
                } catch {
                    logger.error("users not reloaded; keeping the previous ones", metadata: ["error": "\(error)"])
                }
                continue
            }
            logger.notice("stopping: open uploads are aborted", metadata: ["sessions": "\(gateway.activeSessions)"])
            break
        }
        await status?.stop()
        await gateway.stop()
        logger.notice("sftp gateway stopped")
    }

    /// The users file, the secret, or both as one directory (a user in both is refused).
    private func loadUsers(aws: AWSClient) async throws -> SFTPUserDirectory {
        do {
            var sources: [(directory: SFTPUserDirectory, source: String)] = []
            if !users.isEmpty { sources.append((try SFTPUserDirectory.load(path: users), "the users file \(users)")) }
            if !usersSecret.isEmpty {
                let name = usersSecret
                let secret = try await SecretsManagerClient(client: aws).getSecretValue(secretID: name)
                guard let text = secret.string ?? secret.binary.map({ String(decoding: $0, as: UTF8.self) }) else {
                    throw UserFacingError("secret \(name) is empty")
                }
                sources.append((try SFTPUserDirectory.parse(text, source: "secret \(name)"), "secret \(name)"))
            }
            return sources.count == 1 ? sources[0].directory : try SFTPUserDirectory.combining(sources)
        } catch let e as UsersFileError {
            throw UserFacingError(e.description)
        } catch let e as AWSError {
            throw UserFacingError("cannot read the users secret \(usersSecret): \(e)")
        }
    }

    /// Signals as a stream; their default actions are turned off so the loop above decides.
    static func signals(_ numbers: [Int32]) -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let sources = SignalSources(
                numbers.map { number -> any DispatchSourceSignal in
                    signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                    source.setEventHandler { continuation.yield(number) }
                    source.resume()
                    return source
                })
            continuation.onTermination = { _ in sources.cancel() }
        }
    }
}

/// Keeps the signal sources alive as long as the stream.
private final class SignalSources: @unchecked Sendable {
    // Safety: set once; DispatchSource.cancel is thread-safe.
    let sources: [any DispatchSourceSignal]
    init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
    func cancel() { for source in sources { source.cancel() } }
}

struct SFTPHashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Read a password on standard input and print the hash to put in the users file.",
        discussion: """
            Example:
              printf '%s' 'the password' | esteira sftp hash-password
            """)

    @Flag(help: "PBKDF2-SHA256 (600,000 rounds) instead of scrypt (N=2^15, r=8, p=1).")
    var pbkdf2 = false

    func run() throws {
        var data = FileHandle.standardInput.readDataToEndOfFile()
        if data.last == UInt8(ascii: "\n") { data.removeLast() }
        if data.last == UInt8(ascii: "\r") { data.removeLast() }
        guard !data.isEmpty, let password = String(data: data, encoding: .utf8) else {
            throw UserFacingError(
                "no password on standard input (printf '%s' 'the password' | esteira sftp hash-password)")
        }
        let algorithm: PasswordHash.Algorithm =
            pbkdf2 ? .pbkdf2(digest: "sha256", iterations: 600_000) : PasswordHash.defaultAlgorithm
        print(try PasswordHash.make(password: password, algorithm: algorithm))
    }
}
