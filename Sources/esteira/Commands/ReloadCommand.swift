import ArgumentParser
import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import Foundation

/// `s3://bucket/key` with an optional `?versionId=…` at the end (a key may itself hold a `?`).
struct VersionedS3URI {
    var bucket: String
    var key: String
    var versionID: String?

    init?(_ text: String) {
        var rest = text
        var version: String?
        if let marker = text.range(of: "?versionId=", options: .backwards) {
            let value = String(text[marker.upperBound...])
            guard !value.isEmpty else { return nil }
            version = value.removingPercentEncoding ?? value
            rest = String(text[..<marker.lowerBound])
        }
        guard let uri = S3URI(rest) else { return nil }
        bucket = uri.bucket
        key = uri.key
        versionID = version
    }

    var display: String { "s3://\(bucket)/\(key)" + (versionID.map { "?versionId=\($0)" } ?? "") }
}

/// What reload and unload share: the route, its source column, the ledger's attempts.
struct LoadUndoContext {
    let route: Route
    let sourceColumn: String
    let uri: VersionedS3URI
    let aws: AWSClient
    let connections: PipelineConnectionPool

    static func open(source: String, routeName: String, routesPath: String) throws -> LoadUndoContext {
        let table: RouteTable
        do { table = try RouteTable.load(path: routesPath) } catch { throw UserFacingError("\(error)") }
        guard let route = table.routes.first(where: { $0.name == routeName }) else {
            throw UserFacingError(
                "no route '\(routeName)' in \(routesPath); routes there: \(table.routes.map(\.name).joined(separator: ", "))"
            )
        }
        if let refusal = route.reloadRefusal { throw UserFacingError(refusal) }
        guard let sourceColumn = route.reloadSourceColumn else {
            throw UserFacingError("route '\(routeName)' has no source column")
        }
        guard let uri = VersionedS3URI(source) else {
            throw UserFacingError("\(source) is not an s3://bucket/key address (optionally ending in ?versionId=…)")
        }
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let connections = try WorkerCommand.mysqlConnections(aws: aws, maxIdle: 1, logger: logger)
        return LoadUndoContext(route: route, sourceColumn: sourceColumn, uri: uri, aws: aws, connections: connections)
    }

    func attempts() async throws -> [LoadAttempt] {
        try await connections.withConnection {
            try await $0.loadAttempts(bucket: uri.bucket, key: uri.key, table: route.table)
        }
    }

    func countRows(_ ids: [UInt64]) async throws -> Int {
        try await connections.withConnection {
            try await $0.countRows(table: route.table, sourceColumn: sourceColumn, ledgerIDs: ids)
        }
    }

    static func json(_ attempts: [LoadAttempt]) -> [[String: Any]] {
        attempts.map {
            [
                "ledger_id": $0.ledgerID, "version": $0.version, "generation": $0.generation, "state": $0.state,
                "rows_loaded": $0.rowsLoaded, "rows_rejected": $0.rowsRejected,
                "loaded_at": ISO8601DateFormatter().string(from: $0.loadedAt),
            ] as [String: Any]
        }
    }

    static func printAttempts(_ attempts: [LoadAttempt]) {
        Output.table(
            ["ledger id", "version", "generation", "state", "rows", "loaded at"],
            attempts.map {
                [
                    String($0.ledgerID), Output.truncate($0.version, 40), String($0.generation), $0.state,
                    String($0.rowsLoaded),
                    ISO8601DateFormatter().string(from: $0.loadedAt),
                ]
            })
    }
}

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Load a version that was loaded before again (after a contract or table fix), replacing its rows.",
        discussion: """
            In one transaction the rows of the earlier load (and of the file's other versions, as
            replace-by-file does) are deleted and the version is loaded anew; the ledger keeps both attempts
            (the earlier one marked superseded, the new one with the next generation). A delivery of the same
            version that arrives meanwhile waits and is then reported as already loaded: rows are never doubled.
            The route must be load_mode: replace-by-file with a source_column; otherwise reload refuses and
            prints what to add. Without --yes it only says what it would do (exit 1).

            Without ?versionId= the object's current version is reloaded.

            Examples:
              esteira reload s3://esteira-landing/acme/data/orders.csv --route acme-orders
              esteira reload "s3://esteira-landing/acme/data/orders.csv?versionId=3HL4kqtJlcpXroDTDmJ" --route acme-orders --yes --json
            """)

    @Argument(help: "s3://bucket/key, optionally ending in ?versionId=…") var source: String
    @Option(help: "Route name from the routes file.") var route: String
    @Option(help: "Routes file (env ESTEIRA_ROUTES).") var routes: String = env("ESTEIRA_ROUTES") ?? "routes.yaml"
    @Flag(help: "Do it; without this, only say what would happen.") var yes = false
    @Flag(help: "Print JSON for scripts.") var json = false

    func run() async throws {
        let context = try LoadUndoContext.open(source: source, routeName: route, routesPath: routes)
        let s3 = S3Client(client: context.aws)
        let uri = context.uri
        let head: S3ObjectInfo
        do { head = try await s3.headObject(bucket: uri.bucket, key: uri.key, versionID: uri.versionID) } catch {
            throw UserFacingError("\(uri.display): \(error)")
        }
        let object = SourceObject(
            bucket: uri.bucket, key: uri.key, versionID: head.versionID ?? uri.versionID, eTag: head.eTag)
        let before = try await context.attempts()
        let loadedIDs = before.filter { $0.state == "loaded" }.map(\.ledgerID)
        let toRemove = try await context.countRows(loadedIDs)
        let earlier = before.filter { $0.version == object.version }
        let table = context.route.table

        guard yes else {
            if json {
                Output.json(
                    [
                        "source": uri.display, "version": object.version, "table": table, "done": false,
                        "rows_to_remove": toRemove, "attempts": LoadUndoContext.json(before),
                    ] as [String: Any])
            } else {
                print(
                    "would delete \(toRemove) row(s) of s3://\(uri.bucket)/\(uri.key) from \(table) and load version \(object.version) again"
                        + (earlier.isEmpty
                            ? " (this version has no ledger row yet)"
                            : " (attempt \(earlier.map(\.generation).max().map { $0 + 1 } ?? 1))"))
                if !before.isEmpty { LoadUndoContext.printAttempts(before) }
                print("nothing done: add --yes to reload")
            }
            fflush(nil)  // the exit that follows does not flush a piped stdout
            throw ExitCode(1)
        }
        let pipeline = FilePipeline(
            s3: s3, connections: context.connections, routes: try RouteTable(routes: [context.route]),
            logger: bootstrapLogging())
        let outcome: FileOutcome
        do {
            outcome = try await pipeline.load(.object(object), route: context.route, fencingToken: 0, reload: true)
        } catch {
            throw UserFacingError("\(uri.display): \(error); nothing was changed")
        }
        let after = try await context.attempts()
        if json {
            var result: [String: Any] = [
                "source": uri.display, "version": object.version, "table": table, "done": true,
                "already_loaded": outcome.alreadyLoaded,
                "rows_removed": outcome.rowsReplaced, "rows_loaded": outcome.rowsLoaded,
                "rows_rejected": outcome.rowsRejected, "attempts": LoadUndoContext.json(after),
            ]
            if let r = outcome.rejectsURI { result["rejects"] = r }
            Output.json(result)
        } else if outcome.alreadyLoaded {
            print("\(uri.display): a concurrent load of this version committed first; nothing written")
        } else {
            print(
                "\(uri.display): \(outcome.rowsReplaced) row(s) deleted, \(outcome.rowsLoaded) loaded into \(table), \(outcome.rowsRejected) refused"
                    + (outcome.rejectsURI.map { " (\($0))" } ?? ""))
            LoadUndoContext.printAttempts(after)
        }
    }
}

struct UnloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unload",
        abstract: "Remove the rows a file's load inserted and mark its ledger row unloaded.",
        discussion: """
            In one transaction the rows whose source column holds the load's ledger id are deleted and its
            ledger row is marked unloaded. The row keeps the version's place in the ledger, so a later delivery
            of the same version is NOT loaded again by the workers (it is reported as already loaded); run
            `esteira reload` to load it again. A new version of the file loads as usual.
            Needs load_mode: replace-by-file with a source_column on the route. Without ?versionId= the latest
            loaded version is unloaded. Without --yes it only says what it would do (exit 1).

            Example:
              esteira unload s3://esteira-landing/acme/data/orders.csv --route acme-orders --yes
            """)

    @Argument(help: "s3://bucket/key, optionally ending in ?versionId=…") var source: String
    @Option(help: "Route name from the routes file.") var route: String
    @Option(help: "Routes file (env ESTEIRA_ROUTES).") var routes: String = env("ESTEIRA_ROUTES") ?? "routes.yaml"
    @Flag(help: "Do it; without this, only say what would happen.") var yes = false
    @Flag(help: "Print JSON for scripts.") var json = false

    func run() async throws {
        let context = try LoadUndoContext.open(source: source, routeName: route, routesPath: routes)
        let uri = context.uri
        let table = context.route.table
        let before = try await context.attempts()
        let loaded = before.filter { $0.state == "loaded" && (uri.versionID == nil || $0.version == uri.versionID) }
        guard let target = loaded.last else {
            let what = uri.versionID.map { "version \($0) of " } ?? ""
            throw UserFacingError(
                "no loaded \(what)s3://\(uri.bucket)/\(uri.key) in \(table) according to the ledger"
                    + (before.isEmpty
                        ? ""
                        : " (attempts: " + before.map { "\($0.version) \($0.state)" }.joined(separator: ", ") + ")"))
        }
        let rows = try await context.countRows([target.ledgerID])
        guard yes else {
            if json {
                Output.json(
                    [
                        "source": uri.display, "version": target.version, "table": table, "done": false,
                        "ledger_id": target.ledgerID, "rows_to_remove": rows,
                        "attempts": LoadUndoContext.json(before),
                    ] as [String: Any])
            } else {
                print(
                    "would delete \(rows) row(s) of s3://\(uri.bucket)/\(uri.key) version \(target.version) (ledger id \(target.ledgerID)) from \(table) and mark it unloaded"
                )
                print("nothing done: add --yes to unload")
            }
            fflush(nil)  // the exit that follows does not flush a piped stdout
            throw ExitCode(1)
        }
        let deleted: Int
        do {
            deleted = try await context.connections.withConnection {
                try await $0.unloadFile(table: table, sourceColumn: context.sourceColumn, ledgerID: target.ledgerID)
            }
        } catch {
            throw UserFacingError("\(uri.display): \(error); nothing was changed")
        }
        let after = try await context.attempts()
        if json {
            Output.json(
                [
                    "source": uri.display, "version": target.version, "table": table, "done": true,
                    "ledger_id": target.ledgerID, "rows_removed": deleted,
                    "attempts": LoadUndoContext.json(after),
                ] as [String: Any])
        } else {
            print(
                "\(uri.display): \(deleted) row(s) deleted from \(table); ledger id \(target.ledgerID) marked unloaded")
            LoadUndoContext.printAttempts(after)
        }
    }
}
