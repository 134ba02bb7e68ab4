import Foundation
import Logging

/// Serves `/healthz`, `/readyz` and `/metrics` over plain HTTP/1.1 on its own thread.
///
/// Three GET endpoints for kubelet and Prometheus do not justify an HTTP framework in the image;
/// each connection is read with a deadline and answered once, then closed.
public final class StatusServer: @unchecked Sendable {
    // Safety: `listenFD` is written once before the thread starts; `stopped` is guarded by `lock`.
    public typealias Handler = @Sendable (_ path: String) -> (status: Int, contentType: String, body: String)

    private let handler: Handler
    private let logger: Logger
    private var listenFD: Int32 = -1
    private let lock = NSLock()
    private var stopped = false
    /// The port actually bound (useful when 0 asked for any free port).
    public private(set) var port: Int = 0

    public init(host: String = "0.0.0.0", port: Int, logger: Logger, handler: @escaping Handler) throws {
        self.handler = handler
        self.logger = logger
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StatusServerError("socket(): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw StatusServerError("'\(host)' is not an IPv4 address to listen on")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StatusServerError("cannot listen on \(host):\(port): \(reason) (choose another with ESTEIRA_HTTP_PORT)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listenFD = fd
        let thread = Thread { [self] in self.acceptLoop() }
        thread.name = "esteira-status"
        thread.start()
    }

    public func stop() {
        lock.withLock {
            guard !stopped else { return }
            stopped = true
            shutdown(listenFD, Int32(SHUT_RDWR))
            close(listenFD)
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { return }
                if errno == EINTR { continue }
                usleep(10_000)
                continue
            }
            serve(client)
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        // A scraper that connects and says nothing must not hold the only serving thread.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16 * 1024 {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            request.append(contentsOf: buffer[0..<n])
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] || request.contains(10) { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let response: (Int, String, String)
        if parts.count >= 2, parts[0] == "GET" || parts[0] == "HEAD" {
            let path = String(parts[1].split(separator: "?", maxSplits: 1).first ?? "/")
            response = handler(path)
        } else {
            response = (405, "text/plain", "only GET is served here\n")
        }
        let reason = [200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][response.0] ?? "Status"
        let body = Array(response.2.utf8)
        var out = Array("HTTP/1.1 \(response.0) \(reason)\r\nContent-Type: \(response.1)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        if parts.first != "HEAD" { out += body }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            sent += n
        }
    }
}

public struct StatusServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
