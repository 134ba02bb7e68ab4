import EsteiraAWS
import EsteiraSFTP
import Foundation
import Testing

/// Where `esteira sftp` finds its users, and `kill -HUP`, on the real binary: users from a Secrets Manager
/// secret on the local stack, from a file, or both, re-read on SIGHUP; a broken one keeps the previous users.
/// Nothing here is timed: each step polls for its outcome (a log line, a login) with a generous deadline.
@Suite("Users from Secrets Manager or a file, reloaded on SIGHUP")
struct UsersReloadTests {
    @Test("users from a Secrets Manager secret; SIGHUP re-reads it, and a broken value keeps the previous users")
    func secretsManagerUsers() async throws {
        try await GatewayHarness.with { h in
            let secrets = SecretsManagerClient(client: h.s3.client)
            let name = "esteira/sftp-users-\(UUID().uuidString.prefix(8))"
            try await secrets.createSecret(name: name, string: try Self.users(h, ["acme"]))
            let gateway = try Self.start(h, ["--users-secret", name])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            let port = try await GatewayProcessTests.listeningPort(gateway)

            let local = try h.makeFile("from-secret.csv", size: 300)
            try await Self.sftp(h, port, "acme", h.acmeKey, ["put \(local) a.csv"]).expectSuccess()
            #expect(try await h.object("acme/data/a.csv") != nil)
            let before = try await Self.sftp(h, port, "globex", h.globexKey, ["ls"])
            #expect(before.status != 0 && before.output.contains("Permission denied"), "\(before.output)")

            // A new value of the secret (what rotating it, or `aws secretsmanager put-secret-value`, does), then HUP.
            try await Self.putSecretValue(name, try Self.users(h, ["acme", "globex"]))
            kill(gateway.process.processIdentifier, SIGHUP)
            try await Self.waitForLog(gateway, "users reloaded", count: 1)
            try await Self.sftp(h, port, "globex", h.globexKey, ["put \(local) g.csv"]).expectSuccess()
            #expect(try await h.object("globex/data/g.csv") != nil)

            // A value that is not a users file: refused, logged, and both users still log in.
            try await Self.putSecretValue(name, "users: [")
            kill(gateway.process.processIdentifier, SIGHUP)
            try await Self.waitForLog(gateway, "users not reloaded", count: 1)
            try await Self.sftp(h, port, "globex", h.globexKey, ["ls"]).expectSuccess()
            try await Self.sftp(h, port, "acme", h.acmeKey, ["ls"]).expectSuccess()
            #expect(gateway.process.isRunning)

            gateway.process.terminate()
            _ = try await Tools.wait(gateway, timeout: .seconds(30))
            #expect(gateway.output().contains("sftp gateway stopped"), "\(gateway.output())")
        }
    }

    @Test("--users and --users-secret together: both sets log in; a user in both is refused, naming both places")
    func fileAndSecret() async throws {
        try await GatewayHarness.with { h in
            let secrets = SecretsManagerClient(client: h.s3.client)
            let name = "esteira/sftp-users-\(UUID().uuidString.prefix(8))"
            try await secrets.createSecret(name: name, string: try Self.users(h, ["globex"]))
            let file = h.dir + "/file-users.yaml"
            try Self.users(h, ["acme"]).write(toFile: file, atomically: true, encoding: .utf8)
            let gateway = try Self.start(h, ["--users", file, "--users-secret", name])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            let port = try await GatewayProcessTests.listeningPort(gateway)
            try await Self.sftp(h, port, "acme", h.acmeKey, ["ls"]).expectSuccess()
            try await Self.sftp(h, port, "globex", h.globexKey, ["ls"]).expectSuccess()

            // acme added to the secret as well: the reload is refused with both places named; nothing changes.
            try await Self.putSecretValue(name, try Self.users(h, ["globex", "acme"]))
            kill(gateway.process.processIdentifier, SIGHUP)
            try await Self.waitForLog(gateway, "users not reloaded", count: 1)
            #expect(
                gateway.output().contains("user 'acme' is in both the users file \(file) and secret \(name)"),
                "\(gateway.output())")
            try await Self.sftp(h, port, "acme", h.acmeKey, ["ls"]).expectSuccess()
            gateway.process.terminate()
            _ = try await Tools.wait(gateway, timeout: .seconds(30))

            // ...and at start it stops the gateway with the same message.
            let again = try Self.start(h, ["--users", file, "--users-secret", name])
            let r = try await Tools.wait(again, timeout: .seconds(60))
            #expect(r.status != 0)
            #expect(r.output.contains("user 'acme' is in both"), "\(r.output)")
        }
    }

    @Test("a Secrets Manager secret that does not exist stops the start with a message naming it")
    func missingSecret() async throws {
        try await GatewayHarness.with { h in
            let gateway = try Self.start(h, ["--users-secret", "esteira/no-such-users"])
            let r = try await Tools.wait(gateway, timeout: .seconds(60))
            #expect(r.status != 0)
            #expect(r.output.contains("cannot read the users secret esteira/no-such-users"), "\(r.output)")
        }
    }

    @Test("SIGHUP re-reads the users file: users added and removed; a file with a mistake keeps the previous users")
    func usersFileReload() async throws {
        try await GatewayHarness.with { h in
            let file = h.dir + "/reload-users.yaml"
            try Self.users(h, ["acme"]).write(toFile: file, atomically: true, encoding: .utf8)
            let gateway = try Self.start(h, ["--users", file])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            let port = try await GatewayProcessTests.listeningPort(gateway)
            try await Self.sftp(h, port, "acme", h.acmeKey, ["ls"]).expectSuccess()
            #expect(try await Self.sftp(h, port, "globex", h.globexKey, ["ls"]).status != 0)

            // globex added.
            try Self.users(h, ["acme", "globex"]).write(toFile: file, atomically: true, encoding: .utf8)
            kill(gateway.process.processIdentifier, SIGHUP)
            try await Self.waitForLog(gateway, "users reloaded", count: 1)
            try await Self.sftp(h, port, "globex", h.globexKey, ["ls"]).expectSuccess()

            // acme removed: its key no longer opens anything.
            try Self.users(h, ["globex"]).write(toFile: file, atomically: true, encoding: .utf8)
            kill(gateway.process.processIdentifier, SIGHUP)
            try await Self.waitForLog(gateway, "users reloaded", count: 2)
            let removed = try await Self.sftp(h, port, "acme", h.acmeKey, ["ls"])
            #expect(removed.status != 0 && removed.output.contains("Permission denied"), "\(removed.output)")

            // An RSA key (which the gateway cannot check) makes the file wrong: refused with the reason, and
            // the users stay as they were.
            try
                (Self.users(h, ["globex"])
                + "  - {name: acme, home: acme/data, keys: [\"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 x\"]}\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            kill(gateway.process.processIdentifier, SIGHUP)
            try await Self.waitForLog(gateway, "users not reloaded", count: 1)
            #expect(gateway.output().contains("ssh-rsa"), "\(gateway.output())")
            try await Self.sftp(h, port, "globex", h.globexKey, ["ls"]).expectSuccess()
            #expect(try await Self.sftp(h, port, "acme", h.acmeKey, ["ls"]).status != 0)

            gateway.process.terminate()
            _ = try await Tools.wait(gateway, timeout: .seconds(30))
            #expect(gateway.output().contains("sftp gateway stopped"), "\(gateway.output())")
        }
    }

    // MARK: helpers

    /// A users file with the harness's tenants named, each with its key.
    static func users(_ h: GatewayHarness, _ names: [String]) throws -> String {
        var text = "users:\n"
        for name in names {
            let pub = try String(contentsOfFile: h.dir + "/\(name)_key.pub", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            text += "  - {name: \(name), home: \(name)/data, keys: [\"\(pub)\"]}\n"
        }
        return text
    }

    /// `esteira sftp` as its own process on a free port, over the harness's bucket.
    static func start(_ h: GatewayHarness, _ usersArguments: [String]) throws -> Tools.Running {
        try Tools.start(
            try Tools.esteira(),
            ["sftp"] + usersArguments + [
                "--host-key-dir", h.dir + "/proc-host", "--host", "127.0.0.1", "--port", "0", "--no-http",
                "--bucket", h.bucket, "--failed-login-delay", "0.2",
            ], environment: ["ESTEIRA_LOG_FORMAT": "text"])
    }

    static func sftp(_ h: GatewayHarness, _ port: Int, _ user: String, _ key: String, _ commands: [String]) async throws
        -> Tools.Result
    {
        try await h.sftp(commands, user: user, key: key, port: port, timeout: .seconds(60))
    }

    /// Sets a secret's value with boto3 (the AWS layer here only reads secrets, as the gateway does).
    static func putSecretValue(_ name: String, _ text: String) async throws {
        let r = try await Tools.run(
            try Tools.python(),
            [
                "-c",
                """
                import boto3, sys
                boto3.client("secretsmanager").put_secret_value(SecretId=sys.argv[1], SecretString=sys.argv[2])
                print("put ok")
                """, name, text,
            ])
        guard r.output.contains("put ok") else {
            throw MissingTool(description: "put_secret_value failed:\n\(r.output)")
        }
    }

    /// Waits until the gateway has logged `line` at least `count` times (SIGHUP is handled asynchronously).
    static func waitForLog(_ p: Tools.Running, _ line: String, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let log = p.output()
            if log.split(separator: "\n").filter({ $0.contains(line) }).count >= count { return }
            guard p.process.isRunning else { throw MissingTool(description: "esteira sftp exited:\n\(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw MissingTool(description: "esteira sftp did not log '\(line)' \(count)× within 60 s:\n\(p.output())")
    }
}
