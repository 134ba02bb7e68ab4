import EsteiraTestSupport
import Foundation
import Testing

/// Thrown, and so recorded as a failure, when something the tests need is missing. Never skip silently.
struct MissingTool: Error, CustomStringConvertible {
    var description: String
}

/// External programs the tests drive: OpenSSH's clients, sshpass, the venv's Python.
enum Tools {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func require(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"]
        where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw MissingTool(
            description:
                "\(name) is not installed: run `make setup` (scripts/setup.sh installs openssh-client and sshpass)")
    }

    static func python() throws -> String {
        let path = root.appendingPathComponent(".local/venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingTool(
                description: "\(path) is missing: run `make setup` (it installs paramiko into .local/venv)")
        }
        return path
    }

    /// The `esteira` binary of this build (or ESTEIRA_BIN), run as the gateway's own process.
    static func esteira() throws -> String {
        if let path = ProcessInfo.processInfo.environment["ESTEIRA_BIN"] { return path }
        let path = root.appendingPathComponent(".build/debug/esteira").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingTool(
                description: "the esteira binary (\(path)) is missing: run `swift build` first, or set ESTEIRA_BIN")
        }
        return path
    }

    struct Result {
        var status: Int32
        var output: String
    }

    /// Runs a program to completion without holding a cooperative thread: the wait happens in
    /// `terminationHandler`. Output (stdout and stderr together) is read into a temporary file.
    @discardableResult
    static func run(
        _ path: String, _ arguments: [String], environment: [String: String] = [:],
        timeout: Duration = .seconds(120)
    ) async throws -> Result {
        let process = try start(path, arguments, environment: environment)
        return try await wait(process, timeout: timeout)
    }

    /// Synchronous form for quick tools (ssh-keygen).
    static func run(_ path: String, _ arguments: [String]) throws -> Result {
        let process = try start(path, arguments, environment: [:])
        process.process.waitUntilExit()
        return Result(status: process.process.terminationStatus, output: process.output())
    }

    final class Running: @unchecked Sendable {
        // Safety: `process` is started once, then only read; the output file belongs to this object.
        let process = Process()
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent(
            "esteira-sftp-\(UUID().uuidString).out")
        func output() -> String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }
        deinit { try? FileManager.default.removeItem(at: outputURL) }
    }

    static func start(_ path: String, _ arguments: [String], environment: [String: String]) throws -> Running {
        let r = Running()
        _ = FileManager.default.createFile(atPath: r.outputURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: r.outputURL)
        r.process.executableURL = URL(fileURLWithPath: path)
        r.process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        r.process.environment = env
        r.process.standardOutput = out
        r.process.standardError = out
        r.process.standardInput = FileHandle.nullDevice
        try r.process.run()
        return r
    }

    static func wait(_ r: Running, timeout: Duration) async throws -> Result {
        let deadline = ContinuousClock.now + timeout
        while r.process.isRunning {
            // Foundation learns of the exit from SIGCHLD; with many children at once in a loaded test
            // process that can come late. A child that is already a zombie has finished: reap it here.
            if let status = reapIfExited(r.process.processIdentifier) {
                return Result(status: status, output: r.output())
            }
            if ContinuousClock.now > deadline {
                r.process.terminate()
                throw MissingTool(
                    description:
                        "\(r.process.executableURL?.lastPathComponent ?? "?") \(r.process.arguments ?? []) did not finish in \(timeout):\n\(r.output())"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return Result(status: r.process.terminationStatus, output: r.output())
    }
}
