import EsteiraSync
import NIOCore
import NIOPosix
import Testing

@testable import EsteiraSFTP

/// The decisions of the limits before login, without a server.
@Suite("Connection limits before login")
struct ConnectionLimitsTests {
    @Test(
        "MaxStartups 10:30:100 drops nothing below 10, 30% at 10, rising linearly to all at 100",
        arguments: [
            (0, 0), (9, 0), (10, 30), (55, 65), (99, 99), (100, 100), (500, 100),
        ])
    func dropPercent(_ waiting: Int, _ percent: Int) {
        #expect(StartupLimit(start: 10, rate: 30, full: 100).dropPercent(waiting: waiting) == percent)
    }

    @Test(
        "--max-startups reads start:rate:full or one number, and names what is wrong",
        arguments: [
            ("10:30:100", "10:30:100"), ("50", "50:100:50"), ("1:0:1", "1:0:1"),
        ])
    func parses(_ text: String, _ expected: String) throws {
        #expect(try StartupLimit(parsing: text).description == expected)
    }

    @Test(
        "nonsense --max-startups values are refused",
        arguments: ["", "10:30", "a:b:c", "0:30:100", "10:130:100", "20:30:10"])
    func refuses(_ text: String) {
        #expect(throws: SFTPGatewayError.self) { try StartupLimit(parsing: text) }
    }

    @Test("per source: the fifth connection of one address that has not logged in is refused; others still come in")
    func perSource() throws {
        let limiter = ConnectionLimiter(
            limits: .init(
                maxConnections: 100, startups: .init(start: 10, rate: 30, full: 100),
                perSourceStartups: 4), percentile: { 99 })
        var tickets: [ConnectionLimiter.Ticket] = []
        for _ in 0..<4 { tickets.append(try limiter.admit(source: "192.0.2.1").get()) }
        #expect(throws: ConnectionRefusalError.self) { try limiter.admit(source: "192.0.2.1").get() }
        #expect((try? limiter.admit(source: "192.0.2.2").get()) != nil)
        // Logging in frees the slot: a logged-in connection no longer counts as waiting.
        tickets[0].loggedIn()
        let fifth = try limiter.admit(source: "192.0.2.1").get()
        #expect(limiter.counts.waiting == 5)
        #expect(limiter.counts.connections == 6)
        fifth.closed()
        fifth.closed()  // idempotent
        tickets[0].closed()
        #expect(limiter.counts.waiting == 4)
        #expect(limiter.counts.connections == 4)
    }

    @Test(
        "above start the drop is random (a low roll is dropped, a high one is not), at full everything is, and the cap counts logged-in connections too"
    )
    func totals() throws {
        let roll = Locked(0)
        let limiter = ConnectionLimiter(
            limits: .init(
                maxConnections: 5, startups: .init(start: 2, rate: 50, full: 4),
                perSourceStartups: 100), percentile: { roll.withLock { $0 } })
        let set = { (n: Int) in roll.withLock { $0 = n } }
        var tickets = [try limiter.admit(source: "a").get(), try limiter.admit(source: "b").get()]
        set(49)  // 2 waiting: 50% are dropped
        #expect(try #require(limiter.admit(source: "c").failure).reason == .maxStartups)
        set(50)
        tickets.append(try limiter.admit(source: "c").get())
        set(80)  // 3 waiting: 75%
        tickets.append(try limiter.admit(source: "d").get())
        set(99)  // 4 waiting = full: all
        #expect(try #require(limiter.admit(source: "e").failure).reason == .maxStartups)
        for t in tickets { t.loggedIn() }
        #expect(limiter.counts == (connections: 4, waiting: 0))
        _ = try limiter.admit(source: "e").get()
        #expect(try #require(limiter.admit(source: "f").failure).reason == .maxConnections)
    }

    @Test("password checks over the bound fail at once, without a KDF; a slot frees when a check ends")
    func passwordCheckBound() async throws {
        let checks = PasswordChecks(threads: 1, capacity: 2)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        // ln=16: 64 MiB and long enough that the first two are still in flight when the third comes.
        let hash = try PasswordHash.make(password: "right", algorithm: .scrypt(logN: 16, r: 8, p: 1))
        let first = try #require(checks.verify("wrong", against: hash, on: loop))
        let second = try #require(checks.verify("right", against: hash, on: loop))
        #expect(checks.verify("right", against: hash, on: loop) == nil)
        #expect(try await first.get() == false)
        #expect(try await second.get() == true)
        let again = try #require(checks.verify("right", against: hash, on: loop))
        #expect(try await again.get() == true)
        await checks.shutdown()
    }

    @Test("addresses are counted by IPv4 address, by IPv6 /64, and an IPv4-mapped IPv6 address as its IPv4 address")
    func sourceKeys() throws {
        #expect(ConnectionLimiter.sourceKey(try SocketAddress(ipAddress: "203.0.113.9", port: 22)) == "203.0.113.9")
        let a = ConnectionLimiter.sourceKey(try SocketAddress(ipAddress: "2001:db8:1:2:aaaa::1", port: 22))
        let b = ConnectionLimiter.sourceKey(try SocketAddress(ipAddress: "2001:db8:1:2:bbbb::7", port: 22))
        let c = ConnectionLimiter.sourceKey(try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 22))
        #expect(a == b)
        #expect(a != c)
        #expect(
            ConnectionLimiter.sourceKey(try SocketAddress(ipAddress: "::ffff:203.0.113.9", port: 22)) == "203.0.113.9")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
