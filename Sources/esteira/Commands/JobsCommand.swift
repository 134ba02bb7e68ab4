import ArgumentParser
import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import EsteiraWorker
import Foundation

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List files Esteira has seen, or everything known about one file.",
        discussion: """
            Examples:
              esteira jobs --tenant acme --status failed --since 24h
              esteira jobs show "s3://esteira-landing/acme/data/orders 2026-11-02.csv"
            """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self)

    static func history(_ r: ResourceOptions) throws -> (JobHistory, AWSClient) {
        let aws = try makeAWSClient(logger: bootstrapLogging())
        return (JobHistory(dynamo: DynamoDBClient(client: aws), table: r.jobsTable), aws)
    }

    static func json(_ j: JobRecord) -> [String: Any] {
        func iso(_ d: Date?) -> Any { d.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull() }
        return [
            "file": j.uri, "version": j.version, "status": j.status, "attempt": j.attempt, "owner": j.owner ?? NSNull(),
            "received_at": iso(j.receivedAt), "started_at": iso(j.startedAt), "finished_at": iso(j.finishedAt),
            "rows_loaded": j.rowsLoaded ?? NSNull(), "rows_rejected": j.rowsRejected ?? NSNull(),
            "error": j.error ?? NSNull(), "last_error": j.lastError ?? NSNull(), "already_loaded": j.alreadyLoaded,
        ]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List jobs, newest first.",
            discussion: "Example:\n  esteira jobs --tenant acme --status failed --since 24h --json")
        @OptionGroup var resources: ResourceOptions
        @Option(help: "Only this tenant's files.") var tenant: String?
        @Option(help: "RECEIVED, RUNNING, SUCCEEDED or FAILED.") var status: String?
        @Option(help: "Only files that arrived within this long: 90m, 24h, 7d, or a date (2026-11-28).") var since:
            String?
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            if let status, !["RECEIVED", "RUNNING", "SUCCEEDED", "FAILED"].contains(status.uppercased()) {
                throw ValidationError("--status must be RECEIVED, RUNNING, SUCCEEDED or FAILED")
            }
            if let since, Since.parse(since) == nil {
                throw ValidationError("--since '\(since)' is not a duration (90m, 24h, 7d) or a date (2026-11-28)")
            }
        }

        func run() async throws {
            let (history, _) = try JobsCommand.history(resources)
            let jobs = try await history.jobs(tenant: tenant, status: status, since: since.flatMap(Since.parse))
            if json {
                Output.json(jobs.map(JobsCommand.json))
                return
            }
            if jobs.isEmpty {
                print("No jobs match.")
                return
            }
            Output.table(
                ["STATUS", "AGE", "TRY", "ROWS", "REJECTED", "FILE", "ERROR"],
                jobs.map {
                    [
                        $0.status, Output.age($0.receivedAt), String($0.attempt), $0.rowsLoaded.map(String.init) ?? "-",
                        $0.rowsRejected.map(String.init) ?? "-", $0.uri,
                        Output.truncate($0.error ?? $0.lastError ?? "", 60),
                    ]
                })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Everything known about one file: arrival, claims, attempts, outcome, rows, rejects, DLQ.",
            discussion: "Example:\n  esteira jobs show \"s3://esteira-landing/acme/data/orders 2026-11-02.csv\"")
        @OptionGroup var resources: ResourceOptions
        @Argument(help: "s3://bucket/key") var uri: String
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard S3URI(uri) != nil else { throw ValidationError("'\(uri)' is not an s3://bucket/key address") }
        }

        func run() async throws {
            let target = S3URI(uri)!
            let (history, aws) = try JobsCommand.history(resources)
            let versions = try await history.versions(bucket: target.bucket, key: target.key)
            let rejectsKey = FilePipeline.rejectsKey(for: target.key)
            let rejects = try? await S3Client(client: aws).headObject(bucket: target.bucket, key: rejectsKey)
            var deadLetters: [DeadLetter] = []
            if let op = try? await DLQCommand.makeOperator(resources) {
                deadLetters = (try? await op.list().filter { $0.key == target.key }) ?? []
            }
            var ledger: [[String?]] = []
            if let url = env("ESTEIRA_MYSQL_URL"), let config = try? MySQLConfig(url: url),
                let c = try? await MySQLConnection.connect(config)
            {
                let q =
                    "SELECT object_key, version, fencing_token, rows_loaded, rows_rejected, loaded_at FROM esteira_ledger "
                    + "WHERE bucket = \(c.literal(target.bucket)) AND object_key = \(c.literal(target.key)) ORDER BY loaded_at"
                ledger = (try? await c.query(q).rows) ?? []
                await c.close()
            }
            if json {
                Output.json([
                    "file": uri, "versions": versions.map(JobsCommand.json),
                    "rejects": rejects == nil ? NSNull() : "s3://\(target.bucket)/\(rejectsKey)" as Any,
                    "dead_letters": deadLetters.map(DLQCommand.json),
                    "mysql_ledger": ledger.map { $0.map { $0 ?? "" } },
                ])
                return
            }
            print(uri)
            if versions.isEmpty { print("  never seen by a worker (no item in \(resources.jobsTable))") }
            for v in versions {
                print("  version \(v.version): \(v.status) after \(v.attempt) attempt(s)")
                print(
                    "    arrived \(v.receivedAt.map { "\($0)" } ?? "-"), last claim \(v.startedAt.map { "\($0)" } ?? "-") by \(v.owner ?? "-")"
                )
                if let f = v.finishedAt { print("    finished \(f)") }
                if let r = v.rowsLoaded {
                    print(
                        "    rows loaded \(r), rejected \(v.rowsRejected ?? 0)\(v.alreadyLoaded ? " (a duplicate delivery: nothing new written)" : "")"
                    )
                }
                if let e = v.error { print("    error: \(e)") }
                if let e = v.lastError, v.status != "SUCCEEDED" { print("    last transient error: \(e)") }
            }
            print("  rejects file: \(rejects == nil ? "none" : "s3://\(target.bucket)/\(rejectsKey)")")
            print(
                "  in the dead-letter queue: \(deadLetters.isEmpty ? "no" : deadLetters.map { "\($0.id) (\($0.code))" }.joined(separator: ", "))"
            )
            if !ledger.isEmpty {
                print("  MySQL ledger:")
                for row in ledger { print("    " + row.map { $0 ?? "NULL" }.joined(separator: "  ")) }
            }
        }
    }
}

/// `s3://bucket/key`.
struct S3URI {
    var bucket: String
    var key: String
    init?(_ s: String) {
        guard s.hasPrefix("s3://") else { return nil }
        let rest = s.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex, rest.index(after: slash) != rest.endIndex
        else { return nil }
        bucket = String(rest[..<slash])
        key = String(rest[rest.index(after: slash)...])
    }
}

enum Since {
    /// 90m, 24h, 7d → that long ago; 2026-11-28 → that day at 00:00 UTC.
    static func parse(_ s: String) -> Date? {
        if let unit = s.last, let n = Double(s.dropLast()), n >= 0 {
            switch unit {
            case "m": return Date().addingTimeInterval(-n * 60)
            case "h": return Date().addingTimeInterval(-n * 3600)
            case "d": return Date().addingTimeInterval(-n * 86400)
            default: break
            }
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate]
        return f.date(from: s) ?? ISO8601DateFormatter().date(from: s)
    }
}
