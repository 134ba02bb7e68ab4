import EsteiraAWS
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Testing

/// The database budget across a fleet of real worker processes: a budget of 1 on one tenant's table.
@Suite("Database budget across worker processes", .serialized)
struct LoadBudgetFleetTests {
    @Test(
        "budget of 1 on acme's table: 3 workers load acme's 10 slow files one at a time, globex's files are not blocked, nothing is received twice"
    )
    func budgetOfOneAcrossFleet() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            _ = try await stack.sql(
                EndToEndTests.ordersTable.replacingOccurrences(of: "TABLE orders", with: "TABLE globex_orders"))
            let routes = NSTemporaryDirectory() + "esteira-budget-\(UInt32.random(in: 0...UInt32.max)).yaml"
            try """
            routes:
              - name: acme-orders
                tenant: acme
                pattern: "orders*.csv"
                table: orders
              - name: globex-orders
                tenant: globex
                pattern: "orders*.csv"
                table: globex_orders
            load_budget:
              tables:
                orders: 1
            """.write(toFile: routes, atomically: true, encoding: .utf8)
            let delayMs = 1500
            let acme = (0..<10).map { "acme/data/orders-\($0).csv" }
            let globex = (0..<3).map { "globex/data/orders-\($0).csv" }
            for (i, key) in acme.enumerated() {
                try await stack.s3.putObject(bucket: stack.bucket, key: key, body: ordersCSV(from: i * 10, count: 10))
            }
            // globex's files arrive after all of acme's, behind them in the queue.
            try await Task.sleep(for: .milliseconds(300))
            for (i, key) in globex.enumerated() {
                try await stack.s3.putObject(bucket: stack.bucket, key: key, body: ordersCSV(from: i * 10, count: 10))
            }
            let database = stack.mysql.database ?? ""
            let workers = try (0..<3).map { _ in
                try WorkerProcess(
                    ["worker", "--until-idle", "--concurrency", "2", "--max-waiting", "10", "--no-http"],
                    stack: stack, routes: routes, extraEnv: ["ESTEIRA_TEST_BATCH_DELAY_MS": "\(delayMs)"])
            }

            // Sample the budget item and both tables while the fleet works.
            let scope = BudgetScope.table("orders", database: database)
            let budget = DynamoLoadBudget(dynamo: stack.dynamo, table: stack.jobsTable)
            var most = 0
            var globexDone: Date?
            var acmeDone: Date?
            let deadline = Date().addingTimeInterval(240)
            while Date() < deadline, acmeDone == nil || globexDone == nil {
                most = max(most, (try? await budget.holders(scope))?.count ?? 0)
                if globexDone == nil, try await stack.count("globex_orders") == 30 { globexDone = Date() }
                if acmeDone == nil, try await stack.count("orders") == 100 { acmeDone = Date() }
                try await Task.sleep(for: .milliseconds(100))
            }
            for w in workers {
                let status = await w.wait(timeout: 120)
                #expect(status == 0, "worker exited with \(String(describing: status)):\n\(w.log.suffix(2000))")
            }
            let logs = workers.map(\.log).joined(separator: "\n")

            // Every file loaded, once.
            #expect(try await stack.count("orders") == 100)
            #expect(try await stack.count("globex_orders") == 30)
            #expect(try await stack.sql("SELECT COUNT(*) FROM esteira_ledger").scalar == "13")
            #expect(try await stack.deadLetters().isEmpty)

            // At most one acme load at a time: the budget item never had two holders, and acme's commits
            // (the ledger's loaded_at) are at least one slow batch apart.
            #expect(most == 1, "the budget item had at most \(most) holders")
            let times = try await stack.sql(
                "SELECT UNIX_TIMESTAMP(loaded_at) FROM esteira_ledger WHERE target_table = 'orders' ORDER BY loaded_at"
            ).rows.compactMap { $0.first.flatMap { $0 }.flatMap(Double.init) }
            #expect(times.count == 10)
            for (a, b) in zip(times, times.dropFirst()) {
                #expect(b - a >= Double(delayMs) / 1000 * 0.9, "two acme loads overlapped: \(times)")
            }
            #expect(logs.contains("waiting for the table budget \(database).orders (1 in progress, limit 1)"))

            // globex was not held behind acme's queue of waiting files.
            if let globexDone, let acmeDone {
                #expect(
                    acmeDone.timeIntervalSince(globexDone) > Double(delayMs) / 1000 * 3,
                    "globex finished at \(globexDone), only just before acme at \(acmeDone)")
            } else {
                Issue.record("the files did not all load in time:\n\(logs.suffix(3000))")
            }

            // No message was received twice: every job was claimed once (attempt 1, runs_started 1), no
            // worker met a file held by another or already loaded, and nothing was given back.
            let jobs = JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
            let items = try await stack.dynamo.scan(table: stack.jobsTable)
            let fileItems = items.filter { $0["pk"]?.string?.hasPrefix("s3://") == true }
            #expect(fileItems.count == 13)
            for item in fileItems {
                #expect(item["status"]?.string == "SUCCEEDED", "\(item)")
                #expect(item["attempt"]?.int == 1, "\(item["pk"]?.string ?? "?") claimed more than once")
                #expect(item["runs_started"]?.int == 1)
            }
            _ = jobs
            for phrase in ["held by another worker", "already loaded; acknowledging", "giving the message back"] {
                #expect(!logs.contains(phrase), "a worker logged '\(phrase)'")
            }
            // The budget is free again.
            #expect(try await budget.holders(scope) == [:])
        }
    }
}
