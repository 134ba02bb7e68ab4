import Foundation

/// The routes file's `load_budget:` section: a fleet-wide cap on loads in progress at once, per MySQL
/// database and per destination table. Absent (or a key left out): no cap at that level.
///
/// ```yaml
/// load_budget:
///   per_database: 8      # loads in progress at once into the database, fleet-wide
///   per_table: 2         # default cap for every table
///   tables:              # per-table overrides, by the route's table name
///     acme_orders: 1
/// ```
public struct LoadBudgetConfig: Sendable, Equatable, Decodable {
    public var perDatabase: Int?
    public var perTable: Int?
    /// Overrides of `per_table`, by table name (as the routes write it; matched case-insensitively).
    public var tables: [String: Int]

    /// The largest limit accepted: each holder is one entry of one DynamoDB item (400 KB at most).
    public static let maxLimit = 1000

    public init(perDatabase: Int? = nil, perTable: Int? = nil, tables: [String: Int] = [:]) {
        self.perDatabase = perDatabase
        self.perTable = perTable
        self.tables = tables
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case perDatabase = "per_database"
        case perTable = "per_table"
        case tables
    }

    public init(from decoder: Decoder) throws {
        try SectionKeys.refuseUnknown(
            in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "load_budget: ")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        perDatabase = try c.decodeIfPresent(Int.self, forKey: .perDatabase)
        perTable = try c.decodeIfPresent(Int.self, forKey: .perTable)
        tables = try c.decodeIfPresent([String: Int].self, forKey: .tables) ?? [:]
    }

    /// Checks the limits and that every override names a table some route loads into.
    public func check(tables routeTables: [String]) throws(RoutingError) {
        func limit(_ value: Int?, _ what: String) throws(RoutingError) {
            guard let value else { return }
            guard (1...Self.maxLimit).contains(value) else {
                throw RoutingError(
                    "load_budget: \(what) is \(value); it must be 1…\(Self.maxLimit) (leave it out for no cap)")
            }
        }
        try limit(perDatabase, "per_database")
        try limit(perTable, "per_table")
        let known = Set(routeTables.map { $0.lowercased() })
        for (table, value) in tables.sorted(by: { $0.key < $1.key }) {
            try limit(value, "tables.\(table)")
            guard known.contains(table.lowercased()) else {
                throw RoutingError(
                    "load_budget: tables names '\(table)', which no route loads into (the routes' tables: \(routeTables.sorted().joined(separator: ", "))); fix the name or remove it"
                )
            }
        }
    }

    /// The cap on loads in progress into `table` at once, or nil for none.
    public func limit(table: String) -> Int? {
        if let exact = tables[table] { return exact }
        let lower = table.lowercased()
        if let match = tables.first(where: { $0.key.lowercased() == lower }) { return match.value }
        return perTable
    }

    /// True when some cap applies at all.
    public var isEmpty: Bool { perDatabase == nil && perTable == nil && tables.isEmpty }
}

extension LoadBudgetConfig: CustomStringConvertible {
    /// `per_database=8 per_table=2 acme_orders=1`, for the start-up log.
    public var description: String {
        var parts: [String] = []
        if let perDatabase { parts.append("per_database=\(perDatabase)") }
        if let perTable { parts.append("per_table=\(perTable)") }
        for (table, limit) in tables.sorted(by: { $0.key < $1.key }) { parts.append("\(table)=\(limit)") }
        return parts.isEmpty ? "none" : parts.joined(separator: " ")
    }
}

extension PipelineError.Code {
    /// The file waited for its database budget until the worker shut down: given back, not failed.
    public static let budgetWait = PipelineError.Code(rawValue: "BudgetWait")
}
