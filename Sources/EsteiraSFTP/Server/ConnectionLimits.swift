import EsteiraSync
import Foundation
import Logging
import NIOCore

/// OpenSSH's `MaxStartups start:rate:full`: once `start` connections are waiting to log in, a new one
/// is dropped with probability `rate`%, rising linearly to 100% at `full`.
public struct StartupLimit: Sendable, Equatable, CustomStringConvertible {
    public var start: Int
    public var rate: Int
    public var full: Int

    public init(start: Int, rate: Int, full: Int) {
        self.start = start
        self.rate = rate
        self.full = full
    }

    /// `10:30:100`, or one number `N` (a hard limit: `N:100:N`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        let bad = SFTPGatewayError(
            "--max-startups '\(text)' must be start:rate:full (like OpenSSH's 10:30:100) or one number")
        if parts.count == 1, let n = parts[0] {
            self.init(start: n, rate: 100, full: n)
        } else if parts.count == 3, let s = parts[0], let r = parts[1], let f = parts[2] {
            self.init(start: s, rate: r, full: f)
        } else {
            throw bad
        }
        try validate()
    }

    func validate() throws {
        guard start >= 1, (0...100).contains(rate), full >= start else {
            throw SFTPGatewayError(
                "--max-startups \(self): start must be at least 1, rate 0…100 and full at least start")
        }
    }

    public var description: String { "\(start):\(rate):\(full)" }

    /// The chance, in percent, that a new connection is dropped when `waiting` connections have not logged in yet.
    func dropPercent(waiting: Int) -> Int {
        if waiting >= full { return 100 }
        if waiting < start { return 0 }
        return rate + (100 - rate) * (waiting - start) / max(1, full - start)
    }
}

/// Why a new connection was closed at once.
enum ConnectionRefusal: String, Sendable {
    case maxConnections = "max_connections"
    case maxStartups = "max_startups"
    case perSource = "per_source_startups"
}

/// Counts the connections of the gateway by state and decides, when one is accepted, whether it may stay:
/// a cap on all connections, OpenSSH's `MaxStartups` random early drop on those not logged in yet, and
/// `PerSourceMaxStartups` per client address (IPv4 /32, IPv6 /64: one host gets a whole /64).
/// A refused connection is closed before a single byte of SSH is spent on it.
final class ConnectionLimiter: Sendable {
    struct Limits: Sendable {
        var maxConnections: Int
        var startups: StartupLimit
        var perSourceStartups: Int
    }

    private struct State {
        var connections = 0
        var waiting = 0
        var waitingBySource: [String: Int] = [:]
    }

    let limits: Limits
    private let state = Locked(State())
    /// 0..<100; injected by tests.
    private let percentile: @Sendable () -> Int

    init(limits: Limits, percentile: @escaping @Sendable () -> Int = { Int.random(in: 0..<100) }) {
        self.limits = limits
        self.percentile = percentile
    }

    /// A ticket for a connection that may stay, or why it may not.
    func admit(source: String) -> Result<Ticket, ConnectionRefusalError> {
        let roll = percentile()
        let outcome = state.withLock { s -> ConnectionRefusal? in
            if s.connections >= limits.maxConnections { return .maxConnections }
            if s.waitingBySource[source, default: 0] >= limits.perSourceStartups { return .perSource }
            if roll < limits.startups.dropPercent(waiting: s.waiting) { return .maxStartups }
            s.connections += 1
            s.waiting += 1
            s.waitingBySource[source, default: 0] += 1
            return nil
        }
        if let outcome { return .failure(ConnectionRefusalError(reason: outcome, source: source)) }
        return .success(Ticket(limiter: self, source: source))
    }

    /// Connections open now, and those of them that have not logged in.
    var counts: (connections: Int, waiting: Int) { state.withLock { ($0.connections, $0.waiting) } }

    fileprivate func release(source: String, waiting: Bool, closing: Bool) {
        state.withLock { s in
            if waiting {
                s.waiting -= 1
                let left = s.waitingBySource[source, default: 1] - 1
                s.waitingBySource[source] = left > 0 ? left : nil
            }
            if closing { s.connections -= 1 }
        }
    }

    /// One admitted connection: it stops counting as waiting when it logs in, and stops counting at all when it closes.
    final class Ticket: Sendable {
        private let limiter: ConnectionLimiter
        let source: String
        /// (logged in, closed)
        private let stage = Locked((loggedIn: false, closed: false))

        fileprivate init(limiter: ConnectionLimiter, source: String) {
            self.limiter = limiter
            self.source = source
        }

        func loggedIn() {
            let change = stage.withLock { s -> Bool in
                guard !s.loggedIn, !s.closed else { return false }
                s.loggedIn = true
                return true
            }
            if change { limiter.release(source: source, waiting: true, closing: false) }
        }

        func closed() {
            let wasWaiting = stage.withLock { s -> Bool? in
                guard !s.closed else { return nil }
                s.closed = true
                return !s.loggedIn
            }
            if let wasWaiting { limiter.release(source: source, waiting: wasWaiting, closing: true) }
        }
    }

    /// The address a limit counts by: the IPv4 address, or the /64 of an IPv6 one (an IPv4-mapped
    /// address counts as its IPv4 address).
    static func sourceKey(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress else { return "?" }
        guard ip.contains(":") else { return ip }
        if ip.lowercased().hasPrefix("::ffff:"), ip.contains(".") { return String(ip.dropFirst("::ffff:".count)) }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, ip, &bytes) == 1 else { return ip }
        let prefix = withUnsafeBytes(of: &bytes) { Array($0.prefix(8)) }
        return prefix.map { String(format: "%02x", $0) }.joined() + "::/64"
    }
}

struct ConnectionRefusalError: Error, CustomStringConvertible {
    let reason: ConnectionRefusal
    let source: String
    var description: String { "connection from \(source) refused (\(reason.rawValue))" }
}

/// Refusals come in floods under attack: log the first, then at most one summary line per interval.
final class RefusalLog: Sendable {
    private let interval: TimeAmount
    private let state = Locked((last: NIODeadline.distantPast, counts: [String: Int]()))
    init(interval: TimeAmount = .seconds(10)) { self.interval = interval }

    func note(_ reason: String, source: String, logger: Logger, limits: String) {
        let now = NIODeadline.now()
        let flush = state.withLock { s -> [String: Int]? in
            s.counts[reason, default: 0] += 1
            guard now - s.last >= interval else { return nil }
            s.last = now
            defer { s.counts = [:] }
            return s.counts
        }
        guard let flush else { return }
        logger.warning(
            "connections refused before login (limits)",
            metadata: [
                "refused": "\(flush.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
                "last_source": "\(source)", "limits": "\(limits)",
            ])
    }
}
