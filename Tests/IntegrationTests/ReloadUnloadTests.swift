import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import Foundation
import Testing

/// `esteira reload` and `esteira unload` on the real stack (MariaDB + moto): a version loaded before is
/// loaded again in one transaction, the ledger keeps every attempt, and no delivery doubles the rows.
@Suite("esteira reload and unload on the real stack", .serialized)
struct ReloadUnloadTests {
    static let table = """
        CREATE TABLE vendas (pedido BIGINT NOT NULL, valor DECIMAL(12,2) NULL, loaded_by BIGINT UNSIGNED NULL,
        KEY ix_vendas_loaded_by (loaded_by)) ENGINE=InnoDB CHARACTER SET utf8mb4
        """

    /// The first contract types `valor` as int, so "2.50" is refused; the fixed one takes decimals.
    static func routes(valorType: String, replaceByFile: Bool = true) -> String {
        """
        routes:
          - name: vendas
            tenant: lojas
            pattern: "vendas*.csv"
            table: vendas
        \(replaceByFile ? "    load_mode: replace-by-file\n    source_column: loaded_by" : "")
            contract:
              columns:
                - {name: pedido, type: bigint, required: true}
                - {name: valor, type: "\(valorType)"}
        """
    }

    static let csv = "pedido,valor\n1,10\n2,2.50\n3,7\n"

    static func ledger(_ stack: TestStack) async throws -> [[String]] {
        try await stack.sql("SELECT generation, state, rows_loaded, rows_rejected FROM esteira_ledger ORDER BY id")
            .rows.map { $0.map { $0 ?? "NULL" } }
    }

    static func cli(_ args: [String], _ stack: TestStack, routesYAML: String) async throws -> (Int32?, String) {
        let path = try FileTableMismatchTests.writeRoutes(yaml: routesYAML)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await LoadCommandTests.run(args, stack, routes: path)
    }

    @Test(
        "reload after a contract fix: only the new rows, two attempts in the ledger; unload removes them and stays unloaded"
    )
    func reloadAndUnload() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            let source = try await MySQLOperationsTests.put(stack, "lojas/data/vendas-1.csv", Self.csv)
            let uri = "s3://\(stack.bucket)/lojas/data/vendas-1.csv"
            let first = MySQLOperationsTests.pipeline(
                stack, routes: try RouteTable.parse(yaml: Self.routes(valorType: "int")))
            let loaded = try await MySQLOperationsTests.load(first, source)
            #expect(loaded.rowsLoaded == 2 && loaded.rowsRejected == 1)
            // A row someone added by hand under the same load is the earlier load's too.
            _ = try await stack.sql(
                "INSERT INTO vendas (pedido, valor, loaded_by) SELECT 99, 0, MAX(id) FROM esteira_ledger")

            let fixed = Self.routes(valorType: "decimal(12,2)")
            // Without --yes: says what it would do, changes nothing.
            let (dry, dryText) = try await Self.cli(["reload", uri, "--route", "vendas"], stack, routesYAML: fixed)
            #expect(dry == 1, "\(dryText)")
            #expect(dryText.contains("would delete 3 row(s)"), "\(dryText)")
            #expect(dryText.contains("add --yes"), "\(dryText)")
            #expect(try await stack.count("vendas") == 3)

            let (status, text) = try await Self.cli(
                ["reload", uri, "--route", "vendas", "--yes", "--json"], stack, routesYAML: fixed)
            #expect(status == 0, "\(text)")
            let result = try LoadCommandTests.json(text)
            #expect(result["rows_removed"] as? Int == 3, "\(text)")
            #expect(result["rows_loaded"] as? Int == 3, "\(text)")
            #expect((result["attempts"] as? [Any])?.count == 2, "\(text)")
            let rows = try await stack.sql("SELECT pedido, valor FROM vendas ORDER BY pedido").rows
            #expect(rows == [["1", "10.00"], ["2", "2.50"], ["3", "7.00"]])
            let byNewLoad = try await stack.sql(
                "SELECT COUNT(*) FROM vendas WHERE loaded_by = (SELECT id FROM esteira_ledger WHERE state = 'loaded')")
            #expect(byNewLoad.scalar == "3")
            #expect(try await Self.ledger(stack) == [["1", "superseded", "2", "1"], ["2", "loaded", "3", "0"]])

            // The same version delivered again (a duplicate S3 event) is already loaded: nothing doubles.
            let fixedPipeline = MySQLOperationsTests.pipeline(stack, routes: try RouteTable.parse(yaml: fixed))
            let again = try await MySQLOperationsTests.load(fixedPipeline, source)
            #expect(again.alreadyLoaded)
            #expect(try await stack.count("vendas") == 3)

            // Unload: without --yes it only counts; with it the rows go and the ledger row is marked.
            let (dryUnload, dryUnloadText) = try await Self.cli(
                ["unload", uri, "--route", "vendas"], stack, routesYAML: fixed)
            #expect(dryUnload == 1, "\(dryUnloadText)")
            #expect(dryUnloadText.contains("would delete 3 row(s)"), "\(dryUnloadText)")
            let (unload, unloadText) = try await Self.cli(
                ["unload", uri, "--route", "vendas", "--yes", "--json"], stack, routesYAML: fixed)
            #expect(unload == 0, "\(unloadText)")
            #expect(try LoadCommandTests.json(unloadText)["rows_removed"] as? Int == 3, "\(unloadText)")
            #expect(try await stack.count("vendas") == 0)
            #expect(try await Self.ledger(stack).last == ["2", "unloaded", "3", "0"])

            // A later delivery of that version stays unloaded; a reload brings it back.
            #expect(try await MySQLOperationsTests.load(fixedPipeline, source).alreadyLoaded)
            #expect(try await stack.count("vendas") == 0)
            let (back, backText) = try await Self.cli(
                ["reload", uri, "--route", "vendas", "--yes"], stack, routesYAML: fixed)
            #expect(back == 0, "\(backText)")
            #expect(try await stack.count("vendas") == 3)
            #expect(try await Self.ledger(stack).map { $0[1] } == ["superseded", "superseded", "loaded"])
        }
    }

    @Test("a reload racing normal deliveries of the same version never doubles the rows")
    func concurrentDelivery() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            let source = try await MySQLOperationsTests.put(stack, "lojas/data/vendas-2.csv", Self.csv)
            let routes = try RouteTable.parse(yaml: Self.routes(valorType: "decimal(12,2)"))
            let route = try #require(routes.routes.first)
            let pipeline = MySQLOperationsTests.pipeline(stack, routes: routes)
            _ = try await MySQLOperationsTests.load(pipeline, source)
            for round in 0..<3 {
                async let reload = pipeline.load(.object(source), route: route, fencingToken: 2, reload: true)
                async let delivery = pipeline.load(.object(source), route: route, fencingToken: 3)
                let (r, d) = try await (reload, delivery)
                #expect(!r.alreadyLoaded, "round \(round)")
                #expect(d.alreadyLoaded || d.rowsLoaded == 3, "round \(round)")
                #expect(try await stack.count("vendas") == 3, "round \(round)")
                let live = try await stack.sql("SELECT COUNT(*) FROM esteira_ledger WHERE state = 'loaded'")
                #expect(live.scalar == "1", "round \(round)")
            }
        }
    }

    @Test("without replace-by-file, reload and unload refuse and print the settings to add")
    func refusedWithoutSourceColumn() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            let plain = Self.routes(valorType: "decimal(12,2)", replaceByFile: false)
            for command in ["reload", "unload"] {
                let (status, text) = try await Self.cli(
                    [command, "s3://\(stack.bucket)/lojas/data/vendas-3.csv", "--route", "vendas", "--yes"], stack,
                    routesYAML: plain)
                #expect(status == 1, "\(text)")
                #expect(text.contains("route 'vendas' cannot reload or unload a file"), "\(text)")
                #expect(text.contains("load_mode: replace-by-file\n"), "\(text)")
                #expect(text.contains("source_column: esteira_ledger_id"), "\(text)")
                #expect(
                    text.contains("ALTER TABLE `vendas` ADD COLUMN `esteira_ledger_id` BIGINT UNSIGNED NULL"), "\(text)"
                )
            }
        }
    }
}
