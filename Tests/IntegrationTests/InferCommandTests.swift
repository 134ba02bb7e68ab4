import Foundation
import Testing

/// Runs the esteira binary with `arguments` and returns its exit status and combined output.
func runEsteira(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = try WorkerProcess.binary()
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

/// A file of the repository, for commands that read local files.
func repositoryFile(_ path: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(path).path
}

@Suite("esteira infer")
struct InferCommandTests {
    @Test("a Windows-1252 ';' export gives a route with its encoding, dialect and decimal comma, and DDL")
    func brazilianExport() throws {
        let (status, text) = try runEsteira([
            "infer", repositoryFile("examples/files/lojas/data/vendas-2026-11-03.csv"),
            "--table", "lojas_vendas", "--tenant", "lojas",
        ])
        #expect(status == 0, "\(text)")
        #expect(text.contains("encoding: windows-1252"))
        #expect(text.contains("delimiter: \";\""))
        #expect(text.contains("decimal_separator: \",\""))
        #expect(text.contains("CREATE TABLE IF NOT EXISTS `lojas_vendas`"))
        #expect(text.contains("`no_pedido` BIGINT NOT NULL"))
    }
}

@Suite("esteira infer without --table")
struct InferTableNameTests {
    @Test("proposes a table name from the file name and says so, instead of a usage error")
    func proposesName() throws {
        let dir = NSTemporaryDirectory() + "esteira-infer-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/orders-2026-11-01.csv"
        try Data("order_id,customer,amount\n1,Ana,10.50\n2,Bia,3.00\n".utf8).write(to: URL(fileURLWithPath: file))
        let (status, text) = try runEsteira(["infer", file])
        #expect(status == 0, "\(text)")
        #expect(text.contains("proposing table 'orders' from the file name"), "\(text)")
        #expect(text.contains("table: \"orders\""), "\(text)")
        #expect(text.contains("CREATE TABLE IF NOT EXISTS `orders`"), "\(text)")
    }
}

@Suite("esteira load --dry-run")
struct LoadDryRunTests {
    @Test("shows how the route reads the file, the cleaned rows and the refusals, and writes nothing")
    func dryRun() throws {
        // A dry run of a local file never calls AWS: an endpoint nobody answers proves it.
        let (status, text) = try runEsteira(
            [
                "load", repositoryFile("examples/files/lojas/data/vendas-2026-11-03.csv"), "--route", "lojas-vendas",
                "--dry-run", "--routes", repositoryFile("examples/routes.yaml"),
            ],
            environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:9"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("charset windows-1252"))
        #expect(text.contains("José da Conceição"))
        #expect(text.contains("1234.56"))
        #expect(text.contains("'31/11/2026' is not a date"))
        #expect(text.contains("dry run: nothing was written"))
    }
}

@Suite("esteira --help")
struct HelpTests {
    @Test(
        "every command's help shows an example, and none prints a password",
        arguments: [
            ["setup"], ["worker"], ["dlq", "list"], ["dlq", "show"], ["dlq", "replay"], ["dlq", "purge"],
            ["jobs"], ["jobs", "show"], ["routes", "check"], ["infer"], ["load"], ["sftp"],
        ])
    func example(_ command: [String]) throws {
        let (status, text) = try runEsteira(
            command + ["--help"],
            environment: ["ESTEIRA_MYSQL_URL": "mysql://u:s3cr3t-pw@127.0.0.1/db"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("Example"), "esteira \(command.joined(separator: " ")) --help has no example")
        #expect(!text.contains("s3cr3t-pw"))
    }
}
