import EsteiraSync
import Logging
import NIOCore

/// One SSH connection, followed from accept for what matters after login: the user it logged in as
/// (once it has), the channels it has open, and the timer that closes it when it holds no channel
/// for the idle timeout.
///
/// A connection lives on one event loop, but the gateway reads it from others (a users reload), so
/// its state is behind a lock.
final class LoggedInConnection: Sendable {
    let channel: any Channel
    let remote: String
    /// Set by the authenticator at login.
    let user: Locked<SFTPUser?>
    private let state = Locked((channels: 0, idleGeneration: 0))

    init(channel: any Channel, remote: String, user: Locked<SFTPUser?>) {
        self.channel = channel
        self.remote = remote
        self.user = user
    }

    /// Counts a new channel, or returns false when `limit` are open already.
    func openChannel(limit: Int) -> Bool {
        state.withLock { s in
            guard s.channels < limit else { return false }
            s.channels += 1
            s.idleGeneration += 1  // a pending idle check is void now
            return true
        }
    }

    func channelClosed(idleTimeout: TimeAmount, logger: Logger) {
        let last = state.withLock { s -> Bool in
            s.channels -= 1
            return s.channels == 0
        }
        if last { armIdleTimer(idleTimeout, logger: logger) }
    }

    /// Closes the connection if it still has no channel after `timeout` (and has logged in by then:
    /// before login, the login grace time applies).
    func armIdleTimer(_ timeout: TimeAmount, logger: Logger) {
        let generation = state.withLock { s -> Int in
            s.idleGeneration += 1
            return s.idleGeneration
        }
        channel.eventLoop.scheduleTask(in: timeout) { [self] in
            let idle = state.withLock { $0.channels == 0 && $0.idleGeneration == generation }
            guard idle, channel.isActive else { return }
            guard let name = user.withLock({ $0?.name }) else {
                armIdleTimer(timeout, logger: logger)
                return
            }
            logger.notice(
                "no session open for the idle timeout; closing the connection",
                metadata: [
                    "user": "\(name)", "remote": "\(remote)",
                    "idle_timeout_s": "\(timeout.nanoseconds / 1_000_000_000)",
                ])
            channel.close(promise: nil)
        }
    }
}

/// The connections of the gateway by identity, so a users reload can find those that lost access.
final class LoggedInConnections: Sendable {
    private let box = Locked<[ObjectIdentifier: LoggedInConnection]>([:])

    func add(_ connection: LoggedInConnection) {
        let id = ObjectIdentifier(connection.channel)
        box.withLock { $0[id] = connection }
        connection.channel.closeFuture.whenComplete { [self] _ in _ = box.withLock { $0.removeValue(forKey: id) } }
    }

    /// Closes every logged-in connection whose user lost access under `directory`; returns how many.
    @discardableResult
    func revoke(against directory: SFTPUserDirectory, logger: Logger) -> Int {
        let all = box.withLock { Array($0.values) }
        var closed = 0
        for connection in all {
            guard let user = connection.user.withLock({ $0 }),
                case .ends(let reason) = user.access(under: directory.user(named: user.name))
            else { continue }
            logger.notice(
                "access revoked; closing the connection",
                metadata: ["user": "\(user.name)", "remote": "\(connection.remote)", "reason": "\(reason)"])
            connection.channel.close(promise: nil)
            closed += 1
        }
        return closed
    }
}

/// Whether a logged-in connection may go on after the users were read again.
enum ConnectionAccess: Equatable {
    /// Under the user as it reads now.
    case continues(SFTPUser)
    /// Closed, for this reason.
    case ends(String)
}

extension SFTPUser {
    /// Whether a connection that logged in as `self` may go on now that the account reads `current`
    /// (nil: removed). A connection does not record which of the user's keys or password it logged in
    /// with, so any credential taken away or changed ends it; one only added does not. A new home or
    /// new permissions end it too: its sessions were opened with the old ones.
    func access(under current: SFTPUser?) -> ConnectionAccess {
        guard let current else { return .ends("the user was removed") }
        if !Set(authorizedKeys).isSubset(of: Set(current.authorizedKeys)) {
            return .ends("a key of the user was removed")
        }
        if let hash = passwordHash, current.passwordHash != hash {
            return .ends("the user's password was changed or removed")
        }
        if home != current.home { return .ends("the user's home changed") }
        if permissions != current.permissions { return .ends("the user's permissions changed") }
        return .continues(current)
    }
}
