import EsteiraCSV
import Testing

@testable import EsteiraPipeline

@Suite("Routes")
struct RouteTableTests {
    static let yaml = """
        routes:
          - name: acme-orders
            tenant: acme
            pattern: "orders*.csv"
            table: acme_orders
          - name: globex-all
            tenant: globex
            pattern: "*"
            table: globex_files
        """

    @Test(
        "a key under a tenant's data/ prefix finds its route",
        arguments: [
            ("acme/data/orders-1.csv", "acme-orders"),
            ("acme/data/orders.csv.gz", "acme-orders"),
            ("globex/data/anything.txt", "globex-all"),
        ])
    func matches(key: String, route: String) throws {
        let table = try RouteTable.parse(yaml: Self.yaml)
        #expect(try table.route(forKey: key).name == route)
    }

    @Test(
        "keys without a route say what to do",
        arguments: [
            ("acme/data/invoices.csv", "no route for 'invoices.csv' of tenant 'acme'"),
            ("acme/orders.csv", "not under <tenant>/data/<file>"),
            ("acme/data/orders.xlsx", "extension that is not accepted"),
            ("initech/data/orders.csv", "no route"),
            ("acme/data/sub/orders.csv", "no route"),
        ])
    func refused(key: String, message: String) throws {
        let table = try RouteTable.parse(yaml: Self.yaml)
        #expect {
            _ = try table.route(forKey: key)
        } throws: { error in
            (error as? RoutingError)?.description.contains(message) == true
        }
    }

    @Test("a tenant's file can never reach another tenant's route")
    func tenantIsolation() throws {
        // globex's route takes every file name; acme's keys still never reach it.
        let table = try RouteTable.parse(yaml: Self.yaml)
        for key in ["acme/data/x.csv", "globex/../acme/data/orders.csv", "acme/data/../../globex/data/x.csv"] {
            let route = try? table.route(forKey: key)
            #expect(route?.tenant != "globex" || key.hasPrefix("globex/data/"), "\(key) → \(String(describing: route))")
        }
        #expect(try table.route(forKey: "acme/data/orders.csv").table == "acme_orders")
    }

    @Test(
        "bad routes files are refused with a reason",
        arguments: [
            ("routes:\n  - name: a\n    tenant: acme\n    table: \"x; DROP TABLE y\"\n", "table"),
            ("routes:\n  - name: a\n    tenant: \"../etc\"\n    table: t\n", "tenant"),
            (
                "routes:\n  - name: a\n    tenant: t\n    table: t\n  - name: a\n    tenant: u\n    table: u\n",
                "used twice"
            ),
            ("routes: 5\n", "not a valid routes file"),
            (
                "routes:\n  - name: a\n    tenant: acme\n    table: orders\n  - name: b\n    tenant: globex\n    table: Orders\n",
                "already belongs to tenant 'acme'"
            ),
            ("routes:\n  - tenant: t\n    table: t\n", "not a valid routes file"),
        ])
    func badFiles(yaml: String, message: String) {
        #expect {
            _ = try RouteTable.parse(yaml: yaml)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test(
        "globs: * stays within one path segment",
        arguments: [
            ("orders*.csv", "orders-1.csv", true),
            ("orders*.csv", "orders.csv", true),
            ("orders*.csv", "orders/x.csv", false),
            ("o?ders.csv", "orders.csv", true),
            ("*.csv", "a.csv.gz", false),
            ("*", "", true),
            ("a*b*c", "a-x-b-y-c", true),
        ])
    func glob(pattern: String, text: String, expected: Bool) {
        #expect(Glob.matches(pattern, text) == expected)
    }
}

@Suite("Header normalisation")
struct HeaderNormalizerTests {
    @Test("names become lower snake case")
    func normalises() throws {
        #expect(
            try HeaderNormalizer.normalize([" Order ID", "customer-name", "AMOUNT"]) == [
                "order_id", "customer_name", "amount",
            ])
    }

    @Test(
        "a header can never carry SQL: only a-z, 0-9 and _ survive, at most 64 bytes, never empty",
        arguments: [
            ["id", "x`; DROP TABLE t; --"],
            ["id", ""],
            ["id", "ID"],
            ["id", String(repeating: "a", count: 65)],
        ])
    func safe(header: [String]) throws {
        let names = try HeaderNormalizer.normalize(header)
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(!name.isEmpty && name.utf8.count <= 64)
            #expect(
                name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F },
                "\(name)")
        }
    }
}
