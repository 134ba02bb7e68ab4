import Foundation

/// A DynamoDB attribute value in its JSON wire shape.
public enum DynamoValue: Sendable, Hashable {
    case s(String)
    case n(String)
    case bool(Bool)
    case null
    case m([String: DynamoValue])
    case l([DynamoValue])
    case ss([String])

    public static func number(_ n: some BinaryInteger) -> DynamoValue { .n(String(n)) }

    var json: JSONValue {
        switch self {
        case .s(let s): ["S": .string(s)]
        case .n(let n): ["N": .string(n)]
        case .bool(let b): ["BOOL": .bool(b)]
        case .null: ["NULL": true]
        case .m(let m): ["M": .object(m.mapValues(\.json))]
        case .l(let l): ["L": .array(l.map(\.json))]
        case .ss(let ss): ["SS": .array(ss.map(JSONValue.string))]
        }
    }

    init?(json: JSONValue) {
        guard let o = json.object, let (type, v) = o.first else { return nil }
        switch type {
        case "S":
            guard let s = v.string else { return nil }
            self = .s(s)
        case "N":
            guard let s = v.string else { return nil }
            self = .n(s)
        case "BOOL":
            guard case .bool(let b) = v else { return nil }
            self = .bool(b)
        case "NULL": self = .null
        case "M": self = .m((v.object ?? [:]).compactMapValues(DynamoValue.init(json:)))
        case "L": self = .l((v.array ?? []).compactMap(DynamoValue.init(json:)))
        case "SS": self = .ss((v.array ?? []).compactMap(\.string))
        default: return nil
        }
    }

    public var string: String? {
        if case .s(let s) = self { return s }
        return nil
    }
    public var int: Int? {
        if case .n(let n) = self { return Int(n) }
        return nil
    }
}

public typealias DynamoItem = [String: DynamoValue]

/// A write refused because its condition expression was false: someone else holds the item.
public struct ConditionalCheckFailed: Error, CustomStringConvertible, Sendable {
    public var table: String
    public var operation: String
    public var description: String { "DynamoDB \(operation) on \(table): the condition did not hold" }
}

/// A condition or update expression with its placeholder names and values.
public struct DynamoExpression: Sendable {
    public var expression: String
    public var names: [String: String]
    public var values: [String: DynamoValue]

    public init(_ expression: String, names: [String: String] = [:], values: [String: DynamoValue] = [:]) {
        self.expression = expression
        self.names = names
        self.values = values
    }
}

/// The DynamoDB calls Esteira needs, in the JSON protocol (`DynamoDB_20120810.<Operation>`).
public struct DynamoDBClient: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    @discardableResult
    func call(_ name: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        let op = AWSOperation(
            service: .dynamodb, name: name,
            headers: [
                ("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "DynamoDB_20120810.\(name)"),
            ], body: JSONValue.object(body).encoded())
        let r = try await client.send(op, errorParser: .json)
        return r.body.isEmpty ? .object([:]) : try JSONValue.decode(r.body)
    }

    /// Creates a table keyed by a string partition key (and, optionally, a string sort key), billed on
    /// demand; an existing table is fine.
    public func createTable(name: String, partitionKey: String, sortKey: String? = nil) async throws {
        var definitions: [JSONValue] = [["AttributeName": .string(partitionKey), "AttributeType": "S"]]
        var schema: [JSONValue] = [["AttributeName": .string(partitionKey), "KeyType": "HASH"]]
        if let sortKey {
            definitions.append(["AttributeName": .string(sortKey), "AttributeType": "S"])
            schema.append(["AttributeName": .string(sortKey), "KeyType": "RANGE"])
        }
        do {
            try await call(
                "CreateTable",
                [
                    "TableName": .string(name),
                    "AttributeDefinitions": .array(definitions),
                    "KeySchema": .array(schema),
                    "BillingMode": "PAY_PER_REQUEST",
                ])
        } catch let e as AWSError where e.code == .resourceInUse {
            return
        }
    }

    /// Table status (`ACTIVE`, `CREATING` …), or nil when the table does not exist.
    public func describeTable(name: String) async throws -> String? {
        do {
            let r = try await call("DescribeTable", ["TableName": .string(name)])
            return r["Table"]?["TableStatus"]?.string
        } catch let e as AWSError where e.code == .resourceNotFound {
            return nil
        }
    }

    public func updateTimeToLive(table: String, attribute: String) async throws {
        do {
            try await call(
                "UpdateTimeToLive",
                [
                    "TableName": .string(table),
                    "TimeToLiveSpecification": [
                        "AttributeName": .string(attribute), "Enabled": true,
                    ],
                ])
        } catch let e as AWSError where e.code == .validation && e.message.contains("already enabled") {
            return
        }
    }

    public func putItem(table: String, item: DynamoItem, condition: DynamoExpression? = nil) async throws {
        var body: [String: JSONValue] = ["TableName": .string(table), "Item": .object(item.mapValues(\.json))]
        add(condition, as: "ConditionExpression", to: &body)
        try await conditional(table, "PutItem") { try await call("PutItem", body) }
    }

    /// Applies an update expression; returns the item's attributes after the update, or nothing (an empty
    /// item) when `returning` is false: a smaller answer, for writes whose result the caller already knows.
    @discardableResult
    public func updateItem(
        table: String, key: DynamoItem, update: DynamoExpression,
        condition: DynamoExpression? = nil, returning: Bool = true
    ) async throws -> DynamoItem {
        var body: [String: JSONValue] = [
            "TableName": .string(table), "Key": .object(key.mapValues(\.json)),
            "ReturnValues": returning ? "ALL_NEW" : "NONE",
        ]
        add(update, as: "UpdateExpression", to: &body)
        add(condition, as: "ConditionExpression", to: &body)
        let r = try await conditional(table, "UpdateItem") { try await call("UpdateItem", body) }
        return (r["Attributes"]?.object ?? [:]).compactMapValues(DynamoValue.init(json:))
    }

    public func getItem(table: String, key: DynamoItem, consistent: Bool = true) async throws -> DynamoItem? {
        let r = try await call(
            "GetItem",
            [
                "TableName": .string(table), "Key": .object(key.mapValues(\.json)),
                "ConsistentRead": .bool(consistent),
            ])
        return r["Item"]?.object.map { $0.compactMapValues(DynamoValue.init(json:)) }
    }

    public func deleteItem(table: String, key: DynamoItem, condition: DynamoExpression? = nil) async throws {
        var body: [String: JSONValue] = ["TableName": .string(table), "Key": .object(key.mapValues(\.json))]
        add(condition, as: "ConditionExpression", to: &body)
        try await conditional(table, "DeleteItem") { try await call("DeleteItem", body) }
    }

    /// Merges an expression's text, names and values into a request (update and condition share them).
    func add(_ e: DynamoExpression?, as field: String, to body: inout [String: JSONValue]) {
        guard let e else { return }
        body[field] = .string(e.expression)
        if !e.names.isEmpty {
            var names = body["ExpressionAttributeNames"]?.object ?? [:]
            for (k, v) in e.names { names[k] = .string(v) }
            body["ExpressionAttributeNames"] = .object(names)
        }
        if !e.values.isEmpty {
            var values = body["ExpressionAttributeValues"]?.object ?? [:]
            for (k, v) in e.values { values[k] = v.json }
            body["ExpressionAttributeValues"] = .object(values)
        }
    }

    @discardableResult
    private func conditional(_ table: String, _ op: String, _ body: () async throws -> JSONValue) async throws
        -> JSONValue
    {
        do {
            return try await body()
        } catch let e as AWSError where e.code == .conditionalCheckFailed {
            throw ConditionalCheckFailed(table: table, operation: op)
        }
    }
}
