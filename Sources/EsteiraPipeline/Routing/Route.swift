import EsteiraCSV
import EsteiraMySQL
import Foundation
import Yams

/// Where one kind of file goes: the tenant whose prefix it lands under, a file-name pattern, a table,
/// and optionally how to read it (charset, dialect) and what its columns must be (contract).
///
/// Everything after `table` is optional, so routes files written before contracts existed stay valid:
/// without a contract every header column is loaded as text, the charset and dialect are detected.
public struct Route: Sendable, Codable, Equatable {
    public var name: String
    /// The tenant's landing prefix is `<tenant>/data/`; a route only ever matches keys under it.
    public var tenant: String
    /// Glob on the file name under the tenant's prefix (`*` and `?`; `*` does not cross `/`).
    public var pattern: String
    /// Destination table in the MySQL database.
    public var table: String
    /// `auto` (default), `utf-8`, `windows-1252`, `iso-8859-1`, `utf-16le`, `utf-16be`.
    public var encoding: String?
    /// Fixes what the sniffer would otherwise guess (see `DialectSettings`).
    public var dialect: DialectSettings?
    /// Column names, types, nullability, formats, key and cleaning (see docs/CSV.md).
    public var contract: CSVContract?
    /// The file fails (permanently, `TooManyRejects`) when refused rows / all rows exceeds this
    /// (0…1). Without it, any number of refused rows is accepted and listed in the rejects file.
    public var rejectThreshold: Double?
    /// Fail as soon as this many rows are refused, without reading the rest of the file.
    public var maxRejects: Int?
    /// `rename` (default: `valor`, `valor_2`) or `refuse` header names that normalise alike.
    public var headerCollisions: HeaderNormalizer.CollisionPolicy?
    /// What the rows do to rows already in the table: `append` (default), `insert-ignore`, `upsert`, or
    /// `replace-by-file` with `source_column` (see EsteiraMySQL's `LoadMode`).
    public var loadMode: String?
    /// The BIGINT column that records which file loaded each row, for `replace-by-file`.
    public var sourceColumn: String?
    /// Esteira manages the table: creates it when absent (from the contract, or every header column as
    /// text without one) and checks an existing one against the contract before each file (see
    /// `DestinationTable`).
    public var createTable: Bool?
    /// The longest one file of this route may take, as `90s`, `30m`, `2h` or seconds; past it the file is
    /// abandoned and dead-lettered as `Stalled` (see `maxDurationSeconds`). Nil: no limit but the stall timeout.
    public var maxDuration: String?
    /// `refuse` (default), `ignore` or `add`: what to do with header columns the destination table lacks
    /// (and, with a contract, columns the contract does not name). Also accepted inside `contract:`. `add`
    /// (needs `create_table: true`) adds them to the table as nullable columns, typed from the contract or
    /// as text (see ``DestinationTable``).
    public var extraColumns: String?
    /// Who is told when a file of this route fails (and, if asked, succeeds): see `RouteNotify`.
    public var notify: RouteNotify?

    public init(
        name: String, tenant: String, pattern: String = "*.csv", table: String, encoding: String? = nil,
        dialect: DialectSettings? = nil, contract: CSVContract? = nil, rejectThreshold: Double? = nil,
        maxRejects: Int? = nil, headerCollisions: HeaderNormalizer.CollisionPolicy? = nil,
        loadMode: String? = nil, sourceColumn: String? = nil, createTable: Bool? = nil
    ) {
        self.name = name
        self.tenant = tenant
        self.pattern = pattern
        self.table = table
        self.encoding = encoding
        self.dialect = dialect
        self.contract = contract
        self.rejectThreshold = rejectThreshold
        self.maxRejects = maxRejects
        self.headerCollisions = headerCollisions
        self.loadMode = loadMode
        self.sourceColumn = sourceColumn
        self.createTable = createTable
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, tenant, pattern, table, encoding, dialect, contract
        case rejectThreshold = "reject_threshold"
        case maxRejects = "max_rejects"
        case headerCollisions = "header_collisions"
        case loadMode = "load_mode"
        case sourceColumn = "source_column"
        case createTable = "create_table"
        case maxDuration = "max_duration"
        case extraColumns = "extra_columns"
        case notify
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        self.name = name
        do {
            try MappingKeys.refuseUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "")
            tenant = try c.decode(String.self, forKey: .tenant)
            pattern = try c.decodeIfPresent(String.self, forKey: .pattern) ?? "*.csv"
            table = try c.decode(String.self, forKey: .table)
            encoding = try c.decodeIfPresent(String.self, forKey: .encoding)
            dialect = try c.decodeIfPresent(DialectSettings.self, forKey: .dialect)
            contract = try c.decodeIfPresent(CSVContract.self, forKey: .contract)
            rejectThreshold = try c.decodeIfPresent(Double.self, forKey: .rejectThreshold)
            maxRejects = try c.decodeIfPresent(Int.self, forKey: .maxRejects)
            headerCollisions = try c.decodeIfPresent(HeaderNormalizer.CollisionPolicy.self, forKey: .headerCollisions)
            loadMode = try c.decodeIfPresent(String.self, forKey: .loadMode)
            sourceColumn = try c.decodeIfPresent(String.self, forKey: .sourceColumn)
            createTable = try c.decodeIfPresent(Bool.self, forKey: .createTable)
            extraColumns = try c.decodeIfPresent(String.self, forKey: .extraColumns)
            notify = try c.decodeIfPresent(RouteNotify.self, forKey: .notify)
            if let seconds = try? c.decodeIfPresent(Double.self, forKey: .maxDuration) {
                maxDuration = String(seconds)
            } else {
                maxDuration = try c.decodeIfPresent(String.self, forKey: .maxDuration)
            }
        } catch let error as UnknownKeyError {
            // A misspelt key in the route or a section of it, named with the route as every route error is.
            throw RoutingError("route '\(name)': \(error.description)")
        }
    }

    /// `max_duration` in seconds; throws what is wrong with it.
    public func maxDurationSeconds() throws(RoutingError) -> Double? {
        guard let maxDuration else { return nil }
        guard let seconds = DurationText.seconds(maxDuration), seconds > 0 else {
            throw RoutingError(
                "route '\(name)': max_duration '\(maxDuration)' is not a duration such as 90s, 30m or 2h")
        }
        return seconds
    }

    /// The load mode for MySQL; throws what is wrong with `load_mode` / `source_column`.
    public func mode() throws(RoutingError) -> LoadMode {
        guard let loadMode else {
            if sourceColumn != nil {
                throw RoutingError("route '\(name)': source_column is only for load_mode: replace-by-file")
            }
            return .append
        }
        do {
            return try LoadMode(name: loadMode, sourceColumn: sourceColumn)
        } catch {
            throw RoutingError("route '\(name)': \(error.message)")
        }
    }

    /// `extra_columns: add`: the table gains the columns a file brings.
    public var addsColumns: Bool { createTable == true && extraColumns?.lowercased() == "add" }

    /// How the CSV engine reads this route's files; throws what is wrong with the route's settings.
    public func readOptions() throws(RoutingError) -> CSVReadOptions {
        var options = CSVReadOptions(contract: contract, headerCollisions: headerCollisions ?? .rename)
        if let encoding {
            guard let charset = CSVCharset(name: encoding) else {
                throw RoutingError(
                    "route '\(name)': encoding '\(encoding)' is not known; use auto, utf-8, windows-1252, iso-8859-1, utf-16le or utf-16be"
                )
            }
            options.encoding = charset
        }
        if let extraColumns {
            // `add` (see DestinationTable): the table gains the file's new columns; the CSV engine then
            // leaves out only what the contract does not name, as with `ignore`.
            let add = extraColumns.lowercased() == "add"
            if add && createTable != true {
                throw RoutingError(
                    "route '\(name)': extra_columns: add needs create_table: true (Esteira only alters tables it manages)"
                )
            }
            guard let policy = add ? .ignore : CSVContract.ExtraColumns(rawValue: extraColumns.lowercased()) else {
                throw RoutingError(
                    "route '\(name)': extra_columns must be refuse, ignore or add, not '\(extraColumns)'")
            }
            options.extraColumns = policy
            options.contract?.extraColumns = policy
        } else if let policy = contract?.extraColumns {
            options.extraColumns = policy
        }
        do {
            if let dialect { options.dialect = try dialect.overrides() }
            try contract?.validate()
        } catch {
            throw RoutingError("route '\(name)': \(error.description)")
        }
        if let rejectThreshold, !(0...1).contains(rejectThreshold) {
            throw RoutingError(
                "route '\(name)': reject_threshold is a fraction of rows between 0 and 1 (0.05 for 5%), not \(rejectThreshold)"
            )
        }
        if let maxRejects, maxRejects < 0 {
            throw RoutingError("route '\(name)': max_rejects cannot be negative")
        }
        return options
    }
}

/// A file that can never be loaded as it stands: no route, a wrong name, a bad routes file.
public struct RoutingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The routes file, checked once at start-up.
public struct RouteTable: Sendable {
    public var routes: [Route]
    /// File name endings accepted at all; anything else is refused before download.
    public var extensions: [String]

    /// The `load_budget:` section: fleet-wide caps on loads in progress (nil: none).
    public var loadBudget: LoadBudgetConfig?
    /// The `fair_share:` section: one queue per tenant or the shared one, and the tenants' weights.
    public var fairShare: FairShare

    public static let defaultExtensions = [".csv", ".csv.gz", ".txt", ".txt.gz"]

    public init(
        routes: [Route], extensions: [String] = RouteTable.defaultExtensions, loadBudget: LoadBudgetConfig? = nil,
        fairShare: FairShare = FairShare()
    ) throws(RoutingError) {
        self.routes = routes
        self.extensions = extensions
        self.loadBudget = loadBudget
        self.fairShare = fairShare
        try loadBudget?.check(tables: routes.map(\.table))
        for r in routes {
            guard Identifier.isSafe(r.tenant) else {
                throw RoutingError("route '\(r.name)': tenant '\(r.tenant)' must be letters, digits, '_' or '-'")
            }
            guard Identifier.isSafe(r.table), !r.table.contains("-") else {
                throw RoutingError("route '\(r.name)': table '\(r.table)' must be letters, digits and '_' (at most 64)")
            }
            // A bad contract, charset, dialect or load mode fails at start-up, not on the first file.
            _ = try r.readOptions()
            _ = try r.mode()
            _ = try r.maxDurationSeconds()
            try r.notify?.check(route: r.name)
            _ = try r.managedTableSchema(fileColumns: [])
        }
        // Tenant isolation by construction: a table belongs to one tenant, so no tenant's file can ever
        // be written into another tenant's table, whatever the patterns say.
        var owner: [String: String] = [:]
        for r in routes {
            let table = r.table.lowercased()
            if let other = owner[table], other != r.tenant {
                throw RoutingError(
                    "route '\(r.name)': table '\(r.table)' already belongs to tenant '\(other)'; each tenant needs its own tables"
                )
            }
            owner[table] = r.tenant
        }
        var seen = Set<String>()
        for r in routes where !seen.insert(r.name).inserted {
            throw RoutingError("route name '\(r.name)' is used twice; names must be unique")
        }
        try fairShare.check(tenants: Set(routes.map(\.tenant)))
    }

    /// Every tenant that has a route, sorted.
    public var tenants: [String] { Array(Set(routes.map(\.tenant))).sorted() }

    struct File: Decodable {
        var routes: [Route]
        var extensions: [String]?
        var loadBudget: LoadBudgetConfig?
        var fairShare: FairShare?

        enum CodingKeys: String, CodingKey {
            case routes, extensions
            case loadBudget = "load_budget"
            case fairShare = "fair_share"
        }

        init(from decoder: Decoder) throws {
            try SectionKeys.refuseUnknown(
                in: decoder, known: ["routes", "extensions", "load_budget", "fair_share"], section: "top-level: ")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            routes = try c.decode([Route].self, forKey: .routes)
            extensions = try c.decodeIfPresent([String].self, forKey: .extensions)
            loadBudget = try c.decodeIfPresent(LoadBudgetConfig.self, forKey: .loadBudget)
            fairShare = try c.decodeIfPresent(FairShare.self, forKey: .fairShare)
        }
    }

    /// Reads a routes YAML file (see examples/routes.yaml).
    public static func load(path: String) throws -> RouteTable {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RoutingError("cannot read routes file \(path): check the path (ESTEIRA_ROUTES or --routes)")
        }
        return try parse(yaml: text, source: path)
    }

    public static func parse(yaml: String, source: String = "routes") throws -> RouteTable {
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: yaml)
        } catch let error as RoutingError {
            throw RoutingError("\(source): \(error.description)")
        } catch {
            throw RoutingError("\(source) is not a valid routes file: \(error)")
        }
        return try RouteTable(
            routes: file.routes, extensions: file.extensions ?? defaultExtensions, loadBudget: file.loadBudget,
            fairShare: file.fairShare ?? FairShare())
    }

    /// The route for an object key, or why there is none.
    public func route(forKey key: String) throws(RoutingError) -> Route {
        let parts = key.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "data", !parts[0].isEmpty, !parts[2].isEmpty else {
            throw RoutingError(
                "key '\(key)' is not under <tenant>/data/<file>; move the file under its tenant's data/ prefix")
        }
        let tenant = String(parts[0])
        let file = String(parts[2])
        let lower = file.lowercased()
        guard extensions.contains(where: { lower.hasSuffix($0) }) else {
            throw RoutingError(
                "file '\(file)' has an extension that is not accepted (accepted: \(extensions.joined(separator: ", ")))"
            )
        }
        // Compression is transparent: a route for "orders*.csv" also takes "orders-1.csv.gz".
        let plain = lower.hasSuffix(".gz") ? String(file.dropLast(3)) : file
        guard
            let route = routes.first(where: {
                $0.tenant == tenant && (Glob.matches($0.pattern, file) || Glob.matches($0.pattern, plain))
            })
        else {
            throw RoutingError(
                "no route for '\(file)' of tenant '\(tenant)': add a route with tenant '\(tenant)' and a pattern matching it to the routes file"
            )
        }
        return route
    }
}

enum Identifier {
    /// Tenants and tables: ASCII letters, digits, '_' and '-', 1…64 characters. Never SQL.
    static func isSafe(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64
            && s.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
                    || $0 == 0x2D
            }
    }
}

enum Glob {
    /// `*` matches any run of characters except '/', `?` exactly one; everything else literally.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" && t[ti] != "/" || p[pi] == t[ti]) && p[pi] != "*" {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 && t[mark] != "/" {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// `90`, `90s`, `30m`, `2h` → seconds.
public enum DurationText {
    public static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n.isFinite, n >= 0
            else { return nil }
            return n * factor
        }
        guard let n = Double(t), n.isFinite, n >= 0 else { return nil }
        return n
    }
}
