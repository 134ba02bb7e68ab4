import EsteiraAWS
import Foundation

/// What a claim attempt found.
public enum ClaimResult: Sendable, Equatable {
    /// We hold the file until `leaseExpiresAt`; `fencingToken` is this attempt's number.
    case claimed(fencingToken: Int64)
    /// The file's version was loaded already: acknowledge the message and do nothing.
    case alreadySucceeded
    /// Another worker holds a live lease: leave the message for later.
    case heldByAnother(owner: String)
}

/// The DynamoDB jobs table: one item per object version, RECEIVED → RUNNING → SUCCEEDED | FAILED.
///
/// The claim is a conditional write, so two workers can never both hold one file; the attempt counter
/// is the fencing token that the MySQL ledger row carries.
public struct JobLedger: JobTracker {
    public static let partitionKey = "pk"
    public let dynamo: DynamoDBClient
    public let table: String
    /// Days a finished job's item is kept before DynamoDB's TTL removes it.
    public var retentionDays: Int = 30

    public init(dynamo: DynamoDBClient, table: String) {
        self.dynamo = dynamo
        self.table = table
    }

    public static func jobID(_ o: ObjectCreated) -> String { "\(o.uri)#\(o.version)" }

    private func key(_ o: ObjectCreated) -> DynamoItem { [JobLedger.partitionKey: .s(JobLedger.jobID(o))] }

    /// Creates the table with TTL on `expires_at` (idempotent).
    public func createTable() async throws {
        try await dynamo.createTable(name: table, partitionKey: JobLedger.partitionKey)
        try await dynamo.updateTimeToLive(table: table, attribute: "expires_at")
    }

    /// Takes the file (as of `now`) if nobody holds it, or if the holder's lease ran out and it has not succeeded.
    ///
    /// Each claim carries a fresh `claim_id`: when DynamoDB applied the write but its answer was lost, the
    /// retry fails its condition, and the item read back then shows our own claim, not another worker's.
    public func claim(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws -> ClaimResult {
        try await claimWithHistory(o, owner: owner, lease: lease, now: now).0
    }

    /// The claim, with the attempt counters read from the claim's own answer (the item after the write,
    /// or the item read back when the condition failed): no second read is needed for the crash check.
    public func claimWithHistory(_ o: ObjectCreated, owner: String, lease: Duration, now: Date) async throws
        -> (ClaimResult, AttemptHistory?)
    {
        let nowS = Int64(now.timeIntervalSince1970)
        let lease = Int64(WholeSeconds.of(lease))
        let claimID = UUID().uuidString
        let update = DynamoExpression(
            """
            SET #status = :running, #owner = :owner, claim_id = :claim, lease_expires_at = :lease, started_at = :now, \
            s3_bucket = :bucket, s3_key = :key, s3_version = :version, \
            received_at = if_not_exists(received_at, :now), attempt = if_not_exists(attempt, :zero) + :one, \
            runs_started = if_not_exists(runs_started, :zero) + :one, expires_at = :ttl
            """,
            names: ["#status": "status", "#owner": "owner"],
            values: [
                ":running": .s("RUNNING"), ":owner": .s(owner), ":claim": .s(claimID), ":lease": .number(nowS + lease),
                ":now": .number(nowS), ":bucket": .s(o.bucket), ":key": .s(o.key), ":version": .s(o.version),
                ":zero": .number(0), ":one": .number(1), ":ttl": .number(nowS + Int64(retentionDays) * 86400),
            ])
        let condition = DynamoExpression(
            "attribute_not_exists(pk) OR (#status <> :succeeded AND (#status <> :running OR lease_expires_at < :now))",
            names: ["#status": "status"],
            values: [":succeeded": .s("SUCCEEDED"), ":running": .s("RUNNING"), ":now": .number(nowS)])
        do {
            let item = try await dynamo.updateItem(table: table, key: key(o), update: update, condition: condition)
            // An answer without the counters (not DynamoDB's) leaves the crash check to read them.
            let history = item["runs_started"] == nil ? nil : AttemptHistory(item: item)
            return (.claimed(fencingToken: Int64(item["attempt"]?.int ?? 1)), history)
        } catch is ConditionalCheckFailed {
            let item = try await dynamo.getItem(table: table, key: key(o))
            if item?["status"]?.string == "SUCCEEDED" { return (.alreadySucceeded, nil) }
            if let item, item["claim_id"]?.string == claimID, item["owner"]?.string == owner,
                item["status"]?.string == "RUNNING", let token = item["attempt"]?.int
            {
                return (.claimed(fencingToken: Int64(token)), AttemptHistory(item: item))
            }
            return (.heldByAnother(owner: item?["owner"]?.string ?? "unknown"), nil)
        }
    }

    /// Extends our lease; fails with `LeaseLost` when we no longer hold the file.
    public func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration) async throws {
        try await extendLease(o, owner: owner, fencingToken: fencingToken, lease: lease, recording: nil)
    }

    /// Extends our lease and records the load's stage in the same conditional write (the heartbeat's).
    public func extendLease(_ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration, stage: String)
        async throws
    {
        try await extendLease(o, owner: owner, fencingToken: fencingToken, lease: lease, recording: stage)
    }

    private func extendLease(
        _ o: ObjectCreated, owner: String, fencingToken: Int64, lease: Duration, recording stage: String?
    ) async throws {
        let nowS = Int64(Date().timeIntervalSince1970)
        var values: [String: DynamoValue] = [":lease": .number(nowS + Int64(WholeSeconds.of(lease)))]
        var set = "SET lease_expires_at = :lease"
        if let stage {
            set += ", stage = :stage"
            values[":stage"] = .s(stage)
        }
        do {
            try await dynamo.updateItem(
                table: table, key: key(o), update: DynamoExpression(set, values: values),
                condition: held(owner: owner, token: fencingToken), returning: false)
        } catch is ConditionalCheckFailed {
            throw LeaseLost(jobID: JobLedger.jobID(o))
        }
    }

    /// Records success with counts; only the holder of the current attempt may.
    /// `rejectsURI` names the object holding the refused rows, when there were any.
    public func markSucceeded(
        _ o: ObjectCreated, owner: String, fencingToken: Int64, rowsLoaded: Int, rowsRejected: Int,
        duplicate: Bool = false, rejectsURI: String? = nil
    ) async throws {
        let nowS = Int64(Date().timeIntervalSince1970)
        var values: [String: DynamoValue] = [
            ":s": .s("SUCCEEDED"), ":now": .number(nowS), ":rl": .number(rowsLoaded),
            ":rr": .number(rowsRejected), ":dup": .bool(duplicate),
        ]
        var set = "SET #status = :s, finished_at = :now, rows_loaded = :rl, rows_rejected = :rr, already_loaded = :dup"
        if let rejectsURI {
            set += ", rejects_uri = :rej"
            values[":rej"] = .s(rejectsURI)
        }
        try await dynamo.updateItem(
            table: table, key: key(o),
            update: DynamoExpression(
                set + ", \(Self.runEnded) REMOVE lease_expires_at", names: ["#status": "status"],
                values: values.merging([":zero": .number(0), ":one": .number(1)]) { a, _ in a }),
            condition: held(owner: owner, token: fencingToken), returning: false)
    }

    /// Records a permanent failure with its reason.
    public func markFailed(_ o: ObjectCreated, owner: String, fencingToken: Int64, reason: String) async throws {
        let nowS = Int64(Date().timeIntervalSince1970)
        try await dynamo.updateItem(
            table: table, key: key(o),
            update: DynamoExpression(
                "SET #status = :s, finished_at = :now, #error = :e, \(Self.runEnded) REMOVE lease_expires_at",
                names: ["#status": "status", "#error": "error"],
                values: [
                    ":s": .s("FAILED"), ":now": .number(nowS), ":e": .s(String(reason.prefix(2000))),
                    ":zero": .number(0), ":one": .number(1),
                ]),
            condition: held(owner: owner, token: fencingToken), returning: false)
    }

    /// Gives the file back (shutdown, transient failure): the next claim need not wait for the lease.
    public func release(_ o: ObjectCreated, owner: String, fencingToken: Int64, reason: String) async throws {
        try await dynamo.updateItem(
            table: table, key: key(o),
            update: DynamoExpression(
                "SET #status = :s, last_error = :e, \(Self.runEnded) REMOVE lease_expires_at",
                names: ["#status": "status"],
                values: [
                    ":s": .s("RECEIVED"), ":e": .s(String(reason.prefix(2000))),
                    ":zero": .number(0), ":one": .number(1),
                ]),
            condition: held(owner: owner, token: fencingToken), returning: false)
    }

    /// Records a file refused before any claim (no route, undecodable), so its history shows why.
    public func recordRejected(_ o: ObjectCreated, reason: String) async throws {
        let nowS = Int64(Date().timeIntervalSince1970)
        try await dynamo.putItem(
            table: table,
            item: [
                JobLedger.partitionKey: .s(JobLedger.jobID(o)), "status": .s("FAILED"), "s3_bucket": .s(o.bucket),
                "s3_key": .s(o.key), "s3_version": .s(o.version), "error": .s(String(reason.prefix(2000))),
                "received_at": .number(nowS), "finished_at": .number(nowS), "attempt": .number(0),
                "expires_at": .number(nowS + Int64(retentionDays) * 86400),
            ],
            condition: DynamoExpression(
                "attribute_not_exists(pk) OR #status <> :succeeded",
                names: ["#status": "status"], values: [":succeeded": .s("SUCCEEDED")]))
    }

    public func item(_ o: ObjectCreated) async throws -> DynamoItem? {
        try await dynamo.getItem(table: table, key: key(o))
    }

    private func held(owner: String, token: Int64) -> DynamoExpression {
        DynamoExpression(
            "#owner = :owner AND attempt = :token AND #status = :running",
            names: ["#owner": "owner", "#status": "status"],
            values: [":owner": .s(owner), ":token": .number(token), ":running": .s("RUNNING")])
    }
}
