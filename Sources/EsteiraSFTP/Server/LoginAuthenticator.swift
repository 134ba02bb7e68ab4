import EsteiraSync
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSH

/// The accounts the gateway serves now; replaced whole when the users file is reloaded.
public final class SFTPUserStore: Sendable {
    private let box: Locked<SFTPUserDirectory>
    public init(_ directory: SFTPUserDirectory) { box = Locked(directory) }
    public var current: SFTPUserDirectory { box.withLock { $0 } }
    public func replace(with directory: SFTPUserDirectory) { box.withLock { $0 = directory } }
}

/// Where password hashes are checked: threads of their own, so a KDF never holds an event loop, and a
/// bound on the checks running or waiting, so a flood of guesses cannot queue unbounded work (or memory:
/// each scrypt check holds its working set). Over the bound an attempt fails at once, without a KDF.
final class PasswordChecks: Sendable {
    private let pool: NIOThreadPool
    /// Checks running or waiting at once.
    let capacity: Int
    private let inFlight = Locked(0)

    init(threads: Int, capacity: Int) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        self.capacity = capacity
    }

    /// Whether `password` matches `hash`, or nil when `capacity` checks are already running or waiting.
    func verify(_ password: String, against hash: PasswordHash, on loop: any EventLoop) -> EventLoopFuture<Bool>? {
        let admitted = inFlight.withLock { n -> Bool in
            guard n < capacity else { return false }
            n += 1
            return true
        }
        guard admitted else { return nil }
        return pool.runIfActive(eventLoop: loop) { hash.verify(password) }
            .always { [inFlight] _ in inFlight.withLock { $0 -= 1 } }
    }

    func shutdown() async { try? await pool.shutdownGracefully() }
}

/// What every connection's authenticator shares.
struct LoginPolicy: Sendable {
    let users: SFTPUserStore
    let metrics: SFTPMetrics?
    let logger: Logger
    let passwordChecks: PasswordChecks
    let failureDelay: TimeAmount
    /// Attempts (keys offered with a signature, passwords) per connection, as OpenSSH's MaxAuthTries.
    let maxAuthTries: Int
}

/// Logs one connection in, by key or by password.
///
/// Requests are answered one at a time, in order, as OpenSSH's sshd does: a request sent before the
/// previous answer (pipelined) waits for it. A failed attempt is answered only once `failureDelay`
/// (growing with each failure on the connection) has passed since its turn came, the same for an
/// unknown user, a user without a password, a wrong key, a wrong password or a password check refused
/// because too many are waiting, so the answer's timing says nothing about which names exist. The KDF
/// runs only when it could succeed (a user with a password), inside that delay. The attempt after
/// `maxAuthTries` closes the connection, and so does the failure of the last one allowed.
final class LoginAuthenticator: NIOSSHServerUserAuthenticationDelegate, @unchecked Sendable {
    // Safety: everything mutable is touched only on the connection's event loop, where NIOSSH calls us
    // and where our futures and scheduled tasks complete.
    private let policy: LoginPolicy
    private let remote: String
    private let onLogin: @Sendable () -> Void
    private let disconnect: @Sendable () -> Void
    private var failures = 0
    private var attempts = 0
    private var waiting:
        [(request: NIOSSHUserAuthenticationRequest, promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>)] = []
    private var busy = false
    private var finished = false
    /// The user this connection logged in as; read by its session channels.
    let authenticatedUser = Locked<SFTPUser?>(nil)

    init(
        policy: LoginPolicy, remote: String, onLogin: @escaping @Sendable () -> Void = {},
        disconnect: @escaping @Sendable () -> Void = {}
    ) {
        self.policy = policy
        self.remote = remote
        self.onLogin = onLogin
        self.disconnect = disconnect
    }

    var supportedAuthenticationMethods: NIOSSHAvailableUserAuthenticationMethods {
        policy.users.current.passwordLoginEnabled ? [.publicKey, .password] : .publicKey
    }

    func requestReceived(
        request: NIOSSHUserAuthenticationRequest,
        responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>
    ) {
        // NIOSSH calls us from inside its channelRead; keeping a promise (or closing) right here would
        // re-enter it. Everything happens in a task of its own on the same loop.
        responsePromise.futureResult.eventLoop.execute { [self] in received(request, responsePromise) }
    }

    private func received(
        _ request: NIOSSHUserAuthenticationRequest,
        _ responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>
    ) {
        guard !finished else {
            responsePromise.succeed(.failure)
            return
        }
        waiting.append((request, responsePromise))
        // `none` asks which methods there are; everything else is an attempt.
        if case .none = request.request {} else { attempts += 1 }
        if attempts > policy.maxAuthTries {
            // Sent before the answers to earlier ones (pipelined) past the limit: no more work for this connection.
            tooManyAttempts()
        } else {
            next()
        }
    }

    private func next() {
        guard !busy, !finished, !waiting.isEmpty else { return }
        busy = true
        let (request, promise) = waiting.removeFirst()
        // The next request's turn comes in a task of its own, after NIOSSH has sent this answer, so
        // answers keep their order.
        promise.futureResult.whenComplete { [self] _ in
            promise.futureResult.eventLoop.execute { [self] in
                busy = false
                next()
            }
        }
        handle(request, turn: .now(), promise: promise)
    }

    private func handle(
        _ request: NIOSSHUserAuthenticationRequest, turn: NIODeadline,
        promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>
    ) {
        let user = policy.users.current.user(named: request.username)
        switch request.request {
        case .none:
            // The client asking which methods there are: not an attempt.
            promise.succeed(.failure)
        case .publicKey(let offer):
            // NIOSSH has already checked the signature; what is left is whether this key is the user's.
            if let user, user.authorizedKeys.contains(offer.publicKey) {
                succeed(user, method: "publickey", promise: promise)
            } else {
                fail(
                    request.username, method: "publickey", reason: user == nil ? "unknown_user" : "key_not_authorized",
                    detail: HostKeys.fingerprint(offer.publicKey), turn: turn, promise: promise)
            }
        case .password(let offer):
            // No KDF where it cannot succeed: the failure is answered on the same schedule without one.
            guard let user, let hash = user.passwordHash else {
                fail(
                    request.username, method: "password", reason: user == nil ? "unknown_user" : "password_not_enabled",
                    detail: nil, turn: turn, promise: promise)
                return
            }
            guard
                let check = policy.passwordChecks.verify(
                    offer.password, against: hash, on: promise.futureResult.eventLoop)
            else {
                policy.metrics?.passwordCheckRefused()
                fail(
                    request.username, method: "password", reason: "password_checks_busy", detail: nil, turn: turn,
                    promise: promise)
                return
            }
            policy.metrics?.passwordChecked()
            check.whenComplete { [self] result in
                if (try? result.get()) == true {
                    succeed(user, method: "password", promise: promise)
                } else {
                    fail(
                        request.username, method: "password", reason: "wrong_password", detail: nil, turn: turn,
                        promise: promise)
                }
            }
        case .hostBased:
            fail(
                request.username, method: "hostbased", reason: "method_not_supported", detail: nil, turn: turn,
                promise: promise)
        }
    }

    private func succeed(_ user: SFTPUser, method: String, promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        finished = true
        authenticatedUser.withLock { $0 = user }
        onLogin()
        policy.logger.info("login", metadata: ["user": "\(user.name)", "method": "\(method)", "remote": "\(remote)"])
        promise.succeed(.success)
    }

    private func fail(
        _ name: String, method: String, reason: String, detail: String?, turn: NIODeadline,
        promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>
    ) {
        failures += 1
        policy.metrics?.authenticationFailed(
            method: method, reason: reason == "unknown_user" ? "unknown_user" : "wrong_credentials")
        var metadata: Logger.Metadata = [
            "user": "\(Self.printable(name))", "method": "\(method)", "reason": "\(reason)",
            "remote": "\(remote)", "failures_on_connection": "\(failures)",
        ]
        if let detail { metadata["key"] = "\(detail)" }
        policy.logger.warning("login failed", metadata: metadata)
        // The delay grows with each failure on the connection (to 5×) and carries jitter, and runs
        // from the request's turn, so the KDF's own time is inside it rather than added to it.
        let base = policy.failureDelay.nanoseconds * Int64(min(failures, 5))
        let jitter = Int64.random(in: 0...(max(1, policy.failureDelay.nanoseconds / 4)))
        let due = turn + .nanoseconds(base + jitter)
        let last = failures >= policy.maxAuthTries
        promise.futureResult.eventLoop.scheduleTask(deadline: due) { [self] in
            if last { tooManyAttempts() }
            promise.succeed(.failure)
        }
    }

    /// OpenSSH's "Too many authentication failures": the connection is closed; what was waiting is
    /// answered into the closed connection (NIOSSH expects every promise kept).
    private func tooManyAttempts() {
        guard !finished else { return }
        finished = true
        policy.metrics?.loginDisconnected(reason: "max_auth_tries")
        policy.logger.warning(
            "too many authentication attempts; closing",
            metadata: [
                "remote": "\(remote)", "attempts": "\(attempts)", "max_auth_tries": "\(policy.maxAuthTries)",
            ])
        disconnect()
        let left = waiting
        waiting = []
        for (_, promise) in left { promise.succeed(.failure) }
    }

    /// Names come from the network: keep logs one line and short.
    static func printable(_ s: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
        return cleaned.count > 64 ? String(cleaned.prefix(64)) + "…" : cleaned
    }
}
