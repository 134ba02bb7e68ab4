import Foundation
import Yams

/// Where one kind of file goes: the tenant whose prefix it lands under, a file-name pattern, a table.
public struct Route: Sendable, Codable, Equatable {
    public var name: String
    /// The tenant's landing prefix is `<tenant>/data/`; a route only ever matches keys under it.
    public var tenant: String
    /// Glob on the file name under the tenant's prefix (`*` and `?`; `*` does not cross `/`).
    public var pattern: String
    /// Destination table in the MySQL database.
    public var table: String

    public init(name: String, tenant: String, pattern: String = "*.csv", table: String) {
        self.name = name
        self.tenant = tenant
        self.pattern = pattern
        self.table = table
    }

    enum CodingKeys: String, CodingKey { case name, tenant, pattern, table }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        tenant = try c.decode(String.self, forKey: .tenant)
        pattern = try c.decodeIfPresent(String.self, forKey: .pattern) ?? "*.csv"
        table = try c.decode(String.self, forKey: .table)
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

    public static let defaultExtensions = [".csv", ".csv.gz", ".txt", ".txt.gz"]

    public init(routes: [Route], extensions: [String] = RouteTable.defaultExtensions) throws(RoutingError) {
        self.routes = routes
        self.extensions = extensions
        for r in routes {
            guard Identifier.isSafe(r.tenant) else {
                throw RoutingError("route '\(r.name)': tenant '\(r.tenant)' must be letters, digits, '_' or '-'")
            }
            guard Identifier.isSafe(r.table), !r.table.contains("-") else {
                throw RoutingError("route '\(r.name)': table '\(r.table)' must be letters, digits and '_' (at most 64)")
            }
        }
        var seen = Set<String>()
        for r in routes where !seen.insert(r.name).inserted {
            throw RoutingError("route name '\(r.name)' is used twice; names must be unique")
        }
    }

    struct File: Decodable {
        var routes: [Route]
        var extensions: [String]?
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
        } catch {
            throw RoutingError("\(source) is not a valid routes file: \(error)")
        }
        return try RouteTable(routes: file.routes, extensions: file.extensions ?? defaultExtensions)
    }

    /// The route for an object key, or why there is none.
    public func route(forKey key: String) throws(RoutingError) -> Route {
        let parts = key.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "data", !parts[0].isEmpty, !parts[2].isEmpty else {
            throw RoutingError("key '\(key)' is not under <tenant>/data/<file>; move the file under its tenant's data/ prefix")
        }
        let tenant = String(parts[0])
        let file = String(parts[2])
        let lower = file.lowercased()
        guard extensions.contains(where: { lower.hasSuffix($0) }) else {
            throw RoutingError("file '\(file)' has an extension that is not accepted (accepted: \(extensions.joined(separator: ", ")))")
        }
        // Compression is transparent: a route for "orders*.csv" also takes "orders-1.csv.gz".
        let plain = lower.hasSuffix(".gz") ? String(file.dropLast(3)) : file
        guard let route = routes.first(where: {
            $0.tenant == tenant && (Glob.matches($0.pattern, file) || Glob.matches($0.pattern, plain))
        }) else {
            throw RoutingError("no route for '\(file)' of tenant '\(tenant)': add a route with tenant '\(tenant)' and a pattern matching it to the routes file")
        }
        return route
    }
}

enum Identifier {
    /// Tenants and tables: ASCII letters, digits, '_' and '-', 1…64 characters. Never SQL.
    static func isSafe(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D
        }
    }
}

enum Glob {
    /// `*` matches any run of characters except '/', `?` exactly one; everything else literally.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0, ti = 0
        var star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" && t[ti] != "/" || p[pi] == t[ti]) && p[pi] != "*" {
                pi += 1; ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 && t[mark] != "/" {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
