import Testing

@testable import EsteiraPipeline

@Suite("Routes file load_budget")
struct LoadBudgetConfigTests {
    static func yaml(_ budget: String) -> String {
        """
        routes:
          - name: acme-orders
            tenant: acme
            table: acme_orders
          - name: globex-customers
            tenant: globex
            table: globex_customers
        \(budget)
        """
    }

    @Test("the section is read: per database, per table, and overrides by table")
    func parsed() throws {
        let table = try RouteTable.parse(
            yaml: Self.yaml(
                """
                load_budget:
                  per_database: 8
                  per_table: 2
                  tables:
                    acme_orders: 1
                """))
        let budget = try #require(table.loadBudget)
        #expect(budget.perDatabase == 8)
        #expect(budget.limit(table: "acme_orders") == 1)
        #expect(budget.limit(table: "ACME_ORDERS") == 1)
        #expect(budget.limit(table: "globex_customers") == 2)
        #expect(budget.description == "per_database=8 per_table=2 acme_orders=1")
    }

    @Test("without the section, or without a key, there is no cap at that level")
    func absent() throws {
        #expect(try RouteTable.parse(yaml: Self.yaml("")).loadBudget == nil)
        let only = try #require(
            try RouteTable.parse(yaml: Self.yaml("load_budget:\n  tables:\n    acme_orders: 1")).loadBudget)
        #expect(only.perDatabase == nil)
        #expect(only.limit(table: "globex_customers") == nil)
        #expect(only.limit(table: "acme_orders") == 1)
    }

    @Test(
        "bad sections fail at start-up and say what is wrong",
        arguments: [
            ("load_budget:\n  per_database: 0", "per_database is 0; it must be 1…1000"),
            ("load_budget:\n  per_table: -2", "per_table is -2"),
            ("load_budget:\n  per_table: 5000", "must be 1…1000"),
            ("load_budget:\n  tables:\n    acme_orders: 0", "tables.acme_orders is 0"),
            ("load_budget:\n  tables:\n    acme_ordres: 1", "tables names 'acme_ordres', which no route loads into"),
            ("load_budget:\n  per_tabel: 1", "unknown key 'per_tabel'"),
            ("load_budget:\n  per_table: two", "not a valid routes file"),
        ])
    func refused(budget: String, message: String) {
        #expect {
            _ = try RouteTable.parse(yaml: Self.yaml(budget))
        } throws: { error in
            let text = (error as? RoutingError)?.description ?? "\(error)"
            if !text.contains(message) { Issue.record("\(text) does not say \(message)") }
            return text.contains(message)
        }
    }
}

@Suite("routes check: load_budget")
struct LoadBudgetLinterTests {
    @Test("load_budget is checked once against every route's table, with its line")
    func linted() {
        let good = LoadBudgetConfigTests.yaml("load_budget:\n  per_table: 2\n  tables:\n    globex_customers: 1")
        #expect(RoutesLinter.check(yaml: good).isEmpty, "\(RoutesLinter.check(yaml: good))")
        let bad = LoadBudgetConfigTests.yaml("load_budget:\n  tables:\n    initech_orders: 1")
        let problems = RoutesLinter.check(yaml: bad)
        #expect(problems.count == 1, "\(problems)")
        #expect([8, 9].contains(problems.first?.line ?? 0), "\(problems)")
        #expect(problems.first?.message.contains("'initech_orders', which no route loads into") == true)
    }
}
