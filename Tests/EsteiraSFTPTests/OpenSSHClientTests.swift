import EsteiraAWS
import EsteiraSFTP
import Foundation
import Testing

/// The gateway driven by OpenSSH's own `sftp -b`, the client partners use, over the local stack's S3.
@Suite("OpenSSH sftp against the gateway")
struct OpenSSHClientTests {
    @Test("key login: put, ls, get, rename, rm, mkdir, rmdir, as a partner would")
    func keyLoginEverydayCommands() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("orders.csv", size: 70_000)
            let r = try await h.sftp([
                "pwd", "mkdir in", "put \(local) in/orders.csv", "ls -l in", "rename in/orders.csv in/orders-2024.csv",
                "get in/orders-2024.csv \(h.dir)/back.csv", "mkdir empty", "ls", "rmdir empty", "rm in/orders-2024.csv",
                "ls -l in",
            ])
            #expect(r.status == 0, "\(r.output)")
            #expect(r.output.contains("Remote working directory: /"))
            #expect(r.output.contains("-rw-r--r--    1 acme     acme        70000 "), "\(r.output)")
            #expect(FileManager.default.contentsEqual(atPath: local, andPath: h.dir + "/back.csv"))
            // Only the folder marker of in/ is left; the file went in, was renamed, then removed.
            #expect(try await h.keys(under: "") == ["acme/data/in/"])
            #expect(h.metric("esteira_sftp_uploads_total") == 1)
        }
    }

    @Test("an upload appears in the bucket only when the client closes it, byte for byte")
    func uploadLandsWhole() async throws {
        try await GatewayHarness.with { h in
            // Three parts of 5 MiB and a tail: the multipart path, not the single PUT.
            let local = try h.makeFile("big.bin", size: 17 << 20)
            try await h.sftp(["put \(local) big.bin"]).expectSuccess()
            let stored = try #require(try await h.object("acme/data/big.bin"))
            #expect(stored == Array(try Data(contentsOf: URL(fileURLWithPath: local))))
        } configure: { s in
            s.partSize = 5 << 20
            s.maxFileSize = 1 << 30
        }
    }

    @Test("password login where the user has a password; wrong passwords and password-less users refused, slowly")
    func passwordLogin() async throws {
        try await GatewayHarness.with { h in
            try await h.sftp(["ls"], password: h.password).expectSuccess()

            for (user, password) in [("acme", "wrong"), ("globex", h.password), ("nobody", h.password)] {
                let started = ContinuousClock.now
                let r = try await h.sftp(["ls"], user: user, password: password)
                let took = ContinuousClock.now - started
                #expect(r.status != 0, "\(user) logged in with a wrong password")
                #expect(r.output.contains("Permission denied"), "\(r.output)")
                // The failure is answered after the delay, for a known user and an unknown one alike.
                #expect(took >= .milliseconds(300), "\(user): \(took)")
            }
            #expect(h.metric(#"esteira_sftp_auth_failures_total{method="password",reason="wrong_credentials"}"#) == 2)
            #expect(h.metric(#"esteira_sftp_auth_failures_total{method="password",reason="unknown_user"}"#) == 1)
        }
    }

    @Test("a key that is not the user's is refused")
    func wrongKey() async throws {
        try await GatewayHarness.with { h in
            let stranger = try await h.sftp(["ls"], key: h.strangerKey)
            #expect(stranger.status != 0)
            #expect(stranger.output.contains("Permission denied"), "\(stranger.output)")
            // globex's key does not open acme's account either.
            let swapped = try await h.sftp(["ls"], user: "acme", key: h.globexKey)
            #expect(swapped.status != 0)
            #expect(h.gateway.activeSessions == 0)
            #expect(h.metric(#"esteira_sftp_auth_failures_total{method="publickey",reason="wrong_credentials"}"#) >= 2)
        }
    }

    @Test("../other-tenant is refused for every command, an absolute path stays in the home, and cd .. stops at /")
    func pathEscapes() async throws {
        try await GatewayHarness.with { h in
            // acme's file and a file of globex's own, which the escapes below must leave alone.
            _ = try await h.s3.putObject(bucket: h.bucket, key: "acme/data/secret.csv", body: Array("acme only\n".utf8))
            _ = try await h.s3.putObject(bucket: h.bucket, key: "globex/data/mine.csv", body: Array("globex\n".utf8))
            let local = try h.makeFile("x.csv", size: 100)
            let asGlobex = { (commands: [String]) in try await h.sftp(commands, user: "globex", key: h.globexKey) }

            // Each in a session of its own (sftp -b stops at the first failure): every one fails, and the
            // client says so. OpenSSH prints the status code's text ("Permission denied") where it sends the
            // path as typed; get and ls first look the path up (which clamps at /, like cd) and find nothing.
            for (command, says) in [
                ("put \(local) ../acme/data/planted.csv", "Permission denied"),
                ("put \(local) ../../../../acme/data/planted.csv", "Permission denied"),
                ("put \(local) /../acme/data/planted.csv", "Permission denied"),
                ("mkdir ../acme/data/evil", "Permission denied"),
                ("rename mine.csv ../acme/data/mine.csv", "Permission denied"),
                ("rename ../acme/data/secret.csv taken.csv", "Permission denied"),
                ("get ../acme/data/secret.csv \(h.dir)/stolen.csv", "not found"),
                ("get /../../acme/data/secret.csv \(h.dir)/stolen.csv", "not found"),
                ("ls ../acme/data", "not found"),
            ] {
                let r = try await asGlobex([command])
                #expect(r.status != 0, "globex: `\(command)` succeeded:\n\(r.output)")
                #expect(r.output.contains(says), "`\(command)`:\n\(r.output)")
                #expect(!FileManager.default.fileExists(atPath: h.dir + "/stolen.csv"))
            }
            // acme may delete, and may not delete globex's file by climbing out either.
            let rm = try await h.sftp(["rm ../globex/data/mine.csv"])
            #expect(rm.status != 0 && rm.output.contains("Permission denied"), "\(rm.output)")
            #expect(try await h.keys(under: "").sorted() == ["acme/data/secret.csv", "globex/data/mine.csv"])

            // An absolute path starts at the home: /acme/data/ is a folder of globex's own, not acme's prefix.
            let absolute = try await asGlobex(["put \(local) /acme/data/planted.csv", "ls /acme/data"])
            #expect(absolute.status == 0, "\(absolute.output)")
            #expect(try await h.keys(under: "acme/") == ["acme/data/secret.csv"])
            #expect(try await h.object("globex/data/acme/data/planted.csv") != nil)
            let notAcmes = try await asGlobex(["get /acme/data/secret.csv \(h.dir)/stolen.csv"])
            #expect(notAcmes.status != 0 && notAcmes.output.contains("not found"), "\(notAcmes.output)")
            // Looking around clamps like a chroot (ls ../acme/data shows globex's own /acme/data), but opening
            // through a climbing path is refused even where the clamped path exists.
            let look = try await asGlobex(["ls ../acme/data", "get ../acme/data/planted.csv \(h.dir)/stolen.csv"])
            #expect(
                look.status != 0 && look.output.contains("planted.csv") && look.output.contains("Permission denied"),
                "\(look.output)")
            #expect(!FileManager.default.fileExists(atPath: h.dir + "/stolen.csv"))

            // cd .. at the top stays at the top (REALPATH stops at /, like a chroot); what follows is home.
            let cd = try await asGlobex(["cd ../../..", "pwd", "ls"])
            #expect(cd.status == 0, "\(cd.output)")
            #expect(cd.output.contains("Remote working directory: /\n"), "\(cd.output)")
            #expect(cd.output.contains("mine.csv"), "\(cd.output)")
        }
    }

    @Test("a user without the delete permission cannot remove files")
    func permissions() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("x.csv", size: 10)
            let r = try await h.sftp(["put \(local) x.csv", "rm x.csv"], user: "globex", key: h.globexKey)
            #expect(r.status != 0)
            #expect(r.output.contains("Permission denied"), "\(r.output)")
            #expect(try await h.object("globex/data/x.csv") != nil)
        }
    }

    @Test("an interrupted upload leaves no object and no multipart upload behind")
    func interruptedUpload() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("cut.bin", size: 160 << 20)
            let batch = h.dir + "/cut.batch"
            try "put \(local) cut.bin\n".write(toFile: batch, atomically: true, encoding: .utf8)
            let client = try Tools.start(
                try Tools.require("sftp"),
                [
                    "-b", batch, "-i", h.acmeKey, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-P", String(h.gateway.port), "acme@127.0.0.1",
                ], environment: [:])
            // Cut it once at least two parts went to S3, so a multipart upload really exists.
            let deadline = ContinuousClock.now + .seconds(60)
            while h.metric("esteira_sftp_bytes_uploaded_total") < Double(24 << 20), ContinuousClock.now < deadline,
                client.process.isRunning
            {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(client.process.isRunning, "the upload finished before it could be cut: \(client.output())")
            kill(client.process.processIdentifier, SIGKILL)
            while h.metric("esteira_sftp_uploads_aborted_total") < 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(h.metric("esteira_sftp_uploads_aborted_total") == 1)
            #expect(h.metric("esteira_sftp_uploads_total") == 0)
            #expect(try await h.object("acme/data/cut.bin") == nil)
            let pending = try await Tools.run(
                try Tools.python(),
                [
                    "-c",
                    """
                    import boto3, sys
                    r = boto3.client("s3").list_multipart_uploads(Bucket=sys.argv[1])
                    print("uploads:", len(r.get("Uploads", [])))
                    """, h.bucket,
                ])
            #expect(pending.output.contains("uploads: 0"), "\(pending.output)")
        }
    }

    @Test("resuming (a write that does not continue the file) is refused and the object is left as it was")
    func nonSequentialWrite() async throws {
        try await GatewayHarness.with { h in
            let small = try h.makeFile("part.bin", size: 1000, seed: 7)
            try await h.sftp(["put \(small) f.bin"]).expectSuccess()
            let whole = try h.makeFile("whole.bin", size: 3000, seed: 7)
            // reput continues from the remote size: a write at byte 1000 of a fresh upload.
            let r = try await h.sftp(["reput \(whole) f.bin"])
            #expect(r.status != 0, "\(r.output)")
            #expect(try await h.object("acme/data/f.bin")?.count == 1000)
        }
    }

    @Test("larger than the size limit: refused, nothing stored")
    func maxFileSize() async throws {
        try await GatewayHarness.with { h in
            let local = try h.makeFile("huge.bin", size: 12 << 20)
            let r = try await h.sftp(["put \(local) huge.bin"])
            #expect(r.status != 0)
            #expect(try await h.object("acme/data/huge.bin") == nil)
        } configure: { s in
            s.partSize = 5 << 20
            s.maxFileSize = 10 << 20
        }
    }

    @Test("sessions per user are capped, with a message; an idle session is closed")
    func sessionLimitAndIdleTimeout() async throws {
        try await GatewayHarness.with { h in
            // A batch file that is a FIFO nobody writes to keeps the first session open and idle.
            let fifo = h.dir + "/hold.fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let holder = try Tools.start(
                try Tools.require("sftp"),
                [
                    "-b", fifo, "-i", h.acmeKey, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-P", String(h.gateway.port), "acme@127.0.0.1",
                ], environment: [:])
            let fd = open(fifo, O_WRONLY)  // sftp opens the FIFO at start; this unblocks both sides
            defer { close(fd) }
            let deadline = ContinuousClock.now + .seconds(20)
            while h.gateway.activeSessions < 1, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(h.gateway.activeSessions == 1)

            let second = try await h.sftp(["ls"])
            #expect(second.status != 0)
            #expect(second.output.contains("too many sessions for user acme"), "\(second.output)")

            // The idle one is closed by the gateway after its timeout (2 s here), not by the client.
            let idleDeadline = ContinuousClock.now + .seconds(15)
            while h.gateway.activeSessions > 0, ContinuousClock.now < idleDeadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(h.gateway.activeSessions == 0)
            // sftp notices only when it next reads a command: give it one, which must now fail.
            _ = "ls\n".withCString { write(fd, $0, 3) }
            let held = try await Tools.wait(holder, timeout: .seconds(10))
            #expect(held.status != 0, "\(held.output)")
            #expect(h.metric(#"esteira_sftp_sessions_refused_total{reason="session_limit"}"#) == 1)
        } configure: { s in
            s.maxSessionsPerUser = 1
            s.idleTimeout = .seconds(2)
        }
    }

    @Test("shell and exec are refused: this server offers SFTP only")
    func noShell() async throws {
        try await GatewayHarness.with { h in
            let r = try await Tools.run(
                try Tools.require("ssh"),
                [
                    "-i", h.acmeKey, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", "-p", String(h.gateway.port), "acme@127.0.0.1", "cat /etc/passwd",
                ], timeout: .seconds(30))
            #expect(r.status != 0)
            #expect(r.output.contains("SFTP only"), "\(r.output)")
        }
    }
}

extension Tools.Result {
    func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status == 0, "sftp failed:\n\(output)", sourceLocation: sourceLocation)
    }
}
