import EsteiraAWS
import EsteiraTestSupport
import EsteiraWorker
import Foundation
import Testing

/// The database budget's semaphore (`DynamoLoadBudget`) on moto's DynamoDB, with signature checks.
@Suite("Database budget on DynamoDB")
struct LoadBudgetTests {
    static let scope = BudgetScope.table("acme_orders", database: "esteira")

    @Test("concurrent acquirers never hold more units than the limit; released units are taken again")
    func limitUnderContention() async throws {
        try await TestStack.with { stack in
            let budget = DynamoLoadBudget(dynamo: stack.dynamo, table: stack.jobsTable)
            let limit = 3
            let results = try await withThrowingTaskGroup(of: (String, BudgetAcquire).self) { group in
                for i in 0..<12 {
                    group.addTask {
                        let holder = "w\(i)#job#1"
                        return (
                            holder,
                            try await budget.acquire(
                                Self.scope, holder: holder, limit: limit, lease: .seconds(60), now: Date())
                        )
                    }
                }
                var all: [(String, BudgetAcquire)] = []
                for try await r in group { all.append(r) }
                return all
            }
            let winners = results.filter { $0.1 == .acquired }.map(\.0)
            #expect(winners.count == limit)
            #expect(Set(try #require(try await budget.holders(Self.scope)).keys) == Set(winners))
            for (_, r) in results where r != .acquired { #expect(r == .full(holders: limit, limit: limit)) }

            // A retry by a holder (its first answer lost) is recognised, not refused.
            #expect(
                try await budget.acquire(Self.scope, holder: winners[0], limit: limit, lease: .seconds(60), now: Date())
                    == .acquired)
            try await budget.release(Self.scope, holder: winners[0])
            try await budget.release(Self.scope, holder: winners[0])  // idempotent
            #expect(try await budget.holders(Self.scope)?.count == limit - 1)
            #expect(
                try await budget.acquire(Self.scope, holder: "late#1", limit: limit, lease: .seconds(60), now: Date())
                    == .acquired)
            #expect(
                try await budget.acquire(Self.scope, holder: "later#1", limit: limit, lease: .seconds(60), now: Date())
                    == .full(holders: limit, limit: limit))
        }
    }

    @Test("a holder whose lease ran out is purged when the budget is full; its renewal then fails")
    func expiredHolderPurged() async throws {
        try await TestStack.with { stack in
            let budget = DynamoLoadBudget(dynamo: stack.dynamo, table: stack.jobsTable)
            let past = Date().addingTimeInterval(-600)
            // A worker that died 10 minutes ago with a 60 s lease.
            #expect(
                try await budget.acquire(Self.scope, holder: "dead#1", limit: 1, lease: .seconds(60), now: past)
                    == .acquired)
            #expect(
                try await budget.acquire(Self.scope, holder: "live#1", limit: 1, lease: .seconds(60), now: Date())
                    == .acquired)
            #expect(Set(try #require(try await budget.holders(Self.scope)).keys) == ["live#1"])
            await #expect(throws: BudgetLost.self) {
                try await budget.renew(Self.scope, holder: "dead#1", lease: .seconds(60), now: Date())
            }
            // A live holder is never purged.
            #expect(
                try await budget.acquire(Self.scope, holder: "other#1", limit: 1, lease: .seconds(60), now: Date())
                    == .full(holders: 1, limit: 1))
            try await budget.renew(Self.scope, holder: "live#1", lease: .seconds(60), now: Date())
            try await budget.release(Self.scope, holder: "live#1")
            #expect(try await budget.holders(Self.scope) == [:])
        }
    }

    @Test("budget items live in the jobs table under budget#table#<db>.<table> and budget#database#<db>")
    func itemKeys() async throws {
        try await TestStack.with { stack in
            let budget = DynamoLoadBudget(dynamo: stack.dynamo, table: stack.jobsTable)
            _ = try await budget.acquire(
                .database("esteira"), holder: "h#1", limit: 2, lease: .seconds(60), now: Date())
            _ = try await budget.acquire(Self.scope, holder: "h#1", limit: 2, lease: .seconds(60), now: Date())
            for key in ["budget#database#esteira", "budget#table#esteira.acme_orders"] {
                let item = try await stack.dynamo.getItem(table: stack.jobsTable, key: ["pk": .s(key)])
                guard case .m(let holders)? = item?["holders"] else {
                    Issue.record("no holders map in \(key)")
                    continue
                }
                #expect(Array(holders.keys) == ["h#1"])
            }
        }
    }

    @Test("an acquire whose answer was lost is recognised as ours on the retry")
    func acquireAnswerLost() async throws {
        try await TestStack.with { stack in
            let moto = try motoPort()
            let dropped = LockedFlag()
            let direct = DynamoLoadBudget(dynamo: stack.dynamo, table: stack.jobsTable)
            // The item exists with one unit left.
            #expect(
                try await direct.acquire(Self.scope, holder: "first#1", limit: 2, lease: .seconds(60), now: Date())
                    == .acquired)
            let proxy = try LoopbackHTTPServer { r in
                if r.header("x-amz-target") == "DynamoDB_20120810.UpdateItem", dropped.setOnce() {
                    return .forward(port: moto, cutAfter: 0)
                }
                return .forward(port: moto)
            }
            defer { proxy.stop() }
            let budget = DynamoLoadBudget(
                dynamo: DynamoDBClient(client: try client(through: proxy)), table: stack.jobsTable)
            #expect(
                try await budget.acquire(Self.scope, holder: "second#1", limit: 2, lease: .seconds(60), now: Date())
                    == .acquired)
            #expect(
                proxy.requests.filter { $0.header("x-amz-target") == "DynamoDB_20120810.UpdateItem" }.count >= 2,
                "the first answer was dropped and the acquire retried")
            #expect(Set(try #require(try await direct.holders(Self.scope)).keys) == ["first#1", "second#1"])
        }
    }
}
