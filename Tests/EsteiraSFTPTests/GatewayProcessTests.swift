import Crypto
import EsteiraAWS
import EsteiraSFTP
import Foundation
import Testing

/// `esteira sftp` as its own process, the way a pod runs it, so its memory can be read on its own.
@Suite("The gateway process")
struct GatewayProcessTests {
    @Test("a 200 MB upload lands byte-identical while the gateway's peak memory stays bounded")
    func bigUploadBoundedMemory() async throws {
        try await GatewayHarness.with { h in
            let size = 200_000_000
            let local = try h.makeFile("200mb.bin", size: size, seed: 2024)
            let users = h.dir + "/users.yaml"
            let pub = try String(contentsOfFile: h.acmeKey + ".pub", encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            try "users:\n  - {name: acme, home: acme/data, keys: [\"\(pub)\"]}\n".write(
                toFile: users, atomically: true, encoding: .utf8)
            let gateway = try Tools.start(
                try Tools.esteira(),
                [
                    "sftp", "--users", users, "--host-key-dir", h.dir + "/proc-host", "--host", "127.0.0.1", "--port",
                    "0",
                    "--no-http", "--bucket", h.bucket,
                ], environment: ["ESTEIRA_LOG_FORMAT": "text"])
            defer { if gateway.process.isRunning { gateway.process.terminate() } }
            let port = try await Self.listeningPort(gateway)
            let pid = gateway.process.processIdentifier
            // Start from the resident size at rest: the peak so far includes start-up work (the decoy scrypt hash).
            try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
            let atRest = try Self.kilobytes("VmHWM", pid: pid)

            let started = ContinuousClock.now
            let r = try await h.sftp(["put \(local) 200mb.bin"], port: port, timeout: .seconds(180))
            let took = ContinuousClock.now - started
            r.expectSuccess()
            let peak = try Self.kilobytes("VmHWM", pid: pid)
            print(
                "200 MB upload through `esteira sftp`: \(took), gateway RSS at rest \(atRest / 1024) MiB, peak \(peak / 1024) MiB"
            )

            // Byte-identical: hash what S3 holds, streamed, against the local file.
            let (info, body) = try await h.s3.getObjectStream(bucket: h.bucket, key: "acme/data/200mb.bin")
            #expect(info.size == Int64(size))
            var remote = SHA256()
            for try await chunk in body { remote.update(data: chunk) }
            var mine = SHA256()
            let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: local))
            while let block = try file.read(upToCount: 4 << 20), !block.isEmpty { mine.update(data: block) }
            try file.close()
            #expect(remote.finalize() == mine.finalize())

            // Measured about 50 MiB here (glibc keeps freed 8 MiB part buffers around); a gateway that held the
            // file would grow by its 190 MiB.
            #expect(peak - atRest < 96 * 1024, "the gateway grew by \((peak - atRest) / 1024) MiB for a 200 MB upload")
            gateway.process.interrupt()
            _ = try await Tools.wait(gateway, timeout: .seconds(20))
            #expect(gateway.output().contains("sftp gateway stopped"), "\(gateway.output())")
        }
    }

    static func listeningPort(_ p: Tools.Running) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let log = p.output()
            if let line = log.split(separator: "\n").first(where: { $0.contains("sftp gateway listening") }),
                let range = line.range(of: #"(?<![a-z_])port=(\d+)"#, options: .regularExpression)
            {
                return Int(line[range].dropFirst("port=".count))!
            }
            guard p.process.isRunning else { throw MissingTool(description: "esteira sftp exited:\n\(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw MissingTool(description: "esteira sftp did not start listening in 30 s:\n\(p.output())")
    }

    static func kilobytes(_ field: String, pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])
        else {
            throw MissingTool(description: "no \(field) in /proc/\(pid)/status")
        }
        return kb
    }
}

@Suite("paramiko against the gateway")
struct ParamikoTests {
    @Test("a second client from pip does put, stat, listdir, get, rename, remove and stays home")
    func paramiko() async throws {
        try await GatewayHarness.with { h in
            let script = Tools.root.appendingPathComponent("Tests/EsteiraSFTPTests/Support/paramiko_client.py").path
            let r = try await Tools.run(
                try Tools.python(), [script, "127.0.0.1", String(h.gateway.port), "acme", h.acmeKey, h.dir],
                timeout: .seconds(120))
            #expect(r.status == 0, "\(r.output)")
            #expect(r.output.contains("paramiko ok"), "\(r.output)")
            #expect(try await h.keys(under: "").isEmpty)
        }
    }
}
