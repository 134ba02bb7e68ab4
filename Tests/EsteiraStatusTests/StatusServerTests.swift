import EsteiraStatus
import Foundation
import Testing

/// A raw TCP client on loopback, blocking with timeouts: the tests need byte-level control of the request.
final class RawClient: @unchecked Sendable {
    // Safety: used by one task at a time.
    let fd: Int32

    init(port: Int, timeout: Duration = .seconds(3)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    /// False once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            == bytes.count
    }

    /// Everything until the server closes, or what came before the read timeout.
    func readAll() -> String {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether the server closed the connection (a read sees EOF or a reset rather than a timeout).
    func isClosedByServer() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    deinit { close(fd) }
}

@Suite("Status server (worker and gateway)")
struct StatusServerTests {
    static func server(deadline: Duration = .seconds(3), maxConnections: Int = 64) async throws -> StatusServer {
        try await StatusServer.start(
            host: "127.0.0.1", port: 0,
            limits: .init(requestDeadline: deadline, maxConnections: maxConnections)
        ) { path in
            switch path {
            case "/healthz": (200, "text/plain", "ok\n")
            case "/metrics": (200, "text/plain; version=0.0.4", "esteira_files_total 3\n")
            default: (404, "text/plain", "no\n")
            }
        }
    }

    /// One GET on a fresh connection, in a detached task (the socket calls block); the answer and its time.
    static func get(_ path: String, port: Int) async throws -> (String, Duration) {
        try await Task.detached {
            let start = ContinuousClock.now
            let c = try RawClient(port: port)
            c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = c.readAll()
            return (answer, ContinuousClock.now - start)
        }.value
    }

    @Test("answers /healthz, /metrics, 404 and refuses other methods")
    func routes() async throws {
        let s = try await Self.server()
        let (health, _) = try await Self.get("/healthz", port: s.port)
        #expect(health.hasPrefix("HTTP/1.1 200"))
        #expect(health.hasSuffix("ok\n"))
        #expect(try await Self.get("/metrics?x=1", port: s.port).0.contains("esteira_files_total 3"))
        #expect(try await Self.get("/nope", port: s.port).0.hasPrefix("HTTP/1.1 404"))
        let post = try await Task.detached {
            let c = try RawClient(port: s.port)
            c.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            return c.readAll()
        }.value
        #expect(post.hasPrefix("HTTP/1.1 405"))
        await s.stop()
    }

    @Test("slow-loris clients holding connections do not starve /healthz and /metrics, and are cut at the deadline")
    func slowLoris() async throws {
        let s = try await Self.server(deadline: .seconds(3))
        let port = s.port
        // Eight clients that send a byte every 1.9 s and never finish even their request line.
        let loris = try (0..<8).map { _ in try RawClient(port: port, timeout: .seconds(1)) }
        for c in loris { c.send("GET /") }
        let dripping = Task.detached {
            var alive = loris.count
            for _ in 0..<4 where alive > 0 {
                try? await Task.sleep(for: .milliseconds(1900))
                alive = loris.filter { $0.send("a") }.count
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        for path in ["/healthz", "/metrics", "/healthz"] {
            let (answer, took) = try await Self.get(path, port: port)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(path): \(answer)")
            #expect(took < .milliseconds(2500), "\(path) took \(took) while slow clients held connections")
        }
        await dripping.value
        // 1.9 s × 4 > the 3 s deadline: the server closed every one of them.
        let closed = await Task.detached { loris.filter { $0.isClosedByServer() }.count }.value
        #expect(closed == loris.count)
        await s.stop()
    }

    @Test("connections past the limit are closed at once; the server answers again when they go")
    func connectionLimit() async throws {
        // A deadline well past the test's length: this test is about the cap, not the deadline.
        let s = try await Self.server(deadline: .seconds(60), maxConnections: 4)
        let held = try (0..<4).map { _ in try RawClient(port: s.port, timeout: .seconds(1)) }
        // Wait until the server has admitted all four (accepting can lag on a loaded machine).
        let clock = ContinuousClock()
        let until = clock.now + .seconds(20)
        while s.openConnections < 4, clock.now < until { try await Task.sleep(for: .milliseconds(20)) }
        #expect(s.openConnections == 4)
        let refused = try await Self.get("/healthz", port: s.port).0
        #expect(refused.isEmpty, "a fifth connection is closed without an answer")
        for c in held { c.send("GET /healthz HTTP/1.1\r\n\r\n") }
        _ = await Task.detached { held.map { $0.readAll() } }.value
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await Self.get("/healthz", port: s.port).0.hasPrefix("HTTP/1.1 200"))
        await s.stop()
    }
}
