import EsteiraAWS
import Foundation

/// One file version's record in the jobs table, as operators read it.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var bucket: String
    public var key: String
    public var version: String
    public var status: String
    public var attempt: Int
    public var owner: String?
    public var receivedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var rowsLoaded: Int?
    public var rowsRejected: Int?
    public var error: String?
    public var lastError: String?
    public var alreadyLoaded: Bool

    public var tenant: String { key.split(separator: "/").first.map(String.init) ?? "" }
    public var uri: String { "s3://\(bucket)/\(key)" }

    init?(_ item: DynamoItem) {
        guard let id = item["pk"]?.string, !id.hasPrefix("replay#"), let key = item["s3_key"]?.string else {
            return nil
        }
        func date(_ name: String) -> Date? { item[name]?.int.map { Date(timeIntervalSince1970: Double($0)) } }
        self.id = id
        self.bucket = item["s3_bucket"]?.string ?? ""
        self.key = key
        self.version = item["s3_version"]?.string ?? ""
        self.status = item["status"]?.string ?? "?"
        self.attempt = item["attempt"]?.int ?? 0
        self.owner = item["owner"]?.string
        self.receivedAt = date("received_at")
        self.startedAt = date("started_at")
        self.finishedAt = date("finished_at")
        self.rowsLoaded = item["rows_loaded"]?.int
        self.rowsRejected = item["rows_rejected"]?.int
        self.error = item["error"]?.string
        self.lastError = item["last_error"]?.string
        if case .bool(let b)? = item["already_loaded"] { alreadyLoaded = b } else { alreadyLoaded = false }
    }
}

/// Reads a file's history from the jobs table.
public struct JobHistory: Sendable {
    public let dynamo: DynamoDBClient
    public let table: String

    public init(dynamo: DynamoDBClient, table: String) {
        self.dynamo = dynamo
        self.table = table
    }

    /// Jobs, newest first, filtered by tenant, status and arrival time.
    public func jobs(tenant: String? = nil, status: String? = nil, since: Date? = nil) async throws -> [JobRecord] {
        var clauses: [String] = ["attribute_exists(s3_key)"]
        var names: [String: String] = [:]
        var values: [String: DynamoValue] = [:]
        if let tenant {
            clauses.append("begins_with(s3_key, :tenant)")
            values[":tenant"] = .s(tenant + "/")
        }
        if let status {
            clauses.append("#status = :status")
            names["#status"] = "status"
            values[":status"] = .s(status.uppercased())
        }
        if let since {
            clauses.append("received_at >= :since")
            values[":since"] = .number(Int64(since.timeIntervalSince1970))
        }
        let items = try await dynamo.scan(
            table: table,
            filter: DynamoExpression(
                clauses.joined(separator: " AND "),
                names: names, values: values))
        return items.compactMap(JobRecord.init).sorted {
            ($0.receivedAt ?? .distantPast) > ($1.receivedAt ?? .distantPast)
        }
    }

    /// Every version of one object that the jobs table knows.
    public func versions(bucket: String, key: String) async throws -> [JobRecord] {
        let items = try await dynamo.scan(
            table: table,
            filter: DynamoExpression(
                "s3_bucket = :b AND s3_key = :k", values: [":b": .s(bucket), ":k": .s(key)]))
        return items.compactMap(JobRecord.init).sorted {
            ($0.receivedAt ?? .distantPast) < ($1.receivedAt ?? .distantPast)
        }
    }
}
