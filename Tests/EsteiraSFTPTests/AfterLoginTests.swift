import EsteiraAWS
import EsteiraSFTP
import Foundation
import Testing

/// What a logged-in client can and cannot do (issue 14, "After login"), with OpenSSH's `sftp` and
/// paramiko against the gateway over the local stack's S3.
@Suite("After login")
struct AfterLoginTests {
    static let script = Tools.root.appendingPathComponent("Tests/EsteiraSFTPTests/Support/paramiko_after_login.py").path

    static func paramiko(
        _ mode: String, port: Int, user: String, key: String, _ extra: [String] = [],
        timeout: Duration = .seconds(90)
    ) async throws -> Tools.Result {
        try await Tools.run(
            try Tools.python(), [script, mode, "127.0.0.1", String(port), user, key] + extra, timeout: timeout)
    }

    static func startParamiko(_ mode: String, port: Int, user: String, key: String, _ extra: [String] = []) throws
        -> Tools.Running
    {
        try Tools.start(
            try Tools.python(), [script, mode, "127.0.0.1", String(port), user, key] + extra, environment: [:])
    }

    /// Waits until a started client printed `line`.
    static func waitForOutput(_ p: Tools.Running, _ line: String, seconds: Int = 30) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if p.output().contains(line) { return }
            guard p.process.isRunning else {
                throw MissingTool(description: "the client exited before '\(line)':\n\(p.output())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw MissingTool(description: "the client did not print '\(line)' within \(seconds) s:\n\(p.output())")
    }

    /// OpenSSH's sftp in batch mode with extra options (e.g. `-B`), as acme.
    static func sftp(_ h: GatewayHarness, _ commands: [String], options: [String], timeout: Duration = .seconds(180))
        async throws -> Tools.Result
    {
        try await h.sftp(commands, options: options, timeout: timeout)
    }

    // MARK: 6. rename

    @Test("rename needs delete: a user with read and write cannot remove a file by renaming it")
    func renameNeedsDelete() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("r.csv", size: 100)
            // globex has [read, write].
            let r = try await h.sftp(["put \(local) r.csv", "rename r.csv gone.csv"], user: "globex", key: h.globexKey)
            #expect(r.status != 0, "\(r.output)")
            #expect(r.output.contains("Permission denied"), "\(r.output)")
            #expect(try await h.keys(under: "globex/").sorted() == ["globex/data/r.csv"])
            // acme has delete too: the same rename works.
            try await h.sftp(["put \(local) r.csv", "rename r.csv moved.csv"]).expectSuccess()
            #expect(try await h.keys(under: "acme/").sorted() == ["acme/data/moved.csv"])
        }
    }

    // MARK: 4. paths split on scalars

    @Test(
        "a / followed by a combining mark is still a /: ../\u{301}b climbs and is refused, through OpenSSH and paramiko"
    )
    func combiningMarkAfterSlash() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("u.csv", size: 50)
            for target in ["../\u{301}b", "in/../../\u{301}x.csv"] {
                let r = try await h.sftp(["put \(local) \(target)"], user: "globex", key: h.globexKey)
                #expect(r.status != 0, "\(target): \(r.output)")
                #expect(r.output.contains("Permission denied"), "\(target): \(r.output)")
            }
            let p = try await Self.paramiko("unicode", port: h.gateway.port, user: "acme", key: h.acmeKey)
            #expect(p.status == 0 && p.output.contains("unicode ok"), "\(p.output)")
            // Nothing landed anywhere but the one legitimate name, inside acme's home.
            let keys = try await h.keys(under: "")
            #expect(
                keys.map { Array($0.unicodeScalars) } == [Array("acme/data/\u{301}ok.csv".unicodeScalars)], "\(keys)")
        }
    }

    // MARK: 5. protocol sizes

    @Test("READ replies stay under OpenSSH's 256 KiB message limit when a client asks for 256 KiB reads")
    func bigReads() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("big-read.bin", size: 3 << 20, seed: 9)
            _ = try await h.s3.putObject(
                bucket: h.bucket, key: "acme/data/big-read.bin",
                body: Array(try Data(contentsOf: URL(fileURLWithPath: local))))
            let r = try await Self.sftp(h, ["get big-read.bin \(h.dir)/back.bin"], options: ["-B", "262144"])
            #expect(r.status == 0, "\(r.output)")
            #expect(!r.output.contains("too long"), "\(r.output)")
            #expect(FileManager.default.contentsEqual(atPath: local, andPath: h.dir + "/back.bin"))
        }
    }

    @Test("a folder of 20,000 files with long names is listed completely by OpenSSH's sftp ls")
    func twentyThousandEntries() async throws {
        try await GatewayHarness.with { h in
            let count = 20_000
            // Long names make a page of 1,000 entries about 450 KiB: over OpenSSH's 256 KiB message limit.
            let stem = String(repeating: "n", count: 180)
            let made = try await Tools.run(
                try Tools.python(),
                [
                    "-c",
                    """
                    import boto3, sys
                    from concurrent.futures import ThreadPoolExecutor
                    bucket, count, stem = sys.argv[1], int(sys.argv[2]), sys.argv[3]
                    s3 = boto3.client("s3")
                    def put(i):
                        s3.put_object(Bucket=bucket, Key=f"acme/data/many/{i:05d}-{stem}.csv", Body=b"x")
                    with ThreadPoolExecutor(16) as pool:
                        list(pool.map(put, range(count)))
                    print("made", count)
                    """, h.bucket, String(count), stem,
                ], timeout: .seconds(600))
            #expect(made.output.contains("made \(count)"), "\(made.output)")
            let r = try await Self.sftp(h, ["ls -1 many"], options: [], timeout: .seconds(300))
            #expect(r.status == 0, "\(String(r.output.suffix(2000)))")
            let names = r.output.split(separator: "\n").filter { $0.hasSuffix("-\(stem).csv") }
            #expect(names.count == count, "listed \(names.count) of \(count): \(String(r.output.suffix(500)))")
            #expect(Set(names.map { $0.split(separator: "/").last!.prefix(5) }).count == count)
        }
    }

    // MARK: 3. limits per connection

    @Test("at most 10 channels per connection; closing some makes room")
    func channelsPerConnection() async throws {
        try await GatewayHarness.with { h in
            let r = try await Self.paramiko("channels", port: h.gateway.port, user: "acme", key: h.acmeKey)
            #expect(r.output.contains("channels opened 10\n"), "\(r.output)")
            #expect(r.output.contains("reopen ok"), "\(r.output)")
        }
    }

    @Test("at most 8 folders listed at once per session, refused with the reason")
    func foldersPerSession() async throws {
        try await GatewayHarness.with { h in
            let r = try await Self.paramiko("folders", port: h.gateway.port, user: "acme", key: h.acmeKey)
            #expect(r.output.contains("folders opened 8\n"), "\(r.output)")
            #expect(r.output.contains("at most 8 folders listed at once per session"), "\(r.output)")
        }
    }

    @Test("a logged-in connection with no session open is closed after the idle timeout")
    func idleConnectionWithoutSession() async throws {
        try await GatewayHarness.with { h in
            let r = try await Self.paramiko(
                "idle", port: h.gateway.port, user: "acme", key: h.acmeKey, ["20"], timeout: .seconds(60))
            #expect(r.status == 0 && r.output.contains("closed by the gateway"), "\(r.output)")
        } configure: { s in
            s.idleTimeout = .seconds(2)
        }
    }

    @Test("one upload memory budget: an upload over it is refused with the reason, and admitted once another closes")
    func uploadMemoryBudget() async throws {
        try await GatewayHarness.with { h in
            let r = try await Self.paramiko("budget", port: h.gateway.port, user: "acme", key: h.acmeKey)
            #expect(r.status == 0 && r.output.contains("budget ok"), "\(r.output)")
            #expect(
                r.output.contains("the server is receiving as many files at once as its upload memory allows"),
                "\(r.output)")
            #expect(
                try await h.keys(under: "").sorted() == ["acme/data/b1.csv", "acme/data/b2.csv", "acme/data/b3.csv"])
            #expect(h.metric(#"esteira_sftp_sessions_refused_total{reason="upload_memory"}"#) == 1)
            #expect(h.gateway.uploadMemoryInUse == 0)
        } configure: { s in
            s.partSize = 5 << 20
            s.maxFileSize = 1 << 30
            s.uploadMemoryLimit = 2 * (s.partSize + SFTPCodec.maximumPacketLength)
        }
    }

    @Test("a budget of one part still takes a multi-part upload whole: the next part waits for the one in flight")
    func uploadWithinOnePart() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("one-part.bin", size: 17 << 20, seed: 5)
            try await h.sftp(["put \(local) one-part.bin"]).expectSuccess()
            let stored = try #require(try await h.object("acme/data/one-part.bin"))
            #expect(stored == Array(try Data(contentsOf: URL(fileURLWithPath: local))))
            #expect(h.gateway.uploadMemoryInUse == 0)
        } configure: { s in
            s.partSize = 5 << 20
            s.maxFileSize = 1 << 30
            s.uploadMemoryLimit = s.partSize + SFTPCodec.maximumPacketLength
        }
    }

    // MARK: 2. revocation

    @Test(
        "SIGHUP: a removed user's open connection is closed at once; a user whose login key was removed too; one who only gained a key keeps theirs"
    )
    func revocationClosesOpenConnections() async throws {
        try await GatewayHarness.with { h in
            let file = h.dir + "/revoke-users.yaml"
            let pub = { (name: String) throws -> String in
                try String(contentsOfFile: h.dir + "/\(name).pub", encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)
            }
            func write(_ entries: [(String, [String])]) throws {
                var text = "users:\n"
                for (name, keys) in entries {
                    text +=
                        "  - {name: \(name), home: \(name)/data, keys: [\(try keys.map { "\"\(try pub($0))\"" }.joined(separator: ", "))]}\n"
                }
                try text.write(toFile: file, atomically: true, encoding: .utf8)
            }
            try write([("acme", ["acme_key"]), ("globex", ["globex_key"])])
            let gateway = try UsersReloadTests.start(h, ["--users", file])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            let port = try await GatewayProcessTests.listeningPort(gateway)

            let acme = try Self.startParamiko("hold", port: port, user: "acme", key: h.acmeKey, ["60"])
            defer { if acme.process.isRunning { acme.process.terminate() } }
            try await Self.waitForOutput(acme, "session open")

            // acme gains a key: nothing it logged in with was taken away, so its connection stays.
            try write([("acme", ["acme_key", "stranger_key"]), ("globex", ["globex_key"])])
            kill(gateway.process.processIdentifier, SIGHUP)
            try await UsersReloadTests.waitForLog(gateway, "users reloaded", count: 1)
            try await Task.sleep(for: .seconds(2))
            #expect(
                acme.process.isRunning,
                "a key added to acme closed its connection:\n\(acme.output())\n\(gateway.output())")

            // acme's login key is replaced by another: the open connection was made with a key no longer accepted.
            try write([("acme", ["stranger_key"]), ("globex", ["globex_key"])])
            kill(gateway.process.processIdentifier, SIGHUP)
            try await UsersReloadTests.waitForLog(gateway, "users reloaded", count: 2)
            let closed = try await Tools.wait(acme, timeout: .seconds(15))
            #expect(closed.status == 0 && closed.output.contains("closed by the gateway"), "\(closed.output)")

            // Removed altogether: a new connection of acme's (with the stranger key, accepted now) is closed too.
            let again = try Self.startParamiko("hold", port: port, user: "acme", key: h.strangerKey, ["60"])
            defer { if again.process.isRunning { again.process.terminate() } }
            try await Self.waitForOutput(again, "session open")
            try write([("globex", ["globex_key"])])
            kill(gateway.process.processIdentifier, SIGHUP)
            try await UsersReloadTests.waitForLog(gateway, "users reloaded", count: 3)
            let removed = try await Tools.wait(again, timeout: .seconds(15))
            #expect(removed.status == 0 && removed.output.contains("closed by the gateway"), "\(removed.output)")
            #expect(gateway.output().contains("access revoked"), "\(gateway.output())")
            // globex is untouched.
            try await UsersReloadTests.sftp(h, port, "globex", h.globexKey, ["ls"]).expectSuccess()

            gateway.process.terminate()
            _ = try await Tools.wait(gateway, timeout: .seconds(30))
        }
    }

    @Test("SIGHUP with a Secrets Manager secret: a user missing from its new value loses the open connection")
    func revocationFromSecret() async throws {
        try await GatewayHarness.with { h in
            let secrets = SecretsManagerClient(client: h.s3.client)
            let name = "esteira/sftp-users-\(UUID().uuidString.prefix(8))"
            try await secrets.createSecret(name: name, string: try UsersReloadTests.users(h, ["acme", "globex"]))
            let gateway = try UsersReloadTests.start(h, ["--users-secret", name])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            let port = try await GatewayProcessTests.listeningPort(gateway)
            let acme = try Self.startParamiko("hold", port: port, user: "acme", key: h.acmeKey, ["60"])
            defer { if acme.process.isRunning { acme.process.terminate() } }
            try await Self.waitForOutput(acme, "session open")

            try await UsersReloadTests.putSecretValue(name, try UsersReloadTests.users(h, ["globex"]))
            kill(gateway.process.processIdentifier, SIGHUP)
            try await UsersReloadTests.waitForLog(gateway, "users reloaded", count: 1)
            let closed = try await Tools.wait(acme, timeout: .seconds(15))
            #expect(closed.status == 0 && closed.output.contains("closed by the gateway"), "\(closed.output)")
            #expect(gateway.output().contains("the user was removed"), "\(gateway.output())")
            try await UsersReloadTests.sftp(h, port, "globex", h.globexKey, ["ls"]).expectSuccess()
            gateway.process.terminate()
            _ = try await Tools.wait(gateway, timeout: .seconds(30))
        }
    }

    // MARK: 9. health

    @Test("/healthz turns 503 when the bucket has not been reachable for the health timeout, and ok again when it is")
    func healthFollowsTheBucket() async throws {
        try await GatewayHarness.with { h in
            let file = h.dir + "/health-users.yaml"
            try UsersReloadTests.users(h, ["acme"]).write(toFile: file, atomically: true, encoding: .utf8)
            let gateway = try Tools.start(
                try Tools.esteira(),
                [
                    "sftp", "--users", file, "--host-key-dir", h.dir + "/proc-host", "--host", "127.0.0.1", "--port",
                    "0",
                    "--http-port", "0", "--bucket", h.bucket, "--health-s3-interval", "1", "--health-s3-timeout", "3",
                ], environment: ["ESTEIRA_LOG_FORMAT": "text"])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            _ = try await GatewayProcessTests.listeningPort(gateway)
            let line = try #require(
                gateway.output().split(separator: "\n").first { $0.contains("sftp gateway listening") })
            let range = try #require(line.range(of: #"http_port=(\d+)"#, options: .regularExpression))
            let httpPort = try #require(Int(line[range].dropFirst("http_port=".count)))

            func health() async throws -> String {
                try await Tools.run(
                    try Tools.python(),
                    [
                        "-c",
                        """
                        import sys, urllib.request, urllib.error
                        try:
                            r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=5)
                            print(r.status, r.read().decode())
                        except urllib.error.HTTPError as e:
                            print(e.code, e.read().decode())
                        """, String(httpPort),
                    ], timeout: .seconds(30)
                ).output
            }
            func waitFor(_ prefix: String) async throws -> String {
                let deadline = ContinuousClock.now + .seconds(30)
                var last = ""
                while ContinuousClock.now < deadline {
                    last = try await health()
                    if last.hasPrefix(prefix) { return last }
                    try await Task.sleep(for: .milliseconds(300))
                }
                Issue.record("/healthz did not answer \(prefix) within 30 s; last: \(last)\n\(gateway.output())")
                return last
            }
            #expect(try await health().hasPrefix("200 ok"))

            // The bucket disappears (as unreachable as it gets, and what a wrong policy looks like too).
            let bucketCall = { (call: String) async throws -> String in
                try await Tools.run(
                    try Tools.python(),
                    [
                        "-c", "import boto3, sys; boto3.client('s3').\(call)(Bucket=sys.argv[1]); print('done')",
                        h.bucket,
                    ]
                ).output
            }
            #expect(try await bucketCall("delete_bucket").contains("done"))
            let down = try await waitFor("503")
            #expect(down.contains(h.bucket), "\(down)")
            #expect(gateway.process.isRunning)

            #expect(try await bucketCall("create_bucket").contains("done"))
            _ = try await waitFor("200 ok")
            gateway.process.terminate()
            _ = try await Tools.wait(gateway, timeout: .seconds(30))
        }
    }
}
