import ArgumentParser
import EsteiraAWS
import EsteiraPipeline
import EsteiraWorker
import Foundation

struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Find files that landed but were never loaded: exit 1 when there are any.",
        discussion: """
            Lists the objects older than --older-than (under every landing bucket's <tenant>/data/ for the tenants of \
            the routes file, or under the s3:// prefix given) that have no row in the MySQL ledger, no job in \
            progress (RUNNING or RECEIVED in the jobs table) and no dead letter, and prints each with its age and \
            the `esteira backfill` command that queues it. Meant for a cron job (the Helm chart has one): \
            exit 0 when every file is accounted for, 1 when some are missing, 2 when it could not check.

            "No dead letter" is read from the jobs table: a file is dead-lettered exactly when its item is FAILED. \
            Reading the dead-letter queue itself would receive each message, which raises its receive count and \
            hides it from `esteira dlq list` and `dlq replay` for the visibility timeout. (A FAILED item whose dead \
            letter expired — SQS keeps them at most 14 days — still counts as dead-lettered; `esteira jobs --status \
            failed` lists those.)

            Examples:
              esteira reconcile
              esteira reconcile --older-than 1h --json
              esteira reconcile s3://esteira-landing/acme/data/ --older-than 30m
            """)

    @OptionGroup var resources: ResourceOptions
    @Argument(help: "s3://bucket/prefix/ to check instead of the landing buckets' tenant data prefixes.") var target:
        String?
    @Option(
        name: .customLong("older-than"), help: "Only objects last modified at least this long ago (90s, 15m, 2h, 1d).")
    var olderThan: String = "15m"
    @Option(help: "Routes file (env ESTEIRA_ROUTES).") var routes: String = env("ESTEIRA_ROUTES") ?? "routes.yaml"
    @Flag(help: "Print JSON for scripts.") var json = false

    func validate() throws {
        if let target, S3Prefix(target) == nil {
            throw ValidationError("'\(target)' is not an s3://bucket/prefix/ address")
        }
        guard Self.seconds(olderThan) != nil else {
            throw ValidationError("--older-than '\(olderThan)' is not a duration (90s, 15m, 2h, 1d)")
        }
    }

    static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t.hasSuffix("d"), let n = Double(t.dropLast()), n.isFinite, n >= 0 { return n * 86400 }
        return DurationText.seconds(t)
    }

    func run() async throws {
        do {
            try await check()
        } catch let e as ExitCode {
            throw e
        } catch {
            // Exit 1 means "files are missing": a check that could not run must not look like that, nor like 0.
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    func check() async throws {
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let context = try OperationsContext(resources: resources, routes: routes, aws: aws, logger: logger)
        try await context.probe()
        let landing = try resources.landingBuckets()
        var prefixes: [S3Prefix] = []
        if let target {
            let p = S3Prefix(target)!
            guard landing.names.contains(p.bucket) else {
                throw UserFacingError(OperationsContext.notLanding(p.bucket, landing))
            }
            prefixes = [p]
        } else {
            for bucket in landing.names {
                for tenant in context.tenants { prefixes.append(S3Prefix("s3://\(bucket)/\(tenant)/data/")!) }
            }
        }
        let now = Date()
        let before = now.addingTimeInterval(-Self.seconds(olderThan)!)
        var tally = Tally()
        var missing: [BackfillObject] = []  // the first Tally.listed, to print
        var missingCount = 0
        do {
            for p in prefixes {
                try await context.scanner.scan(bucket: p.bucket, prefix: p.prefix, before: before) { page in
                    tally.add(page)
                    let found = page.filter { $0.outcome == .toQueue }
                    missingCount += found.count
                    missing += found.prefix(Tally.listed - missing.count)
                    Output.progress(tally.found, "checked; \(missingCount) missing  s3://\(p.bucket)/\(p.prefix)")
                }
            }
        } catch {
            Output.endProgress()
            throw UserFacingError("reconcile could not check: \(error)")
        }
        Output.endProgress()
        await context.mysql.close()
        func command(_ o: BackfillObject) -> String {
            "esteira backfill " + Self.shellQuoted("s3://\(o.event.bucket)/\(o.event.key)")
        }
        if json {
            var o = tally.json
            o["older_than"] = olderThan
            o["checked"] = prefixes.map { "s3://\($0.bucket)/\($0.prefix)" }
            o["missing_count"] = missingCount
            o["missing"] = missing.map { m -> [String: Any] in
                [
                    "file": m.event.uri,
                    "age_seconds": m.lastModified.map { Int(now.timeIntervalSince($0)) } ?? NSNull(),
                    "last_modified": m.lastModified.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
                    "backfill": command(m),
                ]
            }
            Output.json(o)
        } else if missing.isEmpty {
            print(
                "every file older than \(olderThan) is loaded, in progress or dead-lettered (\(tally.found) checked, "
                    + "\(tally.failed) dead-lettered, \(tally.inProgress) in progress, \(tally.skipped.count) skipped)")
        } else {
            print(
                "\(missingCount) file(s) older than \(olderThan) were never loaded and are not queued or dead-lettered:"
            )
            Output.table(
                ["AGE", "FILE", "TO QUEUE IT"],
                missing.map { [Output.age($0.lastModified), $0.event.uri, command($0)] })
            let dirs = Set(
                missing.map { m in
                    "s3://\(m.event.bucket)/"
                        + (m.event.key.range(of: "/", options: .backwards).map { String(m.event.key[..<$0.upperBound]) }
                            ?? "")
                }
            ).sorted()
            if missingCount > missing.count {
                print("… and \(missingCount - missing.count) more (--json lists the same first \(Tally.listed))")
            }
            print("\nor all at once (queues only what is missing):")
            for d in dirs { print("  esteira backfill \(Self.shellQuoted(d))") }
        }
        if !missing.isEmpty { throw ExitCode(1) }
    }

    static func shellQuoted(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "/:._-".contains($0) })
            ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
