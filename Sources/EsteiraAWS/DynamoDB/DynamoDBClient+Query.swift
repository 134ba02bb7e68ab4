import Foundation

/// One page of a Query; pass `lastEvaluatedKey` back as `startKey` for the next.
public struct DynamoQueryPage: Sendable {
    public var items: [DynamoItem]
    /// Nil on the last page.
    public var lastEvaluatedKey: DynamoItem?
}

/// What DescribeTable says about a table that Esteira cares about.
public struct DynamoTableDescription: Sendable {
    public var name: String
    /// ACTIVE, CREATING, UPDATING, DELETING …
    public var status: String
    /// Key attribute names: the partition key first, then the sort key if any.
    public var keySchema: [String]
    public var itemCount: Int?
    public var arn: String?
}

extension DynamoDBClient {
    /// One page of the items matching `keyCondition` (which must name the partition key), in sort-key order.
    public func queryPage(
        table: String, keyCondition: DynamoExpression, filter: DynamoExpression? = nil,
        index: String? = nil, consistent: Bool = false, limit: Int? = nil,
        startKey: DynamoItem? = nil, ascending: Bool = true
    ) async throws -> DynamoQueryPage {
        var body: [String: JSONValue] = [
            "TableName": .string(table), "ConsistentRead": .bool(consistent),
            "ScanIndexForward": .bool(ascending),
        ]
        add(keyCondition, as: "KeyConditionExpression", to: &body)
        add(filter, as: "FilterExpression", to: &body)
        if let index { body["IndexName"] = .string(index) }
        if let limit { body["Limit"] = .number(Double(limit)) }
        if let startKey { body["ExclusiveStartKey"] = .object(startKey.mapValues(\.json)) }
        let r = try await call("Query", body)
        let items = (r["Items"]?.array ?? []).compactMap { $0.object?.compactMapValues(DynamoValue.init(json:)) }
        let last = r["LastEvaluatedKey"]?.object?.compactMapValues(DynamoValue.init(json:))
        return DynamoQueryPage(items: items, lastEvaluatedKey: last?.isEmpty == false ? last : nil)
    }

    /// Every matching item, following LastEvaluatedKey page by page; `limit` caps what is held in memory.
    public func query(
        table: String, keyCondition: DynamoExpression, filter: DynamoExpression? = nil,
        index: String? = nil, consistent: Bool = false, pageSize: Int? = nil,
        limit: Int = 100_000
    ) async throws -> [DynamoItem] {
        var all: [DynamoItem] = []
        var start: DynamoItem?
        repeat {
            let page = try await queryPage(
                table: table, keyCondition: keyCondition, filter: filter, index: index,
                consistent: consistent, limit: pageSize, startKey: start)
            all += page.items
            start = page.lastEvaluatedKey
        } while start != nil && all.count < limit
        return Array(all.prefix(limit))
    }

    /// The table's status, keys and size, or nil when it does not exist.
    public func describeTableDetails(name: String) async throws -> DynamoTableDescription? {
        let r: JSONValue
        do {
            r = try await call("DescribeTable", ["TableName": .string(name)])
        } catch let e as AWSError where e.code == .resourceNotFound {
            return nil
        }
        guard let t = r["Table"] else { return nil }
        let schema = (t["KeySchema"]?.array ?? []).sorted { a, _ in a["KeyType"]?.string == "HASH" }
            .compactMap { $0["AttributeName"]?.string }
        return DynamoTableDescription(
            name: t["TableName"]?.string ?? name, status: t["TableStatus"]?.string ?? "",
            keySchema: schema, itemCount: t["ItemCount"]?.int, arn: t["TableArn"]?.string)
    }
}
