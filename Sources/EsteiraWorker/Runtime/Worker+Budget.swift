import EsteiraAWS
import EsteiraPipeline
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// One unit of a budget a file needs, and the budget's limit.
struct BudgetNeed: Sendable, Equatable {
    var scope: BudgetScope
    var limit: Int
}

/// The budget units one file attempt needs and those it holds; shared by the load and its heartbeat.
final class BudgetHold: Sendable {
    /// Unique per file attempt: worker, file and fencing token.
    let holder: String
    /// What to take, in the fixed order every worker uses: the table's unit, then the database's.
    let needs: [BudgetNeed]
    private let state = Mutex<(held: [BudgetScope], lost: BudgetLost?)>(([], nil))

    init(holder: String, needs: [BudgetNeed]) {
        self.holder = holder
        self.needs = needs
    }

    var held: [BudgetScope] { state.withLock { $0.held } }
    var lost: BudgetLost? { state.withLock { $0.lost } }
    func acquired(_ scope: BudgetScope) { state.withLock { $0.held.append(scope) } }
    func markLost(_ lost: BudgetLost) { state.withLock { $0.lost = $0.lost ?? lost } }
    func releasedAll() { state.withLock { $0.held.removeAll() } }
}

extension Worker {
    /// The budget units a file of `route` needs, table first then database (none without `load_budget`).
    ///
    /// Every worker takes them in this one order, so two files can never each hold the unit the other
    /// waits for. The table comes first so that a file waiting for a busy table holds nothing that files
    /// of other tables need: only a file that already has its table's unit ever holds a database unit.
    func budgetNeeds(_ route: Route) -> [BudgetNeed] {
        guard budget != nil, let config = settings.loadBudget, let database = settings.database else { return [] }
        var needs: [BudgetNeed] = []
        if let limit = config.limit(table: route.table) {
            needs.append(BudgetNeed(scope: .table(route.table.lowercased(), database: database), limit: limit))
        }
        if let limit = config.perDatabase { needs.append(BudgetNeed(scope: .database(database), limit: limit)) }
        return needs
    }

    /// A holder ID unique per file attempt and bounded in length: `<worker>#<hash of the job id>#<token>`.
    static func budgetHolder(worker: String, object: ObjectCreated, token: Int64) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in JobLedger.jobID(object).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\(worker.prefix(100))#\(String(repeating: "0", count: 16 - hex.count) + hex)#\(token)"
    }

    /// Takes every unit `hold` needs, in order. While a budget is full the file is parked (it gives its
    /// load slot back) and looks again after a jittered, growing pause; its message and claim stay its own
    /// (the heartbeat runs meanwhile). Returns nil once every unit is held, or why the wait ended: the
    /// task was cancelled, the worker is shutting down (`budgetWait`), or the budget could not be read.
    func acquireBudget(_ hold: BudgetHold, log: Logger) async -> PipelineError? {
        guard let budget, !hold.needs.isEmpty else { return nil }
        var parked = false
        var waitStarted: ContinuousClock.Instant?
        var failure: PipelineError?
        needs: for need in hold.needs {
            var round = 0
            var errors = 0
            var told = false
            while true {
                if Task.isCancelled {
                    failure = PipelineError(
                        .cancelled, "cancelled while waiting for the \(need.scope)", transient: true)
                    break needs
                }
                if Task.isShuttingDownGracefully {
                    failure = PipelineError(
                        .budgetWait, "the worker shut down while the file waited for the \(need.scope)", transient: true
                    )
                    break needs
                }
                do {
                    switch try await budget.acquire(
                        need.scope, holder: hold.holder, limit: need.limit, lease: settings.lease, now: Date())
                    {
                    case .acquired:
                        hold.acquired(need.scope)
                        continue needs
                    case .full(let holders, let limit):
                        errors = 0
                        if !told {
                            told = true
                            log.info(
                                "waiting for the \(need.scope.kind.rawValue) budget \(need.scope.name) (\(holders) in progress, limit \(limit))"
                            )
                            metrics.budgetWaited(scope: need.scope.kind.rawValue)
                            if waitStarted == nil { waitStarted = .now }
                        }
                        if !parked { parked = await slots.park() }
                    }
                } catch {
                    errors += 1
                    log.warning(
                        "could not read the \(need.scope)", metadata: ["error": "\(error)", "try": "\(errors)"])
                    if errors >= max(1, settings.attempts) {
                        failure = PipelineError(
                            .database, "could not take a unit of the \(need.scope): \(error)", transient: true)
                        break needs
                    }
                }
                round += 1
                try? await Task.sleep(for: settings.budgetPoll.delay(afterAttempt: min(round, 30)))
            }
        }
        if let waitStarted { metrics.budgetWaitSeconds.record(ContinuousClock.now - waitStarted) }
        if parked {
            if failure == nil { await slots.unpark() } else { await slots.leaveParked() }
        }
        if failure == nil, parked, Task.isShuttingDownGracefully {
            // The slot came back during a drain: give the file back rather than start it now.
            failure = PipelineError(
                .budgetWait, "the worker shut down while the file waited for a load slot", transient: true)
        }
        if failure == nil, waitStarted != nil { log.info("got the database budget; loading") }
        return failure
    }

    /// Renews every unit held (the heartbeat); a unit found purged marks the hold lost and throws.
    func renewBudget(_ hold: BudgetHold) async throws {
        guard let budget else { return }
        for scope in hold.held {
            do {
                try await budget.renew(scope, holder: hold.holder, lease: settings.lease, now: Date())
            } catch let lost as BudgetLost {
                hold.markLost(lost)
                throw lost
            }
        }
    }

    /// Gives back every unit held, whatever ended the file; a unit that cannot be given back is purged by
    /// the next file that finds the budget full once its lease has run out.
    func releaseBudget(_ hold: BudgetHold, log: Logger) async {
        guard let budget else { return }
        for scope in hold.held.reversed() {
            do {
                try await budget.release(scope, holder: hold.holder)
            } catch {
                log.warning(
                    "could not give back the \(scope); it is freed when its lease runs out",
                    metadata: ["error": "\(error)"])
            }
        }
        hold.releasedAll()
    }
}
