import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import Foundation
import Testing

/// A partner's export gains or loses columns: `extra_columns: add` grows the table, a lost nullable column
/// loads as NULL, a lost NOT NULL one fails the file with the diff of the columns — on the real stack.
@Suite("Schema drift on the real stack")
struct SchemaDriftTests {
    static let addRoutes = """
        routes:
          - name: vendas
            tenant: lojas
            pattern: "vendas*.csv"
            table: vendas
            create_table: true
            extra_columns: add
        """

    static func columns(_ stack: TestStack, _ table: String) async throws -> [String] {
        try await stack.sql(
            """
            SELECT CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE) FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '\(table)' ORDER BY ORDINAL_POSITION
            """
        ).rows.map { $0.first.flatMap { $0 } ?? "" }
    }

    @Test(
        "extra_columns: add: a new column is added as nullable text and its rows load; two workers adding it at once both load"
    )
    func addsTheColumn() async throws {
        try await TestStack.with { stack in
            let pipeline = MySQLOperationsTests.pipeline(stack, routes: try RouteTable.parse(yaml: Self.addRoutes))
            let first = try await MySQLOperationsTests.put(stack, "lojas/data/vendas-1.csv", "pedido,cliente\n1,Ana\n")
            let one = try await MySQLOperationsTests.load(pipeline, first)
            #expect(one.rowsLoaded == 1 && one.columnsAdded.isEmpty)

            let second = try await MySQLOperationsTests.put(
                stack, "lojas/data/vendas-2.csv", "pedido,cliente,canal\n2,Bia,web\n")
            let two = try await MySQLOperationsTests.load(pipeline, second)
            #expect(two.rowsLoaded == 1)
            #expect(two.columnsAdded == ["canal"])
            #expect(
                try await Self.columns(stack, "vendas") == [
                    "pedido mediumtext YES", "cliente mediumtext YES", "canal mediumtext YES",
                ])
            #expect(
                try await stack.sql("SELECT pedido, canal FROM vendas ORDER BY pedido").rows == [
                    ["1", nil], ["2", "web"],
                ])

            // Two files bringing the same new column at once: one adds it, the other finds it there.
            let a = try await MySQLOperationsTests.put(stack, "lojas/data/vendas-3.csv", "pedido,desconto\n3,5\n")
            let b = try await MySQLOperationsTests.put(stack, "lojas/data/vendas-4.csv", "pedido,desconto\n4,6\n")
            async let x = MySQLOperationsTests.load(pipeline, a)
            async let y = MySQLOperationsTests.load(pipeline, b)
            let (rx, ry) = try await (x, y)
            #expect(rx.rowsLoaded == 1 && ry.rowsLoaded == 1)
            #expect(rx.columnsAdded.count + ry.columnsAdded.count == 1)
            #expect(try await stack.sql("SELECT COUNT(*) FROM vendas WHERE desconto IS NOT NULL").scalar == "2")
        }
    }

    @Test("extra_columns: add with a contract types the new column from it")
    func typedFromTheContract() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(
                "CREATE TABLE vendas (pedido BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB CHARACTER SET utf8mb4")
            let yaml =
                Self.addRoutes + """

                        contract:
                          key: [pedido]
                          columns:
                            - {name: pedido, type: bigint, required: true}
                            - {name: valor, type: "decimal(12,2)"}
                    """
            let pipeline = MySQLOperationsTests.pipeline(stack, routes: try RouteTable.parse(yaml: yaml))
            let file = try await MySQLOperationsTests.put(
                stack, "lojas/data/vendas-1.csv", "pedido,valor,extra\n1,10.5,x\n")
            let outcome = try await MySQLOperationsTests.load(pipeline, file)
            #expect(outcome.rowsLoaded == 1)
            #expect(outcome.columnsAdded == ["valor"])
            #expect(try await Self.columns(stack, "vendas") == ["pedido bigint(20) NO", "valor decimal(12,2) YES"])
            #expect(try await stack.sql("SELECT valor FROM vendas").scalar == "10.50")
        }
    }

    @Test("extra_columns: add without create_table is refused when the routes are read")
    func addNeedsCreateTable() {
        let problems = RoutesLinter.check(
            yaml: Self.addRoutes.replacingOccurrences(of: "    create_table: true\n", with: ""))
        #expect(problems.first?.message.contains("extra_columns: add needs create_table: true") == true, "\(problems)")
    }

    @Test("a column the file no longer has loads as NULL when nullable")
    func missingNullable() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql("CREATE TABLE vendas (pedido BIGINT NOT NULL, cliente TEXT NULL) ENGINE=InnoDB")
            let routes = try RouteTable(routes: [
                Route(name: "vendas", tenant: "lojas", pattern: "vendas*.csv", table: "vendas")
            ])
            let pipeline = MySQLOperationsTests.pipeline(stack, routes: routes)
            let file = try await MySQLOperationsTests.put(stack, "lojas/data/vendas-1.csv", "pedido\n7\n8\n")
            #expect(try await MySQLOperationsTests.load(pipeline, file).rowsLoaded == 2)
            #expect(
                try await stack.sql("SELECT pedido, cliente FROM vendas ORDER BY pedido").rows == [
                    ["7", nil], ["8", nil],
                ])
        }
    }

    @Test(
        "a NOT NULL column the file lacks, or a new column on a refuse route, dead-letters the file with the diff, also in jobs show"
    )
    func refusedWithTheDiff() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(
                "CREATE TABLE vendas (pedido BIGINT NOT NULL, cliente VARCHAR(60) NOT NULL, obs TEXT NULL) ENGINE=InnoDB"
            )
            let routes = try RouteTable(routes: [
                Route(name: "vendas", tenant: "lojas", pattern: "vendas*.csv", table: "vendas")
            ])
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "lojas/data/vendas-1.csv", body: Array("pedido,obs\n1,x\n".utf8))
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "lojas/data/vendas-2.csv",
                body: Array("Pedido,Cliente,Canal de Venda\n1,Ana,web\n".utf8))
            let summary = try await stack.drain(routes: routes)
            #expect(summary.failed == 2)
            var reasons: [String: String] = [:]
            for letter in try await stack.deadLetters() {
                #expect(letter.messageAttributes["esteira.error-code"] == "BadHeader")
                reasons[letter.messageAttributes["esteira.key"] ?? ""] =
                    letter.messageAttributes["esteira.error-message"] ?? ""
            }
            let missing = reasons["lojas/data/vendas-1.csv"] ?? ""
            #expect(
                missing.contains(
                    "the file has no column 'cliente', which table vendas has as NOT NULL without a default"),
                "\(missing)")
            #expect(
                missing.contains("columns compared with table vendas: missing (in the table, not the file) 'cliente'"),
                "\(missing)")
            let added = reasons["lojas/data/vendas-2.csv"] ?? ""
            #expect(added.contains("the file's column 'canal_de_venda' is not in table vendas"), "\(added)")
            #expect(
                added.contains(
                    "added (in the file, not the table) 'canal_de_venda'; missing (in the table, not the file) 'obs'; renamed by normalisation 'Pedido' → 'pedido', 'Cliente' → 'cliente', 'Canal de Venda' → 'canal_de_venda'"
                ), "\(added)")
            #expect(try await stack.count("vendas") == 0)

            let routesFile = try FileTableMismatchTests.writeRoutes(yaml: "routes: []\n")
            defer { try? FileManager.default.removeItem(atPath: routesFile) }
            let (status, text) = try await LoadCommandTests.run(
                ["jobs", "show", "s3://\(stack.bucket)/lojas/data/vendas-1.csv"], stack, routes: routesFile)
            #expect(status == 0, "\(text)")
            #expect(text.contains("which table vendas has as NOT NULL without a default"), "\(text)")
            #expect(text.contains("missing (in the table, not the file) 'cliente'"), "\(text)")
        }
    }
}
