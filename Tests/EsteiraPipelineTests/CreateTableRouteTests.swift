import EsteiraMySQL
import Testing

@testable import EsteiraPipeline

@Suite("create_table on a route")
struct CreateTableRouteTests {
    static let yaml = """
        routes:
          - name: vendas
            tenant: lojas
            table: vendas
            create_table: true
            load_mode: replace-by-file
            source_column: loaded_by
            contract:
              key: [pedido]
              columns:
                - {name: pedido, type: bigint, required: true}
                - {name: cliente, type: "varchar(60)", required: true}
                - {name: valor, type: "decimal(12,2)"}
                - {name: quando, type: datetime}
                - {name: status, type: enum, values: [novo, cancelado]}
                - {name: obs, type: text}
        """

    @Test("the contract becomes the table: types, nullability, key and the source column")
    func schemaFromContract() throws {
        let route = try #require(try RouteTable.parse(yaml: Self.yaml).routes.first)
        #expect(route.createTable == true)
        let schema = try #require(try route.managedTableSchema(fileColumns: ["ignored"]))
        #expect(schema.name == "vendas")
        #expect(
            schema.columns.map { "\($0.name) \($0.type.sql)\($0.nullable ? "" : " NOT NULL")" } == [
                "pedido BIGINT NOT NULL", "cliente VARCHAR(60) NOT NULL", "valor DECIMAL(12,2)", "quando DATETIME(6)",
                "status VARCHAR(9)", "obs MEDIUMTEXT", "loaded_by BIGINT UNSIGNED",
            ])
        #expect(schema.primaryKey == ["pedido"])
        #expect(schema.indexes == [["loaded_by"]])
    }

    @Test("without a contract, every header column is nullable text; without create_table, nothing")
    func schemaWithoutContract() throws {
        let route = Route(name: "r", tenant: "t", table: "raw", createTable: true)
        let schema = try #require(try route.managedTableSchema(fileColumns: ["a", "b"]))
        #expect(schema.columns == [.init("a", .text, nullable: true), .init("b", .text, nullable: true)])
        #expect(schema.primaryKey.isEmpty && schema.uniqueKeys.isEmpty)
        #expect(try Route(name: "r", tenant: "t", table: "raw").managedTableSchema(fileColumns: ["a"]) == nil)
    }

    @Test("a nullable key column makes a unique key, not a primary key")
    func nullableKey() throws {
        let yaml = Self.yaml.replacingOccurrences(
            of: "{name: pedido, type: bigint, required: true}", with: "{name: pedido, type: bigint}")
        let route = try #require(try RouteTable.parse(yaml: yaml).routes.first)
        let schema = try #require(try route.managedTableSchema(fileColumns: []))
        #expect(schema.primaryKey.isEmpty)
        #expect(schema.uniqueKeys == [["pedido"]])
    }

    @Test(
        "routes check points at the route of every create_table mistake",
        arguments: [
            ("create_table: sometimes", "create_table"),
            ("create_table: true\n    load_mode: upsert", "needs a unique key"),
            (
                "create_table: true\n    load_mode: replace-by-file\n    source_column: a\n    contract:\n      columns: [{name: a, type: int}]",
                "also a column of the file"
            ),
            (
                "create_table: true\n    contract:\n      key: [a]\n      columns: [{name: a, type: text, required: true}]",
                "text without a length"
            ),
            (
                "create_table: true\n    contract:\n      key: [a, b]\n      columns: [{name: a, type: \"varchar(500)\"}, {name: b, type: \"varchar(500)\"}]",
                "longer than MySQL can index"
            ),
        ])
    func linter(settings: String, message: String) {
        let yaml = """
            routes:
              - name: fine
                tenant: acme
                table: acme_fine
                create_table: true
              - name: broken
                tenant: acme
                table: acme_broken
                \(settings)
            """
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.map(\.line) == [6], "\(problems)")
        #expect(problems.first?.message.contains(message) == true, "\(problems)")
    }
}
