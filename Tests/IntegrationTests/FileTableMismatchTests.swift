import EsteiraPipeline
import Foundation
import Testing

/// A header column the table lacks, on the real stack: named before the load, dead-lettered as BadHeader.
@Suite("file columns against the table, on the real stack", .serialized)
struct FileTableMismatchTests {
    static let table = """
        CREATE TABLE acme_orders (order_id BIGINT PRIMARY KEY, customer VARCHAR(200) NOT NULL,
        amount DECIMAL(12,2) NOT NULL, ordered_at DATETIME NULL, notes TEXT NULL) CHARACTER SET utf8mb4
        """
    static let csv = "order_id,customer,amount,order_date\n1,Ana,10.50,2026-11-01\n2,Bia,3.00,2026-11-02\n"

    static func writeRoutes(yaml: String) throws -> String {
        let path = NSTemporaryDirectory() + "esteira-routes-\(UInt32.random(in: 0...UInt32.max)).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func routes(extraColumns: String? = nil) throws -> RouteTable {
        var route = Route(name: "acme-orders", tenant: "acme", pattern: "orders*.csv", table: "acme_orders")
        route.extraColumns = extraColumns
        return try RouteTable(routes: [route])
    }

    @Test("a worker dead-letters the file as BadHeader, naming the column and the table's columns")
    func deadLettered() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-2026-11-01.csv", body: Array(Self.csv.utf8))
            let summary = try await stack.drain(routes: try Self.routes())
            #expect(summary.failed == 1)
            let letter = try #require(try await stack.deadLetters().first)
            #expect(letter.messageAttributes["esteira.error-code"] == "BadHeader")
            let message = letter.messageAttributes["esteira.error-message"] ?? ""
            #expect(
                message.contains(
                    "the file's column 'order_date' is not in table acme_orders (its columns: order_id, customer, amount, ordered_at, notes): add it to the table, map it with `source:` in the contract, or set `extra_columns: ignore`"
                ), "\(message)")
            #expect(!message.contains("1054"), "\(message)")
            #expect(try await stack.count("acme_orders") == 0)
        }
    }

    @Test("`esteira load` says the same, and with extra_columns: ignore the other columns load")
    func loadCommand() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            let file = NSTemporaryDirectory() + "orders-\(UInt32.random(in: 0...UInt32.max)).csv"
            try Data(Self.csv.utf8).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let refused = try Self.writeRoutes(
                yaml:
                    "routes:\n  - name: acme-orders\n    tenant: acme\n    pattern: \"orders*.csv\"\n    table: acme_orders\n"
            )
            let (status, text) = try await LoadCommandTests.run(
                ["load", file, "--route", "acme-orders"], stack, routes: refused)
            #expect(status == 1)
            #expect(text.contains("BadHeader"), "\(text)")
            #expect(
                text.contains(
                    "the file's column 'order_date' is not in table acme_orders (its columns: order_id, customer, amount, ordered_at, notes)"
                ), "\(text)")

            let ignoring = try Self.writeRoutes(
                yaml:
                    "routes:\n  - name: acme-orders\n    tenant: acme\n    pattern: \"orders*.csv\"\n    table: acme_orders\n    extra_columns: ignore\n"
            )
            let (loaded, loadedText) = try await LoadCommandTests.run(
                ["load", file, "--route", "acme-orders"], stack, routes: ignoring)
            #expect(loaded == 0, "\(loadedText)")
            #expect(try await stack.count("acme_orders") == 2)
        }
    }
}
