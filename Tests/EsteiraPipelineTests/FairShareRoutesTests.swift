import Testing

@testable import EsteiraPipeline

@Suite("routes file: fair_share section")
struct FairShareRoutesTests {
    static let routes = """
        routes:
          - name: a
            tenant: acme
            table: acme_orders
          - name: g
            tenant: globex
            table: globex_orders
        """

    @Test("absent section: the shared queue, every tenant weight 1")
    func absent() throws {
        let t = try RouteTable.parse(yaml: Self.routes)
        #expect(t.fairShare == FairShare(queues: .shared, weights: [:]))
        #expect(t.tenants == ["acme", "globex"])
        #expect(t.fairShare.weight(of: "globex") == 1)
    }

    @Test("per_tenant with weights")
    func perTenant() throws {
        let t = try RouteTable.parse(
            yaml: Self.routes + """

                fair_share:
                  queues: per_tenant
                  weights:
                    acme: 3
                """)
        #expect(t.fairShare.queues == .perTenant)
        #expect(t.fairShare.weight(of: "acme") == 3)
        #expect(t.fairShare.weight(of: "globex") == 1)
    }

    @Test(
        "bad sections fail at start-up with what is wrong",
        arguments: [
            ("fair_share:\n  queues: per_tenat\n", "per_tenant or shared"),
            ("fair_share:\n  queue: per_tenant\n", "unknown key 'queue'"),
            ("fair_share:\n  weights:\n    acme: 0\n", "from 1 to 100"),
            ("fair_share:\n  weights:\n    acme: 101\n", "from 1 to 100"),
            ("fair_share:\n  weights:\n    acme: lots\n", "whole number"),
            ("fair_share:\n  weights:\n    initech: 2\n", "'initech', which has no route"),
        ])
    func bad(section: String, message: String) {
        #expect {
            try RouteTable.parse(yaml: Self.routes + "\n" + section)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("routes check reports a bad fair_share section on its line, and accepts weights of any route's tenant")
    func linter() {
        let good = RoutesLinter.check(
            yaml: Self.routes + "\nfair_share:\n  queues: per_tenant\n  weights:\n    globex: 2\n")
        #expect(good.isEmpty, "\(good)")
        let bad = RoutesLinter.check(yaml: Self.routes + "\nfair_share:\n  weights:\n    initech: 2\n")
        #expect(bad.count == 1, "\(bad)")
        #expect(bad.first?.message.contains("initech") == true)
        #expect(bad.first?.line == 9)
    }

    @Test("tenant queue names follow SQS's rule")
    func queueNames() throws {
        #expect(try FairShare.queueName(main: "esteira-files", tenant: "acme") == "esteira-files-acme")
        #expect(throws: RoutingError.self) {
            try FairShare.queueName(main: String(repeating: "q", count: 70), tenant: "abcdefghijk")
        }
    }
}
