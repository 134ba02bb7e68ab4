import Foundation
import Testing

@Suite("esteira infer")
struct InferCommandTests {
    @Test("a Windows-1252 ';' export gives a route with its encoding, dialect and decimal comma, and DDL")
    func brazilianExport() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = Process()
        p.executableURL = try WorkerProcess.binary()
        p.arguments = ["infer", root.appendingPathComponent("examples/files/lojas/data/vendas-2026-11-03.csv").path,
                       "--table", "lojas_vendas", "--tenant", "lojas"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("encoding: windows-1252"))
        #expect(text.contains("delimiter: \";\""))
        #expect(text.contains("decimal_separator: \",\""))
        #expect(text.contains("CREATE TABLE IF NOT EXISTS `lojas_vendas`"))
        #expect(text.contains("`no_pedido` BIGINT NOT NULL"))
    }
}

@Suite("esteira load --dry-run")
struct LoadDryRunTests {
    @Test("shows how the route reads the file, the cleaned rows and the refusals, and writes nothing")
    func dryRun() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = Process()
        p.executableURL = try WorkerProcess.binary()
        p.arguments = ["load", root.appendingPathComponent("examples/files/lojas/data/vendas-2026-11-03.csv").path,
                       "--route", "lojas-vendas", "--dry-run", "--routes", root.appendingPathComponent("examples/routes.yaml").path]
        var env = ProcessInfo.processInfo.environment
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"   // a dry run of a local file never calls AWS
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("charset windows-1252"))
        #expect(text.contains("José da Conceição"))
        #expect(text.contains("1234.56"))
        #expect(text.contains("'31/11/2026' is not a date"))
        #expect(text.contains("dry run: nothing was written"))
    }
}
