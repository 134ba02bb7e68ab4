import Testing

@testable import EsteiraPipeline

@Suite("routes check")
struct RoutesLinterTests {
    @Test("a good file has no problems")
    func good() {
        #expect(RoutesLinter.check(yaml: RouteTableTests.yaml).isEmpty)
    }

    @Test("a misspelt top-level section is named once, with its line; the worker refuses it too")
    func unknownTopLevelKey() {
        let yaml = """
            routes:
              - name: a
                tenant: acme
                table: acme_orders
              - name: b
                tenant: globex
                table: globex_orders
            load_budjet:
              per_table: 1
            """
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.map(\.line) == [8], "\(problems)")
        #expect(problems.first?.message.contains("unknown top-level key 'load_budjet'") == true)
        #expect(throws: RoutingError.self) { try RouteTable.parse(yaml: yaml) }
        #expect(RoutesLinter.check(yaml: yaml.replacingOccurrences(of: "load_budjet", with: "load_budget")).isEmpty)
    }

    /// A misspelt key inside a route used to be ignored in silence: `requried: true` loaded the rows with
    /// no value, `reject_treshold` never failed a file, `delimeter` left the sniffer to guess.
    @Test(
        "a misspelt key in a route, its contract, a column, dialect, dedupe or notify is refused, named with its route",
        arguments: [
            ("    reject_treshold: 0.05\n", "route 'a': unknown key 'reject_treshold'"),
            ("    dialect: {delimeter: \";\"}\n", "route 'a': dialect: unknown key 'delimeter'"),
            ("    notify: {sns_topik: arn:aws:sns:us-east-1:1:t}\n", "route 'a': notify: unknown key 'sns_topik'"),
            (
                "    contract:\n      columns: [{name: id, type: int, requried: true}]\n",
                "route 'a': contract column 'id': unknown key 'requried'"
            ),
            (
                "    contract:\n      columns: [{name: id, type: int}]\n      null_token: [NA]\n",
                "route 'a': contract: unknown key 'null_token'"
            ),
            (
                "    contract:\n      columns: [{name: id, type: int}]\n      dedupe: {max_mem: 1MiB}\n",
                "route 'a': contract dedupe: unknown key 'max_mem'"
            ),
        ])
    func unknownRouteKey(extra: String, message: String) {
        let yaml = "routes:\n  - name: a\n    tenant: acme\n    table: acme_orders\n" + extra
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.line == 2)
        #expect(problems.first?.message.contains(message) == true, "\(problems)")
        #expect(problems.first?.message.contains("the keys are") == true, "\(problems)")
        #expect(throws: RoutingError.self) { try RouteTable.parse(yaml: yaml) }
    }

    @Test("every problem names its line")
    func lines() {
        let yaml = """
            routes:
              - name: ok
                tenant: acme
                table: acme_orders
              - name: bad-table
                tenant: acme
                table: "x; DROP TABLE y"
              - name: ok
                tenant: globex
                table: g
              - tenant: initech
                table: t
            """
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.map(\.line) == [5, 8, 11], "\(problems)")
        #expect(problems[0].message.contains("table"))
        #expect(problems[1].message.contains("used twice (first on line 2)"))
        #expect(problems[2].message.contains("name"))
    }

    @Test("extra_columns takes refuse, ignore or add, and says so otherwise")
    func extraColumns() {
        let good = "routes:\n  - name: a\n    tenant: acme\n    table: t\n    extra_columns: ignore\n"
        #expect(RoutesLinter.check(yaml: good).isEmpty)
        let bad = "routes:\n  - name: a\n    tenant: acme\n    table: t\n    extra_columns: maybe\n"
        let problems = RoutesLinter.check(yaml: bad)
        #expect(problems.map(\.line) == [2])
        #expect(
            problems.first?.message.contains("extra_columns must be refuse, ignore or add, not 'maybe'") == true,
            "\(problems)")
        let add =
            "routes:\n  - name: a\n    tenant: acme\n    table: t\n    create_table: true\n    extra_columns: add\n"
        #expect(RoutesLinter.check(yaml: add).isEmpty)
    }

    @Test("a table shared by two tenants is pointed at")
    func sharedTable() {
        let yaml =
            "routes:\n  - name: a\n    tenant: acme\n    table: t\n  - name: b\n    tenant: globex\n    table: t\n"
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.map(\.line) == [5])
        #expect(problems.first?.message.contains("already belongs to tenant 'acme'") == true)
    }

    @Test(
        "broken YAML and wrong shapes point at a line",
        arguments: [
            ("routes:\n  - name: a\n   tenant: [x\n", 3),
            ("hello: world\n", 1),
            ("routes: 5\n", 1),
            ("routes: []\n", 1),
        ])
    func shapes(yaml: String, line: Int) {
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.first?.line == line, "\(problems)")
    }
}
