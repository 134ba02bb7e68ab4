import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSH

/// The accounts the gateway serves now; replaced whole when the users file is reloaded.
public final class SFTPUserStore: Sendable {
    private let box: NIOLockedValueBox<SFTPUserDirectory>
    public init(_ directory: SFTPUserDirectory) { box = NIOLockedValueBox(directory) }
    public var current: SFTPUserDirectory { box.withLockedValue { $0 } }
    public func replace(with directory: SFTPUserDirectory) { box.withLockedValue { $0 = directory } }
}

/// What every connection's authenticator shares.
struct LoginPolicy: Sendable {
    let users: SFTPUserStore
    let metrics: SFTPMetrics?
    let logger: Logger
    /// Where the slow KDFs run, so they never hold an event loop; its size also caps their memory.
    let kdfPool: NIOThreadPool
    /// Checked for unknown users and users without a password, so a wrong name costs what a wrong password does.
    let decoyHash: PasswordHash
    let failureDelay: TimeAmount
}

/// Logs one connection in, by key or by password.
///
/// A failed attempt is answered only once `failureDelay` (growing with each failure on the
/// connection) has passed since it arrived, the same for an unknown user as for a wrong key or
/// password: the answer's timing says nothing about which names exist. Password checks always run
/// the KDF, against a decoy hash when there is no real one.
final class LoginAuthenticator: NIOSSHServerUserAuthenticationDelegate, @unchecked Sendable {
    // Safety: `failures` is touched only on the connection's event loop, where NIOSSH calls us.
    private let policy: LoginPolicy
    private let remote: String
    private var failures = 0
    /// The user this connection logged in as; read by its session channels.
    let authenticatedUser = NIOLockedValueBox<SFTPUser?>(nil)

    init(policy: LoginPolicy, remote: String) {
        self.policy = policy
        self.remote = remote
    }

    var supportedAuthenticationMethods: NIOSSHAvailableUserAuthenticationMethods {
        policy.users.current.passwordLoginEnabled ? [.publicKey, .password] : .publicKey
    }

    func requestReceived(request: NIOSSHUserAuthenticationRequest,
                         responsePromise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        let arrived = NIODeadline.now()
        let loop = responsePromise.futureResult.eventLoop
        let user = policy.users.current.user(named: request.username)
        switch request.request {
        case .none:
            // The client asking which methods there are: not an attempt.
            responsePromise.succeed(.failure)
        case .publicKey(let offer):
            // NIOSSH has already checked the signature; what is left is whether this key is the user's.
            if let user, user.authorizedKeys.contains(offer.publicKey) {
                succeed(user, method: "publickey", promise: responsePromise)
            } else {
                fail(request.username, method: "publickey", reason: user == nil ? "unknown_user" : "key_not_authorized",
                     detail: HostKeys.fingerprint(offer.publicKey), arrived: arrived, promise: responsePromise)
            }
        case .password(let offer):
            let hash = user?.passwordHash ?? policy.decoyHash
            let hasPassword = user?.passwordHash != nil
            policy.kdfPool.runIfActive(eventLoop: loop) { hash.verify(offer.password) }.whenComplete { [self] result in
                if hasPassword, let user, (try? result.get()) == true {
                    succeed(user, method: "password", promise: responsePromise)
                } else {
                    let reason = user == nil ? "unknown_user" : (hasPassword ? "wrong_password" : "password_not_enabled")
                    fail(request.username, method: "password", reason: reason, detail: nil, arrived: arrived, promise: responsePromise)
                }
            }
        case .hostBased:
            fail(request.username, method: "hostbased", reason: "method_not_supported", detail: nil, arrived: arrived,
                 promise: responsePromise)
        }
    }

    private func succeed(_ user: SFTPUser, method: String, promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        authenticatedUser.withLockedValue { $0 = user }
        policy.logger.info("login", metadata: ["user": "\(user.name)", "method": "\(method)", "remote": "\(remote)"])
        promise.succeed(.success)
    }

    private func fail(_ name: String, method: String, reason: String, detail: String?, arrived: NIODeadline,
                      promise: EventLoopPromise<NIOSSHUserAuthenticationOutcome>) {
        failures += 1
        policy.metrics?.authenticationFailed(method: method, reason: reason == "unknown_user" ? "unknown_user" : "wrong_credentials")
        var metadata: Logger.Metadata = ["user": "\(Self.printable(name))", "method": "\(method)", "reason": "\(reason)",
                                         "remote": "\(remote)", "failures_on_connection": "\(failures)"]
        if let detail { metadata["key"] = "\(detail)" }
        policy.logger.warning("login failed", metadata: metadata)
        // The delay grows with each failure on the connection (to 5×) and carries jitter, and runs
        // from the request's arrival, so the KDF's own time is inside it rather than added to it.
        let base = policy.failureDelay.nanoseconds * Int64(min(failures, 5))
        let jitter = Int64.random(in: 0...(max(1, policy.failureDelay.nanoseconds / 4)))
        let due = arrived + .nanoseconds(base + jitter)
        promise.futureResult.eventLoop.scheduleTask(deadline: due) { promise.succeed(.failure) }
    }

    /// Names come from the network: keep logs one line and short.
    static func printable(_ s: String) -> String {
        let cleaned = String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
        return cleaned.count > 64 ? String(cleaned.prefix(64)) + "…" : cleaned
    }
}
