import EsteiraAWS
import EsteiraCSV
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Testing

/// A keyed file with more distinct keys than the dedupe memory holds: spilled to disk, loaded exactly.
@Suite("End to end: dedupe past its memory budget")
struct DedupeSpillEndToEndTests {
    @Test("a keyed file larger than the in-memory dedupe budget loads every key once, repeats dropped")
    func spilledKeysLoadOnce() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let dir = NSTemporaryDirectory() + "esteira-dedupe-e2e-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var contract = CSVContract(
                columns: [
                    ColumnContract(name: "order_id", type: "bigint", required: true),
                    ColumnContract(name: "customer", type: "varchar(200)", required: true),
                    ColumnContract(name: "amount", type: "decimal(12,2)", required: true),
                    ColumnContract(name: "notes", type: "text"),
                ], key: ["order_id"])
            // 1 MiB: the table holds 4,096 keys before it spills, so 60,000 keys spill many times.
            contract.dedupe = DedupeSettings(maxMemoryBytes: 1 << 20, tempDirectory: dir)
            let routes = try RouteTable(routes: [
                Route(
                    name: "acme-orders", tenant: "acme", pattern: "orders*.csv",
                    table: "orders", contract: contract)
            ])
            let distinct = 60_000
            var body = ordersCSV(from: 0, count: distinct)
            // Repeats of keys spilled long ago and of recent ones, with other values: the first row wins.
            for i in stride(from: 0, to: distinct, by: 4) {
                body += Array("\(i),repeat,0.01,second copy\n".utf8)
            }
            try await stack.s3.putObject(bucket: stack.bucket, key: "acme/data/orders-big-keyed.csv", body: body)

            let summary = try await stack.drain(routes: routes)
            #expect(summary.succeeded == 1)
            #expect(summary.rowsLoaded == distinct)
            #expect(try await stack.count("orders") == distinct)
            #expect(try await stack.sql("SELECT COUNT(*) FROM orders WHERE customer = 'repeat'").scalar == "0")
            #expect(try await stack.deadLetters().isEmpty)
            // The runs were unlinked as they were made: nothing is left in the folder.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        }
    }
}
