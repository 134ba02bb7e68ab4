import Foundation
import Yams

/// One problem in a routes file, with the line it is on.
public struct RoutesProblem: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// Checks a routes file and points at the line of every problem, for `esteira routes check`.
///
/// Each route is checked on its own with the same decoding and rules the worker applies at start-up,
/// so the linter can never accept a file the worker refuses, and needs no copy of the rules.
public enum RoutesLinter {
    public static func check(yaml: String) -> [RoutesProblem] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            return [RoutesProblem(line: line(of: e), message: "not valid YAML: \(e)")]
        } catch {
            return [RoutesProblem(line: 1, message: "not valid YAML: \(error)")]
        }
        guard let root, let top = root.mapping else {
            return [
                RoutesProblem(line: root?.mark?.line ?? 1, message: "the file must be a mapping with a `routes:` list")
            ]
        }
        guard let routesNode = top["routes"] else {
            return [RoutesProblem(line: root.mark?.line ?? 1, message: "no `routes:` key; list the routes under it")]
        }
        guard let routes = routesNode.sequence else {
            return [RoutesProblem(line: routesNode.mark?.line ?? 1, message: "`routes:` must be a list of routes")]
        }
        var problems: [RoutesProblem] = []
        var names: [String: Int] = [:]
        var tables: [String: (String, Int)] = [:]
        // The file's other top-level keys (extensions …) apply to every route: keep them for each check.
        var shared = top
        // A misspelt top-level key is named once here, not again with every route.
        let known: Set<String> = ["routes", "extensions", "load_budget", "fair_share"]
        for (key, _) in top {
            guard let name = key.string, !known.contains(name) else { continue }
            problems.append(
                RoutesProblem(
                    line: key.mark?.line ?? 1,
                    message:
                        "unknown top-level key '\(name)'; the keys are routes, extensions, load_budget, fair_share"))
            shared[key] = nil
        }
        shared["routes"] = nil
        // The budget names tables of all routes: checked once, below, against every route's table.
        shared["load_budget"] = nil
        // `fair_share:` names tenants of the whole file: checked once below, not with each route.
        let fairShareNode = shared["fair_share"]
        shared["fair_share"] = nil
        var tenants = Set<String>()
        for node in routes {
            let line = node.mark?.line ?? routesNode.mark?.line ?? 1
            var single = shared
            single["routes"] = Node.sequence(Node.Sequence([node]))
            do {
                let text = try Yams.serialize(node: Node.mapping(single))
                let table = try RouteTable.parse(yaml: text, source: "route")
                if let r = table.routes.first {
                    tenants.insert(r.tenant)
                    let key = r.table.lowercased()
                    if let (tenant, first) = tables[key], tenant != r.tenant {
                        problems.append(
                            RoutesProblem(
                                line: line,
                                message:
                                    "route '\(r.name)': table '\(r.table)' already belongs to tenant '\(tenant)' (line \(first)); each tenant needs its own tables"
                            ))
                    } else if tables[key] == nil {
                        tables[key] = (r.tenant, line)
                    }
                }
                if let name = table.routes.first?.name {
                    if let first = names[name] {
                        problems.append(
                            RoutesProblem(
                                line: line,
                                message:
                                    "route name '\(name)' is used twice (first on line \(first)); names must be unique")
                        )
                    } else {
                        names[name] = line
                    }
                }
            } catch {
                problems.append(
                    RoutesProblem(
                        line: line,
                        message: "\(error)".replacingOccurrences(of: "route is not a valid routes file: ", with: "")))
            }
        }
        if let budget = top["load_budget"] {
            let line = budget.mark?.line ?? 1
            do {
                let text = try Yams.serialize(node: Node.mapping(Node.Mapping([("load_budget", budget)])))
                let config = try YAMLDecoder().decode(BudgetOnly.self, from: text).loadBudget
                try config.check(tables: Array(tables.keys))
            } catch let error as RoutingError {
                problems.append(RoutesProblem(line: line, message: error.description))
            } catch {
                problems.append(RoutesProblem(line: line, message: "load_budget: \(error)"))
            }
        }
        if let fairShareNode {
            problems += fairShareProblems(fairShareNode, tenants: tenants)
        }
        if routes.isEmpty {
            problems.append(
                RoutesProblem(
                    line: routesNode.mark?.line ?? 1, message: "`routes:` is empty; no file would ever be loaded"))
        }
        return problems
    }

    private struct BudgetOnly: Decodable {
        var loadBudget: LoadBudgetConfig
        enum CodingKeys: String, CodingKey { case loadBudget = "load_budget" }
    }

    /// The `fair_share:` section, decoded and checked as the worker does, against every route's tenant.
    private static func fairShareProblems(_ node: Node, tenants: Set<String>) -> [RoutesProblem] {
        let line = node.mark?.line ?? 1
        do {
            let text = try Yams.serialize(node: node)
            let fairShare = try YAMLDecoder().decode(FairShare.self, from: text)
            try fairShare.check(tenants: tenants)
            return []
        } catch let error as RoutingError {
            return [RoutesProblem(line: line, message: error.description)]
        } catch {
            return [RoutesProblem(line: line, message: "fair_share: \(error)")]
        }
    }

    private static func line(of error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return 1
        }
    }
}
