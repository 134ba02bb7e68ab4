import EsteiraAWS
import Foundation

/// One counter of the database budget: the loads in progress into a MySQL database, or into one table.
public struct BudgetScope: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable { case database, table }
    public var kind: Kind
    /// The database name, or `<database>.<table>`.
    public var name: String

    public static func database(_ database: String) -> BudgetScope { BudgetScope(kind: .database, name: database) }
    public static func table(_ table: String, database: String) -> BudgetScope {
        BudgetScope(kind: .table, name: "\(database).\(table)")
    }

    /// The item's partition key in the jobs table: `budget#database#<db>` or `budget#table#<db>.<table>`.
    public var itemKey: String { "budget#\(kind.rawValue)#\(name)" }

    public var description: String { "\(kind.rawValue) budget \(name)" }
}

/// What an attempt to take a unit of a budget found.
public enum BudgetAcquire: Sendable, Equatable {
    /// The unit is ours until the lease runs out (renewed by the heartbeat).
    case acquired
    /// Every unit is held by a live holder: `holders` in progress against `limit`.
    case full(holders: Int, limit: Int)
}

/// A fleet-wide counting semaphore with leases: at most `limit` holders at once per scope. A holder that
/// dies without releasing is purged once its lease has run out, so a crashed worker frees its unit.
///
/// `DynamoLoadBudget` is the real one (items in the jobs table); tests use an in-memory one
/// (EsteiraWorkerTestSupport). Every call is idempotent for one `holder`, so a retry after a lost answer
/// recognises its own entry.
public protocol LoadBudget: Sendable {
    /// Takes a unit for `holder` if fewer than `limit` live holders have one (or `holder` already does).
    func acquire(_ scope: BudgetScope, holder: String, limit: Int, lease: Duration, now: Date) async throws
        -> BudgetAcquire
    /// Extends `holder`'s lease; throws `BudgetLost` when its entry is gone (purged after it expired).
    func renew(_ scope: BudgetScope, holder: String, lease: Duration, now: Date) async throws
    /// Gives the unit back; nothing happens when `holder` holds none.
    func release(_ scope: BudgetScope, holder: String) async throws
}

/// Our unit of a budget was purged (the lease ran out, e.g. a heartbeat that could not reach DynamoDB):
/// the load must not commit, since another file may now hold the unit.
public struct BudgetLost: Error, CustomStringConvertible, Sendable {
    public var scope: BudgetScope
    public init(scope: BudgetScope) { self.scope = scope }
    public var description: String { "our unit of the \(scope) was purged after its lease ran out" }
}

/// The budget as items of the jobs table (no new table): `pk = budget#table#<db>.<table>` with a map
/// `holders` of holder ID → lease expiry (epoch seconds). Taking a unit is one conditional write:
/// `SET holders.#me = :exp` if `size(holders) < :limit` or `#me` is already there (a retry whose answer was
/// lost). A full item with expired holders is purged by a conditional REMOVE of exactly those entries at
/// their recorded expiry (a holder that renewed meanwhile is kept), then tried again once.
public struct DynamoLoadBudget: LoadBudget {
    public let dynamo: DynamoDBClient
    public let table: String

    public init(dynamo: DynamoDBClient, table: String) {
        self.dynamo = dynamo
        self.table = table
    }

    private func key(_ scope: BudgetScope) -> DynamoItem { [JobLedger.partitionKey: .s(scope.itemKey)] }

    public func acquire(_ scope: BudgetScope, holder: String, limit: Int, lease: Duration, now: Date) async throws
        -> BudgetAcquire
    {
        let nowS = Int64(now.timeIntervalSince1970)
        let expiry = DynamoValue.number(nowS + Int64(WholeSeconds.of(lease)))
        for _ in 0..<3 {
            do {
                try await dynamo.updateItem(
                    table: table, key: key(scope),
                    update: DynamoExpression(
                        "SET holders.#me = :exp", names: ["#me": holder], values: [":exp": expiry]),
                    condition: DynamoExpression(
                        "attribute_exists(holders) AND (size(holders) < :limit OR attribute_exists(holders.#me))",
                        names: ["#me": holder], values: [":limit": .number(limit)]))
                return .acquired
            } catch is ConditionalCheckFailed {}
            let holders = try await self.holders(scope)
            guard let holders else {
                // First use of this budget: create the map with us in it. A lost answer's retry fails the
                // condition and the next round finds our entry.
                do {
                    try await dynamo.updateItem(
                        table: table, key: key(scope),
                        update: DynamoExpression(
                            "SET holders = :m, budget_scope = :scope",
                            values: [":m": .m([holder: expiry]), ":scope": .s(scope.description)]),
                        condition: DynamoExpression("attribute_not_exists(holders)"))
                    return .acquired
                } catch is ConditionalCheckFailed {
                    continue
                }
            }
            if holders[holder] != nil { return .acquired }
            let expired = holders.filter { $0.value < nowS }
            guard holders.count >= limit else { continue }  // a unit freed between the write and the read
            guard !expired.isEmpty, holders.count - expired.count < limit else {
                return .full(holders: holders.count, limit: limit)
            }
            try await purge(scope, expired: expired)
        }
        let count = (try? await holders(scope))?.count ?? limit
        return .full(holders: count, limit: limit)
    }

    /// Removes the holders whose leases ran out, each only if it still has the expiry we read (did not renew).
    func purge(_ scope: BudgetScope, expired: [String: Int64]) async throws {
        var names: [String: String] = [:]
        var values: [String: DynamoValue] = [:]
        var removes: [String] = []
        var conditions: [String] = []
        for (i, (holder, at)) in expired.sorted(by: { $0.key < $1.key }).prefix(50).enumerated() {
            names["#h\(i)"] = holder
            values[":e\(i)"] = .number(at)
            removes.append("holders.#h\(i)")
            conditions.append("holders.#h\(i) = :e\(i)")
        }
        do {
            try await dynamo.updateItem(
                table: table, key: key(scope),
                update: DynamoExpression("REMOVE " + removes.joined(separator: ", "), names: names),
                condition: DynamoExpression(conditions.joined(separator: " AND "), names: names, values: values))
        } catch is ConditionalCheckFailed {
            // Another worker purged them first, or one renewed: the next round reads again.
        }
    }

    public func renew(_ scope: BudgetScope, holder: String, lease: Duration, now: Date) async throws {
        let nowS = Int64(now.timeIntervalSince1970)
        do {
            try await dynamo.updateItem(
                table: table, key: key(scope),
                update: DynamoExpression(
                    "SET holders.#me = :exp", names: ["#me": holder],
                    values: [":exp": .number(nowS + Int64(WholeSeconds.of(lease)))]),
                condition: DynamoExpression("attribute_exists(holders.#me)", names: ["#me": holder]))
        } catch is ConditionalCheckFailed {
            throw BudgetLost(scope: scope)
        }
    }

    public func release(_ scope: BudgetScope, holder: String) async throws {
        do {
            try await dynamo.updateItem(
                table: table, key: key(scope),
                update: DynamoExpression("REMOVE holders.#me", names: ["#me": holder]),
                condition: DynamoExpression("attribute_exists(holders.#me)", names: ["#me": holder]))
        } catch is ConditionalCheckFailed {
            // Not ours any more (purged, or a retry of a release that was applied): nothing to give back.
        }
    }

    /// The holders and their lease expiries (a consistent read); nil when the budget item has no map yet.
    public func holders(_ scope: BudgetScope) async throws -> [String: Int64]? {
        guard let item = try await dynamo.getItem(table: table, key: key(scope)), case .m(let map)? = item["holders"]
        else { return nil }
        var holders: [String: Int64] = [:]
        for (k, v) in map { holders[k] = v.int.map(Int64.init) ?? 0 }
        return holders
    }
}
