import ArgumentParser
import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL
import EsteiraPipeline
import Foundation

struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract:
            "Run one file through a route without the queue; --dry-run shows what would happen and writes nothing.",
        discussion: """
            --dry-run reads the file (local or s3://) as the worker would and prints the detected compression,
            charset and dialect, the columns (contract or header), the first cleaned rows and the refused rows.

            Without --dry-run the file is loaded exactly as a worker would, in one transaction with its row in
            the MySQL ledger, so a file loaded before is reported as already loaded and nothing is written twice.
            An s3:// file is keyed on its object version and its refused rows go to s3://<bucket>/esteira-rejects/;
            a local file is keyed on its path and the SHA-256 of its bytes, and its refused rows go beside it as
            <file>.rejects.csv. MySQL comes from ESTEIRA_MYSQL_URL or ESTEIRA_MYSQL_SECRET_ARN, as for the worker.

            Exit status: 0 loaded (or already loaded), 1 the file did not load (the reason is printed).

            Examples:
              esteira load examples/files/lojas/data/vendas-2026-11-03.csv --route lojas-vendas --dry-run
              esteira load exports/vendas-2026-11-03.csv --route lojas-vendas
              esteira load "s3://esteira-landing/acme/data/orders 2026-11-02.csv" --route acme-orders --json
            """)

    @Argument(help: "A local file or s3://bucket/key.") var source: String
    @Option(help: "Route name from the routes file.") var route: String
    @Option(help: "Routes file (env ESTEIRA_ROUTES).") var routes: String = env("ESTEIRA_ROUTES") ?? "routes.yaml"
    @Flag(name: .customLong("dry-run"), help: "Read, type and clean; write nothing.") var dryRun = false
    @Option(help: "Cleaned rows to show with --dry-run.") var rows: Int = 10
    @Flag(help: "Print JSON for scripts.") var json = false

    func run() async throws {
        let table: RouteTable
        do { table = try RouteTable.load(path: routes) } catch { throw UserFacingError("\(error)") }
        guard let chosen = table.routes.first(where: { $0.name == route }) else {
            throw UserFacingError(
                "no route '\(route)' in \(routes); routes there: \(table.routes.map(\.name).joined(separator: ", "))")
        }
        if dryRun { try await preview(chosen) } else { try await load(chosen) }
    }

    /// Streams the source's chunks (local file or S3) to `body`.
    func chunks(_ body: ([UInt8]) throws -> Void) async throws {
        if let uri = S3URI(source) {
            let aws = try makeAWSClient(logger: bootstrapLogging())
            let (_, stream) = try await S3Client(client: aws).getObjectStream(bucket: uri.bucket, key: uri.key)
            for try await chunk in stream { try body(chunk) }
            return
        }
        let file: LocalFileBytes
        do { file = try LocalFileBytes(path: source) } catch {
            throw UserFacingError("\(error.message); give a readable local file or an s3://bucket/key address")
        }
        defer { file.cancel() }
        while let chunk = try await file.next() { try body(chunk) }
    }

    func preview(_ route: Route) async throws {
        let reader = try CSVReader(options: try route.readOptions())
        var columns: [String] = []
        var shown: [[String]] = []
        var refused: [RejectedRow] = []
        let sink: (CSVReadEvent) -> Void = { event in
            switch event {
            case .columns(let c): columns = c
            case .row(let r): if shown.count < rows { shown.append(r.strings.map { $0 ?? "NULL" }) }
            case .rejected(let r): if refused.count < 20 { refused.append(r) }
            }
        }
        do {
            try await chunks { try reader.consume($0, sink) }
            let summary = try reader.finish(sink)
            let d = summary.dialect
            let quote = d.quote.map { String(UnicodeScalar($0)) } ?? "none"
            if json {
                return Output.json(
                    [
                        "route": route.name, "table": route.table, "tenant": route.tenant, "dry_run": true,
                        "compression": "\(summary.compression)", "charset": "\(summary.charset)",
                        "delimiter": String(UnicodeScalar(d.delimiter)), "quote": quote, "header": summary.hasHeader,
                        "columns": columns, "rows": summary.rows, "rejected": summary.rejected,
                        "duplicates": summary.duplicates, "empty_rows": summary.emptyRows,
                        "sample": shown.map { Dictionary(zip(columns, $0), uniquingKeysWith: { a, _ in a }) },
                        "refused": refused.map {
                            ["line": $0.line, "reason": $0.reason, "raw": $0.raw] as [String: Any]
                        },
                    ] as [String: Any])
            }
            print(
                "route       \(route.name) → table \(route.table) (tenant \(route.tenant), mode \(route.loadMode ?? "append"))"
            )
            print(
                "read as     compression \(summary.compression), charset \(summary.charset), delimiter \(String(UnicodeScalar(d.delimiter)).debugDescription), quote \(quote), header \(summary.hasHeader ? "yes" : "no")"
            )
            print(
                "columns     \(columns.joined(separator: ", "))\(route.contract == nil ? "   (no contract: loaded as text)" : "")"
            )
            print(
                "rows        \(summary.rows) clean, \(summary.rejected) refused, \(summary.duplicates) duplicate, \(summary.emptyRows) empty\n"
            )
            Output.table(columns, shown)
            if !refused.isEmpty {
                print("\nrefused rows (line: reason):")
                for r in refused { print("  \(r.line): \(r.reason)\n      \(Output.truncate(r.raw, 120))") }
            }
            print("\ndry run: nothing was written")
        } catch let e as CSVReadError {
            throw UserFacingError("\(source) cannot be read with route '\(route.name)': \(e)")
        }
    }

    func load(_ route: Route) async throws {
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let s3 = S3Client(client: aws)
        let input: FileInput
        var size: Int64?
        if let uri = S3URI(source) {
            let head: S3ObjectInfo
            do { head = try await s3.headObject(bucket: uri.bucket, key: uri.key) } catch {
                throw UserFacingError("\(source): \(error)")
            }
            input = .object(SourceObject(bucket: uri.bucket, key: uri.key, versionID: head.versionID, eTag: head.eTag))
            size = head.size
        } else {
            do {
                let file = try await LocalFile.fingerprint(path: source)
                input = .localFile(file)
                size = file.size
            } catch {
                throw UserFacingError("\(error.message); give a readable local file or an s3://bucket/key address")
            }
        }
        let mysql = try WorkerCommand.mysqlConnections(aws: aws, maxIdle: 1, logger: logger)
        let pipeline = FilePipeline(s3: s3, connections: mysql, routes: try RouteTable(routes: [route]), logger: logger)
        let label = input.uri
        let total = size
        do {
            let outcome = try await pipeline.load(
                input, route: route, fencingToken: 0,
                progress: { bytes in
                    Output.progress(bytes, total, label)
                })
            Output.endProgress()
            if json {
                var object: [String: Any] = [
                    "source": input.uri, "table": outcome.table, "already_loaded": outcome.alreadyLoaded,
                    "rows_loaded": outcome.rowsLoaded, "rows_rejected": outcome.rowsRejected,
                    "rows_duplicate": outcome.rowsDuplicate, "rows_empty": outcome.rowsEmpty,
                    "bytes_read": outcome.bytesRead,
                ]
                if let r = outcome.rejectsURI { object["rejects"] = r }
                if outcome.rowsReplaced > 0 { object["rows_replaced"] = outcome.rowsReplaced }
                if !outcome.columnsAdded.isEmpty { object["columns_added"] = outcome.columnsAdded }
                Output.json(object)
            } else if outcome.alreadyLoaded {
                print("\(source): this version was loaded before; nothing written")
            } else {
                print(
                    "\(source): \(outcome.rowsLoaded) row(s) into \(outcome.table), \(outcome.rowsRejected) refused"
                        + (outcome.rejectsURI.map { " (\($0))" } ?? ""))
            }
        } catch {
            Output.endProgress()
            throw UserFacingError("\(source): \(error)")
        }
    }
}
