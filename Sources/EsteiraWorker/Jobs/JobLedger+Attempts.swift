import EsteiraAWS
import Foundation

/// What the attempts on one object version came to, read from its job item.
public struct AttemptHistory: Sendable, Equatable {
    /// Claims taken (`runs_started`, added in the same conditional write as the claim).
    public var started: Int
    /// Attempts that recorded their end: success, failure or giving the file back (`runs_ended`).
    public var ended: Int
    /// The last stage an attempt recorded (`stage`), nil when none did.
    public var lastStage: String?

    public init(started: Int, ended: Int, lastStage: String?) {
        self.started = started
        self.ended = ended
        self.lastStage = lastStage
    }

    public init(item: DynamoItem?) {
        self.init(
            started: item?["runs_started"]?.int ?? 0, ended: item?["runs_ended"]?.int ?? 0,
            lastStage: item?["stage"]?.string)
    }

    /// Earlier attempts that never recorded an end: their process died (crash, OOM kill, SIGKILL) or lost
    /// the file's lease. Read just after our own claim, which is the one start not yet ended.
    public var diedBefore: Int { max(0, started - 1 - ended) }
}

extension JobLedger {
    /// `runs_ended + 1`, part of every update that ends an attempt (values `:zero` and `:one`).
    static let runEnded = "runs_ended = if_not_exists(runs_ended, :zero) + :one"

    /// The counters of the attempts so far (a consistent read).
    public func attemptHistory(_ o: ObjectCreated) async throws -> AttemptHistory {
        AttemptHistory(item: try await item(o))
    }

    /// Forgives the deaths counted so far (the holder is about to record its own end as FAILED), so a
    /// replay of the dead letter, once the cause is fixed, starts with a clean count.
    public func forgiveDeaths(_ o: ObjectCreated, owner: String, fencingToken: Int64) async throws {
        try await dynamo.updateItem(
            table: table, key: [JobLedger.partitionKey: .s(JobLedger.jobID(o))],
            update: DynamoExpression("SET runs_ended = runs_started - :one", values: [":one": .number(1)]),
            condition: DynamoExpression(
                "#owner = :owner AND attempt = :token AND #status = :running",
                names: ["#owner": "owner", "#status": "status"],
                values: [":owner": .s(owner), ":token": .number(fencingToken), ":running": .s("RUNNING")]),
            returning: false)
    }

    /// Records the stage the holder's load entered, so a process that dies leaves it on record.
    public func recordStage(_ o: ObjectCreated, owner: String, fencingToken: Int64, stage: String) async throws {
        try await dynamo.updateItem(
            table: table, key: [JobLedger.partitionKey: .s(JobLedger.jobID(o))],
            update: DynamoExpression("SET stage = :stage", values: [":stage": .s(stage)]),
            condition: DynamoExpression(
                "#owner = :owner AND attempt = :token AND #status = :running",
                names: ["#owner": "owner", "#status": "status"],
                values: [":owner": .s(owner), ":token": .number(fencingToken), ":running": .s("RUNNING")]),
            returning: false)
    }
}
