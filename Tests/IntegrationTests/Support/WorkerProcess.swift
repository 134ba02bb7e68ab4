import EsteiraAWS
import EsteiraTestSupport
import Foundation
import Synchronization
import Testing

/// The `esteira` binary of this build, run as a child process the way a pod runs it.
final class WorkerProcess: @unchecked Sendable {
    // Safety: `output` is appended by the pipe's reader thread under its mutex; the rest is set once.
    let process = Process()
    private let output = Mutex(Data())
    /// The pipe reached its end: everything the process wrote is in `output`.
    private let drained = Mutex(false)

    static func binary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["ESTEIRA_BIN"] { return URL(fileURLWithPath: path) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let url = root.appendingPathComponent(".build/debug/esteira")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw MissingStack(
                variable: "the esteira binary (\(url.path)); run `swift build` first, or set ESTEIRA_BIN")
        }
        return url
    }

    init(_ arguments: [String], stack: TestStack, routes: String, extraEnv: [String: String] = [:]) throws {
        process.executableURL = try WorkerProcess.binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["ESTEIRA_BUCKET"] = stack.bucket
        env["ESTEIRA_QUEUE"] = stack.queue
        env["ESTEIRA_DLQ"] = stack.deadLetterQueue
        env["ESTEIRA_JOBS_TABLE"] = stack.jobsTable
        env["ESTEIRA_MYSQL_URL"] = stack.mysqlURL
        env["ESTEIRA_ROUTES"] = routes
        env["ESTEIRA_LOG_FORMAT"] = "json"
        for (k, v) in extraEnv { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            if d.isEmpty {
                h.readabilityHandler = nil
                self.drained.withLock { $0 = true }
                return
            }
            self.output.withLock { $0.append(d) }
        }
        try process.run()
    }

    var log: String { output.withLock { String(decoding: $0, as: UTF8.self) } }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit up to `timeout` seconds; returns the exit status, or nil if still running.
    func wait(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var reaped: Int32?
        while process.isRunning && Date() < deadline {
            // Foundation may hear of the exit late on a loaded machine: a zombie has finished.
            if let status = reapIfExited(process.processIdentifier) {
                reaped = status
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        if reaped == nil && process.isRunning { return nil }
        // The exit can be seen before the pipe's reader has taken the last output (a loaded machine):
        // wait for its end, so `log` holds everything the process printed.
        let drainDeadline = Date().addingTimeInterval(10)
        while !drained.withLock({ $0 }) && Date() < drainDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return reaped ?? process.terminationStatus
    }

    /// Waits until the log contains `text`.
    func waitForLog(_ text: String, timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Reads the worker's /metrics (served on `port`, its `--http-port`) until `done` holds for the text or
    /// `timeout` seconds pass; returns the last text read ("" if none was).
    func metrics(port: Int, timeout: Double, every: Duration = .milliseconds(200), until done: (String) -> Bool)
        async -> String
    {
        var text = ""
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let r = try? await HTTPTransport.shared.send(
                HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics"))
            {
                text = r.bodyText
                if done(text) { return text }
            }
            try? await Task.sleep(for: every)
        }
        return text
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A free TCP port on loopback, for a child's status server.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Writes a routes file for the tests' `acme` tenant into a temporary folder.
func writeRoutes(table: String = "orders") throws -> String {
    let path = NSTemporaryDirectory() + "esteira-routes-\(UInt32.random(in: 0...UInt32.max)).yaml"
    try """
    routes:
      - name: acme-orders
        tenant: acme
        pattern: "orders*.csv"
        table: \(table)
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// An orders CSV with ids [from, from + count).
func ordersCSV(from: Int, count: Int) -> [UInt8] {
    var s = "order_id,customer,amount,notes\n"
    s.reserveCapacity(count * 48 + 40)
    for i in from..<(from + count) {
        s += "\(i),customer \(i % 997),\(i % 1000).\(i % 100),\"note, with comma \(i)\"\n"
    }
    return Array(s.utf8)
}
