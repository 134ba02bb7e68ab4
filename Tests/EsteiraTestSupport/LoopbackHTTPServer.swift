import EsteiraSync
import Foundation

@testable import EsteiraAWS

/// A small HTTP/1.1 server on 127.0.0.1 for tests: POSIX sockets, one thread to accept and one per
/// connection, one request per connection (`Connection: close`).
///
/// It stands in for what has no server here (the ECS/EKS container credential endpoint, IMDSv2) and,
/// with `.forward`, is a fault-injecting proxy in front of moto: it can answer errors instead, or cut
/// the connection partway through the upstream's answer.
public final class LoopbackHTTPServer: Sendable {
    public struct Request: Sendable {
        public var method: String
        /// As on the request line: a path, or an absolute URI when the client took us for a proxy.
        public var target: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
        public var path: String { String(target.split(separator: "?", maxSplits: 1).first ?? "") }
    }

    public enum Reply: Sendable {
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Passes the request to 127.0.0.1:`port`; with `cutAfter`, closes the client's connection once
        /// that many bytes of the answer (head included) went through, after running `beforeCut`.
        case forward(port: Int, cutAfter: Int? = nil, beforeCut: (@Sendable () -> Void)? = nil)
        /// Passes the request to 127.0.0.1:`port`, but once `after` bytes of the answer went through, sends
        /// nothing more and holds the connection open for `hold` seconds (or until the client leaves):
        /// a source that stops sending without closing.
        case forwardThenStall(port: Int, after: Int, hold: Double)

        public static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> Reply {
            .respond(
                status: status, headers: [("content-type", "application/x-amz-json-1.0")] + headers,
                body: Array(text.utf8))
        }

        public static func xml(_ status: Int, _ text: String, headers: [(String, String)] = []) -> Reply {
            .respond(status: status, headers: [("content-type", "application/xml")] + headers, body: Array(text.utf8))
        }
    }

    public let port: Int
    private let listener: Int32
    private let handler: @Sendable (Request) -> Reply
    private let received = Locked<[Request]>([])

    /// Every request seen so far, in arrival order.
    public var requests: [Request] { received.withLock { $0 } }

    public init(_ handler: @escaping @Sendable (Request) -> Reply) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "loopback-http-accept"
        thread.start()
    }

    /// The base URL of this server.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting; connections being served finish on their own.
    ///
    /// Only wakes the accept loop, which closes the socket itself: closed here, its number could go to
    /// another test's new socket before the loop's next `accept` (or its first, for a server stopped at
    /// once), and this server would then answer that test's requests.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(client) }
            thread.name = "loopback-http-conn"
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        guard let (request, raw) = readRequest(fd) else { return }
        received.withLock { $0.append(request) }
        switch handler(request) {
        case .respond(let status, let headers, let body):
            var head = "HTTP/1.1 \(status) \(status < 300 ? "OK" : "Error")\r\n"
            var names = Set<String>()
            for (name, value) in headers {
                head += "\(name): \(value)\r\n"
                names.insert(name.lowercased())
            }
            if !names.contains("content-length") { head += "content-length: \(body.count)\r\n" }
            if !names.contains("date") { head += "date: \(HTTPDate.format(Date()))\r\n" }
            head += "connection: close\r\n\r\n"
            _ = writeAll(fd, Array(head.utf8) + (request.method == "HEAD" ? [] : body))
        case .forward(let port, let cutAfter, let beforeCut):
            forward(raw, to: port, client: fd, cutAfter: cutAfter, beforeCut: beforeCut)
        case .forwardThenStall(let port, let after, let hold):
            var stalled = false
            forward(raw, to: port, client: fd, cutAfter: after, stall: true) { stalled = true }
            guard stalled else { return }
            // Hold the connection open; a read returning 0 or an error means the client left.
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let deadline = Date().addingTimeInterval(hold)
            var byte: UInt8 = 0
            while Date() < deadline {
                let n = recv(fd, &byte, 1, 0)
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return }
            }
        }
    }

    /// The request, parsed and as raw bytes rewritten to close after one answer.
    private func readRequest(_ fd: Int32) -> (Request, [UInt8])? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
            headEnd = buffer.firstRange(of: separator)?.upperBound
        }
        let headText = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        let headers: [(String, String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0 == "content-length" }.flatMap { Int($0.1) } ?? 0
        var body = Array(buffer[headEnd!...])
        while body.count < length {
            let n = recv(fd, &chunk, min(chunk.count, length - body.count), 0)
            if n <= 0 { return nil }
            body += chunk[0..<n]
        }
        let request = Request(
            method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: body)
        var raw = "\(requestLine[0]) \(requestLine[1]) HTTP/1.1\r\n"
        for (name, value) in headers where name != "connection" { raw += "\(name): \(value)\r\n" }
        raw += "connection: close\r\n\r\n"
        return (request, Array(raw.utf8) + body)
    }

    private func forward(
        _ raw: [UInt8], to port: Int, client: Int32, cutAfter: Int?, stall: Bool = false,
        beforeCut: (() -> Void)?
    ) {
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0, writeAll(upstream, raw) else { return }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var sent = 0
        while true {
            let n = recv(upstream, &chunk, chunk.count, 0)
            if n <= 0 { return }
            var slice = chunk[0..<n]
            if let cutAfter, sent + n >= cutAfter {
                slice = chunk[0..<(cutAfter - sent)]
                _ = slice.withUnsafeBytes { writeAll(client, $0) }
                beforeCut?()
                if stall { return }
                // An abortive close (RST), as a dropped connection looks to the client.
                var linger = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                return
            }
            guard slice.withUnsafeBytes({ writeAll(client, $0) }) else { return }
            sent += n
        }
    }

    @discardableResult
    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}
