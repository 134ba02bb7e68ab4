import EsteiraAWS
import Foundation
import Testing

/// `esteira load` and `esteira infer` as an operator runs them, against the real stack.
@Suite("esteira load and infer on the real stack", .serialized)
struct LoadCommandTests {
    static func run(_ args: [String], _ stack: TestStack, routes: String) async throws -> (Int32?, String) {
        let p = try WorkerProcess(args, stack: stack, routes: routes)
        let status = await p.wait(timeout: 120)
        return (status, p.log)
    }

    static func json(_ text: String) throws -> [String: Any] {
        // The JSON object is the last thing printed; anything before it is log lines.
        let start = try #require(text.range(of: "{\n")?.lowerBound, "no JSON in: \(text)")
        return try #require(try JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any])
    }

    @Test("a local file loads once, keyed on its content; its refusals land beside it; a changed file loads again")
    func localFile() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let dir = NSTemporaryDirectory() + "esteira-load-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = dir + "/orders-local.csv"
            var csv = ordersCSV(from: 0, count: 50)
            csv += Array("999,too few fields\n".utf8)
            try Data(csv).write(to: URL(fileURLWithPath: file))

            let (status, text) = try await Self.run(
                ["load", file, "--route", "acme-orders", "--json"], stack, routes: routes)
            #expect(status == 0, "\(text)")
            let first = try Self.json(text)
            #expect(first["rows_loaded"] as? Int == 50)
            #expect(first["rows_rejected"] as? Int == 1)
            #expect(first["already_loaded"] as? Bool == false)
            #expect(first["rejects"] as? String == file + ".rejects.csv")
            #expect(try await stack.count("orders") == 50)
            let rejects = try String(contentsOfFile: file + ".rejects.csv", encoding: .utf8)
            #expect(rejects.contains("999,too few fields"), "\(rejects)")

            // The ledger keys a local file on host, path and content.
            let ledger = try await stack.sql("SELECT bucket, object_key, version FROM esteira_ledger")
            #expect(ledger.rows.count == 1)
            #expect(ledger.rows.first?[0]?.hasPrefix("file://") == true)
            #expect(ledger.rows.first?[1] == file)
            #expect(ledger.rows.first?[2]?.hasPrefix("sha256:") == true)

            // Again: already loaded, nothing doubled.
            let (again, againText) = try await Self.run(
                ["load", file, "--route", "acme-orders"], stack, routes: routes)
            #expect(again == 0, "\(againText)")
            #expect(againText.contains("loaded before; nothing written"))
            #expect(try await stack.count("orders") == 50)

            // New content at the same path is a new version.
            try Data(ordersCSV(from: 100, count: 5)).write(to: URL(fileURLWithPath: file))
            let (changed, changedText) = try await Self.run(
                ["load", file, "--route", "acme-orders"], stack, routes: routes)
            #expect(changed == 0, "\(changedText)")
            #expect(changedText.contains("5 row(s) into orders"))
            #expect(try await stack.count("orders") == 55)
        }
    }

    @Test("a missing local file and a failing load exit 1 with the reason, and write nothing")
    func failures() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            let (missing, missingText) = try await Self.run(
                ["load", "/nonexistent/orders.csv", "--route", "acme-orders"], stack, routes: routes)
            #expect(missing == 1)
            #expect(missingText.contains("cannot open /nonexistent/orders.csv"), "\(missingText)")

            // No table yet: MySQL's own message comes back, and the ledger stays empty.
            let file = NSTemporaryDirectory() + "orders-\(UInt32.random(in: 0...UInt32.max)).csv"
            try Data(ordersCSV(from: 0, count: 3)).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let (status, text) = try await Self.run(["load", file, "--route", "acme-orders"], stack, routes: routes)
            #expect(status == 1)
            #expect(text.contains("doesn't exist"), "\(text)")
            let ledgers = try await stack.sql(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'esteira_ledger'"
            )
            if ledgers.scalar == "1" { #expect(try await stack.count("esteira_ledger") == 0) }
        }
    }

    @Test("an s3:// file loads as the worker would, once per object version, rejects beside it in S3")
    func s3Object() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let routes = try writeRoutes()
            let key = "acme/data/orders 2026-11-28.csv"
            var csv = ordersCSV(from: 0, count: 20)
            csv += Array("21,too few fields\n".utf8)
            _ = try await stack.s3.putObject(bucket: stack.bucket, key: key, body: csv)
            let uri = "s3://\(stack.bucket)/\(key)"

            let (status, text) = try await Self.run(
                ["load", uri, "--route", "acme-orders", "--json"], stack, routes: routes)
            #expect(status == 0, "\(text)")
            let outcome = try Self.json(text)
            #expect(outcome["rows_loaded"] as? Int == 20)
            #expect(outcome["rows_rejected"] as? Int == 1)
            #expect(outcome["rejects"] as? String == "s3://\(stack.bucket)/esteira-rejects/\(key).rejects.csv")
            #expect(
                try await stack.sql("SELECT rejects_uri FROM esteira_ledger").scalar
                    == "s3://\(stack.bucket)/esteira-rejects/\(key).rejects.csv")
            let (_, rejectsBody) = try await stack.s3.getObjectStream(
                bucket: stack.bucket, key: "esteira-rejects/\(key).rejects.csv")
            var rejects: [UInt8] = []
            for try await chunk in rejectsBody { rejects += chunk }
            #expect(String(decoding: rejects, as: UTF8.self).contains("21,too few fields"))
            #expect(try await stack.count("orders") == 20)

            let (again, againText) = try await Self.run(["load", uri, "--route", "acme-orders"], stack, routes: routes)
            #expect(again == 0)
            #expect(againText.contains("loaded before; nothing written"), "\(againText)")
            #expect(try await stack.count("orders") == 20)

            let (dry, dryText) = try await Self.run(
                ["load", uri, "--route", "acme-orders", "--dry-run", "--json"], stack, routes: routes)
            #expect(dry == 0, "\(dryText)")
            let preview = try Self.json(dryText)
            #expect(preview["rows"] as? Int == 20)
            #expect(preview["rejected"] as? Int == 1)
            #expect(preview["columns"] as? [String] == ["order_id", "customer", "amount", "notes"])
        }
    }

    @Test("infer reads an s3:// sample and takes the tenant from the key")
    func inferS3() async throws {
        try await TestStack.with { stack in
            let routes = try writeRoutes()
            let key = "acme/data/orders-infer.csv"
            _ = try await stack.s3.putObject(bucket: stack.bucket, key: key, body: ordersCSV(from: 1, count: 200))
            let (status, text) = try await Self.run(
                ["infer", "s3://\(stack.bucket)/\(key)", "--table", "acme_orders", "--json"],
                stack, routes: routes)
            #expect(status == 0, "\(text)")
            let schema = try Self.json(text)
            #expect(schema["sampled_rows"] as? Int == 200)
            #expect(schema["key"] as? [String] == ["order_id"])
            let yaml = try #require(schema["route_yaml"] as? String)
            #expect(yaml.contains("tenant: \"acme\""))
            let ddl = try #require(schema["ddl"] as? String)
            #expect(ddl.contains("CREATE TABLE IF NOT EXISTS `acme_orders`"))
            // The DDL is real MySQL: it runs.
            _ = try await stack.sql(ddl)
            #expect(try await stack.count("acme_orders") == 0)

            let (missing, missingText) = try await Self.run(
                ["infer", "s3://\(stack.bucket)/acme/data/none.csv", "--table", "t"],
                stack, routes: routes)
            #expect(missing == 1)
            #expect(missingText.contains("NoSuchKey") || missingText.contains("does not exist"), "\(missingText)")
        }
    }
}
