import Foundation

extension DynamoDBClient {
    /// Every item passing `filter`, page by page. For operator views of small tables (the jobs table,
    /// kept small by its TTL); never on a hot path.
    public func scan(table: String, filter: DynamoExpression? = nil, limit: Int = 100_000) async throws -> [DynamoItem]
    {
        var all: [DynamoItem] = []
        var start: DynamoItem?
        repeat {
            var body: [String: JSONValue] = ["TableName": .string(table), "ConsistentRead": true]
            add(filter, as: "FilterExpression", to: &body)
            if let start { body["ExclusiveStartKey"] = .object(start.mapValues(\.json)) }
            let r = try await call("Scan", body)
            all += (r["Items"]?.array ?? []).compactMap { $0.object?.compactMapValues(DynamoValue.init(json:)) }
            let last = r["LastEvaluatedKey"]?.object?.compactMapValues(DynamoValue.init(json:))
            start = last?.isEmpty == false ? last : nil
        } while start != nil && all.count < limit
        return Array(all.prefix(limit))
    }
}
