import EsteiraAWS
import EsteiraSync
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSH

/// Knobs of the gateway; `esteira sftp --help` documents each.
public struct SFTPGatewaySettings: Sendable {
    public var host = "0.0.0.0"
    /// 0 picks a free port (tests).
    public var port = 2222
    public var bucket: String
    public var maxSessionsPerUser = 4
    public var idleTimeout: Duration = .seconds(300)
    /// Time a connection has to log in before it is closed (OpenSSH's LoginGraceTime).
    public var loginGraceTime: Duration = .seconds(60)
    /// Largest file a client may upload; S3's own limit is 5 TiB.
    public var maxFileSize: Int64 = 64 << 30
    /// Multipart part size: memory per upload is about twice this. 8 MiB parts reach S3's 10,000-part
    /// limit at 78 GiB, so `maxFileSize` above that needs a larger part.
    public var partSize = 8 << 20
    public var failedLoginDelay: Duration = .seconds(1)
    public var maxOpenFilesPerSession = 64
    public var maxUploadsPerSession = 4
    /// Folders being listed at once per session (each may hold up to an S3 page of names).
    public var maxOpenFoldersPerSession = 8
    /// Channels one connection may hold open (OpenSSH's sftp uses one; more are only a way to hold resources).
    public var maxChannelsPerConnection = 10
    /// Bytes all uploads of the process may hold in part buffers together; an upload takes room for
    /// one part at OPEN, and a second while a part is in flight if there is room.
    public var uploadMemoryLimit = 512 << 20
    /// Before login (docs/SFTP.md, "Limits"): attempts per connection (OpenSSH's MaxAuthTries), all
    /// connections, connections not logged in yet (MaxStartups) and those per client address
    /// (PerSourceMaxStartups), and the password checks (KDFs) running or waiting and their threads.
    public var maxAuthTries = 6
    public var maxConnections = 500
    public var maxStartups = StartupLimit(start: 10, rate: 30, full: 100)
    public var perSourceMaxStartups = 4
    public var passwordCheckThreads = 1
    public var maxPendingPasswordChecks = 16

    public init(bucket: String) { self.bucket = bucket }

    public func validated() throws -> SFTPGatewaySettings {
        guard partSize >= 5 << 20, partSize <= 512 << 20 else {
            throw SFTPGatewayError(
                "the part size must be 5 MiB to 512 MiB (S3 refuses smaller parts; larger ones cost memory)")
        }
        guard maxFileSize <= Int64(partSize) * 10_000 else {
            throw SFTPGatewayError(
                "a \(maxFileSize)-byte file would need more than S3's 10,000 parts of \(partSize) bytes; "
                    + "raise the part size to at least \(maxFileSize / 10_000 + 1) bytes or lower the file size limit")
        }
        guard maxSessionsPerUser >= 1, maxUploadsPerSession >= 1, maxOpenFilesPerSession >= 1,
            maxChannelsPerConnection >= 1,
            maxOpenFoldersPerSession >= 1
        else {
            throw SFTPGatewayError("session, upload, open-file and channel limits must be at least 1")
        }
        guard uploadMemoryLimit >= partSize + SFTPCodec.maximumPacketLength else {
            throw SFTPGatewayError(
                "the upload memory (\(uploadMemoryLimit >> 20) MiB) must hold at least one part of "
                    + "\(partSize >> 20) MiB and one write; raise it or lower the part size")
        }
        try maxStartups.validate()
        guard maxAuthTries >= 1, maxConnections >= 1, perSourceMaxStartups >= 1,
            (1...64).contains(passwordCheckThreads),
            maxPendingPasswordChecks >= 1
        else {
            throw SFTPGatewayError(
                "--max-auth-tries, --max-connections, --per-source-max-startups and --max-pending-password-checks "
                    + "must be at least 1, --password-check-threads 1…64")
        }
        return self
    }
}

public struct SFTPGatewayError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The SFTP endpoint: SSH on swift-nio-ssh, the `sftp` subsystem, files in one S3 bucket.
public final class SFTPGateway: Sendable {
    public let port: Int
    public let hostKeys: [HostKey]
    private let serverChannel: any Channel
    private let connections = Locked<[ObjectIdentifier: any Channel]>([:])
    private let sessions = Locked<(next: Int, tasks: [Int: Task<Void, Never>])>((0, [:]))
    private let perUser = Locked<[String: Int]>([:])
    private let passwordChecks: PasswordChecks
    private let limiter: ConnectionLimiter
    private let refusals = RefusalLog()
    private let logger: Logger
    private let users: SFTPUserStore
    private let loggedIn = LoggedInConnections()
    private let uploadMemory: UploadMemoryBudget

    private init(
        port: Int, hostKeys: [HostKey], serverChannel: any Channel, passwordChecks: PasswordChecks,
        limiter: ConnectionLimiter, logger: Logger, users: SFTPUserStore, uploadMemory: UploadMemoryBudget
    ) {
        self.port = port
        self.hostKeys = hostKeys
        self.serverChannel = serverChannel
        self.passwordChecks = passwordChecks
        self.limiter = limiter
        self.logger = logger
        self.users = users
        self.uploadMemory = uploadMemory
    }

    /// Binds and starts serving. Host keys come from `HostKeys.loadOrCreate`.
    public static func start(
        settings: SFTPGatewaySettings, users: SFTPUserStore, hostKeys: [HostKey], s3: S3Client,
        metrics: SFTPMetrics?, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> SFTPGateway {
        let settings = try settings.validated()
        guard !hostKeys.isEmpty else { throw SFTPGatewayError("no host keys") }
        let passwordChecks = PasswordChecks(
            threads: settings.passwordCheckThreads, capacity: settings.maxPendingPasswordChecks)
        let limiter = ConnectionLimiter(
            limits: .init(
                maxConnections: settings.maxConnections, startups: settings.maxStartups,
                perSourceStartups: settings.perSourceMaxStartups))
        let policy = LoginPolicy(
            users: users, metrics: metrics, logger: logger, passwordChecks: passwordChecks,
            failureDelay: TimeAmount(settings.failedLoginDelay),
            maxAuthTries: settings.maxAuthTries)
        let keys = hostKeys.map(\.privateKey)
        let holder = Locked<SFTPGateway?>(nil)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 128)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let gateway = holder.withLock({ $0 }) else { throw SFTPGatewayError("gateway not started") }
                    try gateway.setUpConnection(
                        channel, settings: settings, policy: policy, keys: keys, s3: s3,
                        metrics: metrics)
                }
            }
        let server: any Channel
        do {
            server = try await bootstrap.bind(host: settings.host, port: settings.port).get()
        } catch {
            await passwordChecks.shutdown()
            throw SFTPGatewayError(
                "cannot listen on \(settings.host):\(settings.port): \(error) (choose another with --port)")
        }
        let gateway = SFTPGateway(
            port: server.localAddress?.port ?? settings.port, hostKeys: hostKeys,
            serverChannel: server, passwordChecks: passwordChecks, limiter: limiter, logger: logger,
            users: users, uploadMemory: UploadMemoryBudget(limit: settings.uploadMemoryLimit))
        holder.withLock { $0 = gateway }
        return gateway
    }

    private func setUpConnection(
        _ channel: any Channel, settings: SFTPGatewaySettings, policy: LoginPolicy,
        keys: [NIOSSHPrivateKey], s3: S3Client, metrics: SFTPMetrics?
    ) throws {
        let remote = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        // Limits before login: refused connections are closed (by NIO, as this throws) before any SSH.
        let ticket: ConnectionLimiter.Ticket
        switch limiter.admit(source: ConnectionLimiter.sourceKey(channel.remoteAddress)) {
        case .success(let t): ticket = t
        case .failure(let refusal):
            metrics?.connectionRefused(reason: refusal.reason.rawValue)
            refusals.note(refusal.reason.rawValue, source: refusal.source, logger: logger, limits: "\(limiter.limits)")
            throw refusal
        }
        channel.closeFuture.whenComplete { _ in ticket.closed() }
        let authenticator = LoginAuthenticator(
            policy: policy, remote: remote, onLogin: { ticket.loggedIn() },
            disconnect: { [weak channel] in channel?.close(promise: nil) })
        var config = SSHServerConfiguration(
            hostKeys: keys, userAuthDelegate: authenticator, globalRequestDelegate: nil, banner: nil,
            transportProtectionSchemes: RepeatedServiceRequest.transportProtectionSchemes)
        // A small channel window (64 × 32 KiB = 2 MiB) is what NIOSSH may buffer per session while
        // the session waits for S3; OpenSSH's sftp writes 32 KiB at a time anyway.
        config.maximumPacketSize = 32768
        // A backstop only: LoginAuthenticator counts attempts as OpenSSH does. NIOSSH counts every request,
        // also the key queries it answers itself and the stand-ins of RepeatedServiceRequest.
        config.maxAuthAttempts = 3 * settings.maxAuthTries + 4
        let logger = self.logger
        let connection = LoggedInConnection(channel: channel, remote: remote, user: authenticator.authenticatedUser)
        let idleTimeout = TimeAmount(settings.idleTimeout)
        let handler = NIOSSHHandler(
            role: .server(config), allocator: channel.allocator,
            inboundChildChannelInitializer: { [self] child, type in
                guard case .session = type else {
                    return child.eventLoop.makeFailedFuture(
                        SFTPGatewayError("only session channels are served (no port forwarding)"))
                }
                guard connection.openChannel(limit: settings.maxChannelsPerConnection) else {
                    metrics?.sessionRefused(reason: "channel_limit")
                    logger.warning(
                        "channel refused: limit per connection reached",
                        metadata: ["remote": "\(remote)", "limit": "\(settings.maxChannelsPerConnection)"])
                    return child.eventLoop.makeFailedFuture(
                        SFTPGatewayError(
                            "at most \(settings.maxChannelsPerConnection) channels per connection; close one first"))
                }
                child.closeFuture.whenComplete { [logger] _ in
                    connection.channelClosed(idleTimeout: idleTimeout, logger: logger)
                }
                return child.eventLoop.makeCompletedFuture {
                    guard let loggedInAs = authenticator.authenticatedUser.withLock({ $0 }) else {
                        throw SFTPGatewayError("channel before login")
                    }
                    // Checked again here: a reload may have taken the access away since login. The session
                    // gets the user as the users read now (the same home and permissions, maybe more keys).
                    switch loggedInAs.access(under: users.current.user(named: loggedInAs.name)) {
                    case .continues(let current):
                        try self.setUpSession(
                            child, user: current, remote: remote, settings: settings, s3: s3, metrics: metrics)
                    case .ends(let reason):
                        logger.notice(
                            "access revoked; closing the connection",
                            metadata: ["user": "\(loggedInAs.name)", "remote": "\(remote)", "reason": "\(reason)"])
                        channel.close(promise: nil)
                        throw SFTPGatewayError("access revoked: \(reason)")
                    }
                }
            })
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.pipeline.syncOperations.addHandler(ConnectionErrorHandler(logger: logger, remote: remote))

        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = connections.withLock { $0.removeValue(forKey: id) } }
        loggedIn.add(connection)
        // A logged-in connection with no channel open is closed after the idle timeout, as an idle session is.
        connection.armIdleTimer(idleTimeout, logger: logger)
        // A connection that has not logged in by then is dropped, so idle half-open logins cannot pile up.
        let grace = TimeAmount(settings.loginGraceTime)
        channel.eventLoop.scheduleTask(in: grace) {
            if authenticator.authenticatedUser.withLock({ $0 }) == nil, channel.isActive {
                logger.notice("no login within the grace time; closing", metadata: ["remote": "\(remote)"])
                channel.close(promise: nil)
            }
        }
    }

    private func setUpSession(
        _ child: any Channel, user: SFTPUser, remote: String, settings: SFTPGatewaySettings,
        s3: S3Client, metrics: SFTPMetrics?
    ) throws {
        let admitted = Locked(false)
        let limit = settings.maxSessionsPerUser
        try child.pipeline.syncOperations.addHandler(
            SFTPSubsystemHandler(admit: { [self] in
                let granted = perUser.withLock { counts -> Bool in
                    guard counts[user.name, default: 0] < limit else { return false }
                    counts[user.name, default: 0] += 1
                    return true
                }
                guard granted else {
                    metrics?.sessionRefused(reason: "session_limit")
                    logger.warning(
                        "session refused: limit reached", metadata: ["user": "\(user.name)", "limit": "\(limit)"])
                    return
                        "too many sessions for user \(user.name) (at most \(limit) at once); close another session and try again"
                }
                admitted.withLock { $0 = true }
                metrics?.sessionsStarted.increment()
                metrics?.sessionsActive.increment()
                return nil
            }))
        let asyncChannel = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
            wrappingChannelSynchronously: child,
            configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8)))
        let sessionLogger = {
            var l = logger
            l[metadataKey: "user"] = "\(user.name)"
            l[metadataKey: "remote"] = "\(remote)"
            return l
        }()
        let session = SFTPSession(
            user: user,
            storage: S3Storage(
                s3: s3, bucket: settings.bucket, home: user.home,
                logger: sessionLogger),
            settings: settings, metrics: metrics, logger: sessionLogger, uploadMemory: uploadMemory)
        // Made under the lock, so the task's own removal (which takes the lock) always comes after.
        let task = sessions.withLock { s -> Task<Void, Never> in
            s.next += 1
            let key = s.next
            let task = Task { [self] in
                await session.run(asyncChannel)
                if admitted.withLock({ $0 }) {
                    perUser.withLock { $0[user.name, default: 1] -= 1 }
                    metrics?.sessionsActive.decrement()
                    sessionLogger.info("session ended")
                }
                _ = sessions.withLock { $0.tasks.removeValue(forKey: key) }
            }
            s.tasks[key] = task
            return task
        }
        // When the TCP connection is gone the session must end even if its SSH channel never saw the
        // peer's close (a client that vanished mid-close): cancelling ends the read loop, and the
        // session's cleanup (aborting open uploads) runs shielded from the cancellation.
        (child.parent ?? child).closeFuture.whenComplete { _ in task.cancel() }
    }

    /// Stops accepting, closes every connection (open uploads are aborted) and waits for the sessions.
    public func stop() async {
        try? await serverChannel.close()
        let open = connections.withLock { Array($0.values) }
        for c in open { try? await c.close() }
        // Sessions end as their connections close; one whose SSH channel never finishes closing is not
        // worth hanging a shutdown for (its uploads were aborted when its read loop ended).
        let tasks = sessions.withLock { Array($0.tasks.values) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for t in tasks { await t.value } }
            group.addTask { try? await Task.sleep(for: .seconds(10)) }
            await group.next()
            group.cancelAll()
        }
        await passwordChecks.shutdown()
    }

    /// Replaces the users (a reload) and at once closes every connection whose user lost access: removed,
    /// a key or password taken away or changed, a new home or new permissions. A user who only gained
    /// a key or a password keeps their connections.
    public func replaceUsers(with directory: SFTPUserDirectory) {
        users.replace(with: directory)
        let closed = loggedIn.revoke(against: directory, logger: logger)
        if closed > 0 {
            logger.notice("connections closed after the users changed", metadata: ["connections": "\(closed)"])
        }
    }

    /// Upload memory reserved now, for tests.
    public var uploadMemoryInUse: Int { uploadMemory.inUse }

    /// Sessions open now, for tests and the log.
    public var activeSessions: Int { perUser.withLock { $0.values.reduce(0, +) } }
}

/// Logs what kills a connection (a client that speaks no SSH, a broken key exchange) once, then closes it.
final class ConnectionErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    let logger: Logger
    let remote: String
    init(logger: Logger, remote: String) {
        self.logger = logger
        self.remote = remote
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("connection closed on error", metadata: ["remote": "\(remote)", "error": "\(error)"])
        context.close(promise: nil)
    }
}
