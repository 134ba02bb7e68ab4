import EsteiraAWS
import EsteiraSFTP
import Foundation
import Logging
import Testing

/// A gateway of the test's own on a free port, over a bucket of its own on the local stack, with two
/// tenants: acme (key and password, home acme/data) and globex (key only, home globex/data).
struct GatewayHarness: Sendable {
    let s3: S3Client
    let bucket: String
    let gateway: SFTPGateway
    let metrics: SFTPMetrics
    let dir: String
    let password = "correct horse battery"

    var acmeKey: String { dir + "/acme_key" }
    var globexKey: String { dir + "/globex_key" }
    var strangerKey: String { dir + "/stranger_key" }

    static let logger: Logger = {
        var l = Logger(label: "esteira.sftp.test")
        l.logLevel = ProcessInfo.processInfo.environment["ESTEIRA_TEST_LOG"] == nil ? .critical : .debug
        return l
    }()

    static func requireStack() throws -> AWSConfig {
        guard let v = ProcessInfo.processInfo.environment["AWS_ENDPOINT_URL"], !v.isEmpty else {
            throw MissingTool(
                description: "AWS_ENDPOINT_URL is not set, so the gateway tests cannot run: start the local stack "
                    + "with `make services-up && source .local/env`, then run the tests again (make test does both)")
        }
        return try AWSConfig.fromEnvironment()
    }

    static func endpointConfig(_ endpoint: String) throws -> AWSConfig {
        var env = ProcessInfo.processInfo.environment
        env["AWS_ENDPOINT_URL"] = endpoint
        for name in env.keys where name.hasPrefix("AWS_ENDPOINT_URL_") { env[name] = nil }
        return try AWSConfig.fromEnvironment(env)
    }

    /// Makes the bucket, keys and users, starts the gateway, runs `body`, stops the gateway.
    /// `gatewayEndpoint` sends the gateway's own S3 calls elsewhere (a fault proxy); the harness reads moto directly.
    static func with<T: Sendable>(
        gatewayEndpoint: String? = nil, _ body: (GatewayHarness) async throws -> T,
        configure: (inout SFTPGatewaySettings) -> Void = { _ in }
    ) async throws -> T {
        let s3 = S3Client(client: AWSClient(config: try requireStack(), logger: logger))
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let bucket = "esteira-sftp-t-\(id)"
        try await s3.createBucket(bucket)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("esteira-sftp-\(id)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keygen = try Tools.require("ssh-keygen")
        for name in ["acme_key", "globex_key", "stranger_key"] {
            try await Tools.run(
                keygen, ["-q", "-t", name == "globex_key" ? "ecdsa" : "ed25519", "-N", "", "-f", "\(dir)/\(name)"])
        }
        let pub = { (name: String) throws -> String in
            try String(contentsOfFile: "\(dir)/\(name).pub", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        let hash = try PasswordHash.make(password: "correct horse battery", algorithm: .scrypt(logN: 12, r: 8, p: 1))
        let users = try SFTPUserDirectory.parse(
            """
            users:
              - name: acme
                home: acme/data
                permissions: [read, write, delete]
                keys: ["\(try pub("acme_key"))"]
                password: "\(hash)"
              - name: globex
                home: globex/data
                permissions: [read, write]
                keys: ["\(try pub("globex_key"))"]
            """, source: "test users")
        var settings = SFTPGatewaySettings(bucket: bucket)
        settings.host = "127.0.0.1"
        settings.port = 0
        settings.failedLoginDelay = .milliseconds(300)
        configure(&settings)
        let metrics = SFTPMetrics()
        let hostKeys = try HostKeys.loadOrCreate(directory: dir + "/host", logger: logger)
        let gateway = try await SFTPGateway.start(
            settings: settings, users: SFTPUserStore(users), hostKeys: hostKeys,
            s3: try gatewayEndpoint.map { try S3Client(client: AWSClient(config: endpointConfig($0), logger: logger)) }
                ?? s3,
            metrics: metrics, logger: logger)
        let harness = GatewayHarness(s3: s3, bucket: bucket, gateway: gateway, metrics: metrics, dir: dir)
        let result: Result<T, any Error>
        do { result = .success(try await body(harness)) } catch { result = .failure(error) }
        await gateway.stop()
        return try result.get()
    }

    /// OpenSSH's sftp in batch mode (`-b`): stops at the first failing command, exit status 0 only if all passed.
    /// `port`: a gateway other than the harness's (one started as its own process); `options` come first, so
    /// an `-o` among them wins over the defaults here.
    func sftp(
        _ commands: [String], user: String = "acme", key: String? = nil, password: String? = nil,
        port: Int? = nil, options extra: [String] = [], timeout: Duration = .seconds(120)
    ) async throws -> Tools.Result {
        let batch = dir + "/batch-\(UUID().uuidString)"
        try (commands.joined(separator: "\n") + "\n").write(toFile: batch, atomically: true, encoding: .utf8)
        var options =
            extra + [
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=10", "-P", String(port ?? gateway.port),
            ]
        if let password {
            // sftp -b turns BatchMode on, which forbids passwords; an earlier -o wins, so say it first.
            let args =
                [
                    "-e", try Tools.require("sftp"), "-o", "BatchMode=no", "-b", batch, "-o", "PubkeyAuthentication=no",
                    "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1",
                ] + options + ["\(user)@127.0.0.1"]
            return try await Tools.run(
                try Tools.require("sshpass"), args, environment: ["SSHPASS": password], timeout: timeout)
        }
        options += ["-i", key ?? acmeKey, "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey"]
        return try await Tools.run(
            try Tools.require("sftp"), ["-b", batch] + options + ["\(user)@127.0.0.1"], timeout: timeout)
    }

    func object(_ key: String) async throws -> [UInt8]? {
        guard try await s3.statObject(bucket: bucket, key: key) != nil else { return nil }
        return try await s3.getObject(bucket: bucket, key: key)
    }

    func keys(under prefix: String) async throws -> [String] {
        try await s3.listObjects(bucket: bucket, prefix: prefix).map(\.key)
    }

    /// A file of `size` pseudo-random bytes, written in 1 MiB blocks.
    func makeFile(_ name: String, size: Int, seed: UInt64 = 42) throws -> String {
        let path = dir + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        var state = seed | 1
        var left = size
        while left > 0 {
            let n = min(left, 1 << 20)
            var block = [UInt8](repeating: 0, count: n)
            block.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for i in words.indices {
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    words[i] = state
                }
            }
            try h.write(contentsOf: block)
            left -= n
        }
        return path
    }

    func metric(_ name: String) -> Double {
        for line in metrics.exposition().split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }
}
