import EsteiraWorker
import Foundation
import Synchronization

/// The database budget in memory, with the same rules as `DynamoLoadBudget`: at most `limit` holders per
/// scope, a holder already in recognised (a retried acquire), expired holders purged when the budget is
/// full, renew failing with `BudgetLost` once the entry is gone. Records the most holders ever seen at
/// once per scope, and every call.
public final class InMemoryLoadBudget: LoadBudget {
    public enum Event: Sendable, Equatable {
        case acquired(BudgetScope, holder: String)
        case full(BudgetScope, holder: String)
        case renewed(BudgetScope, holder: String)
        case released(BudgetScope, holder: String)
    }

    struct State {
        var holders: [BudgetScope: [String: Date]] = [:]
        var most: [BudgetScope: Int] = [:]
        var events: [Event] = []
        var failAcquires = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Leases in whole seconds, rounded up, as `DynamoLoadBudget` stores them.
    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(max(0, atto > 0 ? s + 1 : s))
    }

    public func acquire(_ scope: BudgetScope, holder: String, limit: Int, lease: Duration, now: Date) async throws
        -> BudgetAcquire
    {
        try state.withLock { s in
            if s.failAcquires > 0 {
                s.failAcquires -= 1
                throw URLError(.timedOut)
            }
            var holders = s.holders[scope] ?? [:]
            let expiry = now.addingTimeInterval(Self.seconds(lease))
            if holders[holder] == nil, holders.count >= limit {
                holders = holders.filter { $0.value >= now }
            }
            guard holders[holder] != nil || holders.count < limit else {
                s.holders[scope] = holders
                s.events.append(.full(scope, holder: holder))
                return .full(holders: holders.count, limit: limit)
            }
            holders[holder] = expiry
            s.holders[scope] = holders
            s.most[scope] = max(s.most[scope] ?? 0, holders.count)
            s.events.append(.acquired(scope, holder: holder))
            return .acquired
        }
    }

    public func renew(_ scope: BudgetScope, holder: String, lease: Duration, now: Date) async throws {
        try state.withLock { s in
            guard s.holders[scope]?[holder] != nil else { throw BudgetLost(scope: scope) }
            s.holders[scope]?[holder] = now.addingTimeInterval(Self.seconds(lease))
            s.events.append(.renewed(scope, holder: holder))
        }
    }

    public func release(_ scope: BudgetScope, holder: String) async throws {
        state.withLock { s in
            guard s.holders[scope]?[holder] != nil else { return }
            s.holders[scope]?[holder] = nil
            s.events.append(.released(scope, holder: holder))
        }
    }

    /// Holders of `scope` now.
    public func holders(_ scope: BudgetScope) -> [String] { state.withLock { Array(($0.holders[scope] ?? [:]).keys) } }
    /// The most holders `scope` ever had at once.
    public func most(_ scope: BudgetScope) -> Int { state.withLock { $0.most[scope] ?? 0 } }
    public var events: [Event] { state.withLock { $0.events } }

    /// Takes a unit for a holder outside the worker (another pod), e.g. to fill a budget.
    public func occupy(_ scope: BudgetScope, holder: String, until: Date) {
        state.withLock { s in
            s.holders[scope, default: [:]][holder] = until
            s.most[scope] = max(s.most[scope] ?? 0, s.holders[scope]?.count ?? 0)
        }
    }

    /// Removes a holder, as a purge by another pod would (its renewals then fail with `BudgetLost`).
    public func evict(_ scope: BudgetScope, holder: String) {
        state.withLock { _ = $0.holders[scope]?.removeValue(forKey: holder) }
    }

    /// Removes every holder of `scope` (all their renewals then fail with `BudgetLost`).
    public func evictAll(_ scope: BudgetScope) {
        state.withLock { $0.holders[scope] = [:] }
    }

    /// The next `n` acquires fail as if DynamoDB could not be reached.
    public func failNextAcquires(_ n: Int) { state.withLock { $0.failAcquires = n } }
}
