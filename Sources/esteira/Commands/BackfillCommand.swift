import ArgumentParser
import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Logging

struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Queue the files under an s3:// prefix that were never loaded (history, or events that were lost).",
        discussion: """
            Lists the objects under the prefix and, for each one the MySQL ledger has no row for, sends the main \
            queue the same message S3 would have sent (ObjectCreated:Put with bucket, key, size, eTag and versionId). \
            The workers then load them as if they had just landed.

            Left alone: versions the ledger has (already loaded); files the jobs table shows a worker holding or \
            retrying (RUNNING, RECEIVED); files that failed (their message is in the dead-letter queue: use \
            `esteira dlq replay`); Esteira's own esteira-rejects/ output and keys no route matches (listed).

            Run twice, it queues nothing the second time for the files that loaded in between. A file queued but \
            not loaded yet may be queued again by a second run; the ledger still loads it once.

            Only landing buckets (--bucket, ESTEIRA_BUCKET) are accepted: a worker refuses events naming any other. \
            Exit status: 0 done, 1 some messages could not be sent (listed).

            Examples:
              esteira backfill s3://esteira-landing/acme/data/ --dry-run
              esteira backfill s3://esteira-landing/acme/data/ --since 2026-11-01 --rate 50
              esteira backfill s3://esteira-landing/ --json | jq .queued
            """)

    @OptionGroup var resources: ResourceOptions
    @Argument(help: "s3://bucket/prefix/ (a landing bucket; the prefix may be empty).") var target: String
    @Option(help: "Only objects last modified since then: a date (2026-11-01) or a duration ago (7d, 24h, 90m).")
    var since: String?
    @Option(help: "At most this many messages per second (e.g. 50 or 50/s).") var rate: String?
    @Option(help: "Routes file (env ESTEIRA_ROUTES): keys no route matches are not queued.") var routes: String =
        env("ESTEIRA_ROUTES") ?? "routes.yaml"
    @Flag(name: .customLong("dry-run"), help: "Show what would be queued; send nothing.") var dryRun = false
    @Flag(help: "Print JSON for scripts.") var json = false

    func validate() throws {
        guard S3Prefix(target) != nil else {
            throw ValidationError("'\(target)' is not an s3://bucket/prefix/ address")
        }
        if let since, Since.parse(since) == nil {
            throw ValidationError("--since '\(since)' is not a date (2026-11-01) or a duration (7d, 24h, 90m)")
        }
        if let rate, Self.rate(rate) == nil {
            throw ValidationError("--rate '\(rate)' must be a number of messages per second above 0 (50 or 50/s)")
        }
    }

    static func rate(_ text: String) -> Double? {
        var t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("/s") { t.removeLast(2) }
        guard let n = Double(t), n.isFinite, n > 0 else { return nil }
        return n
    }

    func run() async throws {
        let prefix = S3Prefix(target)!
        let landing = try resources.landingBuckets()
        guard landing.names.contains(prefix.bucket) else {
            throw UserFacingError(OperationsContext.notLanding(prefix.bucket, landing))
        }
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let scan = try OperationsContext(resources: resources, routes: routes, aws: aws, logger: logger)
        try await scan.probe()
        var queueURL = ""
        if !dryRun {
            do { queueURL = try await SQSClient(client: aws).getQueueURL(name: resources.queue) } catch let e
                as AWSError where e.code == .queueDoesNotExist
            {
                throw UserFacingError("queue '\(resources.queue)' does not exist: check --queue or run `esteira setup`")
            }
        }
        let sender = BackfillSender(sqs: SQSClient(client: aws), queueURL: queueURL, rate: rate.flatMap(Self.rate))
        let started = ContinuousClock.now
        var tally = Tally()
        var queued: [String] = []  // the first Tally.listed, for the report
        var queuedCount = 0
        var refused: [[String: String]] = []
        var scanned = 0
        do {
            try await scan.scanner.scan(bucket: prefix.bucket, prefix: prefix.prefix, since: since.flatMap(Since.parse))
            { page in
                scanned += page.count
                tally.add(page)
                let missing = page.filter { $0.outcome == .toQueue }.map(\.event)
                if dryRun {
                    queuedCount += missing.count
                    queued += missing.prefix(Tally.listed - queued.count).map(\.uri)
                    Output.progress(scanned, "scanned; \(queuedCount) to queue")
                    return
                }
                let r = try await sender.send(missing, started: started, alreadySent: queuedCount) { e in
                    queuedCount += 1
                    if queued.count < Tally.listed { queued.append(e.uri) }
                    Output.progress(scanned, "scanned; \(queuedCount) queued  \(e.key)")
                }
                refused += r.refused.prefix(Tally.listed - refused.count).map { ["file": $0.0.uri, "reason": $0.1] }
                Output.progress(scanned, "scanned; \(queuedCount) queued")
            }
        } catch let e as UserFacingError {
            throw e
        } catch {
            Output.endProgress()
            throw UserFacingError(
                "backfill of \(target) stopped after \(scanned) object(s), \(queuedCount) queued: \(error). Running it again is safe."
            )
        }
        Output.endProgress()
        await scan.mysql.close()
        if json {
            var o = tally.json
            o["source"] = target
            o["dry_run"] = dryRun
            o["queued"] = queuedCount
            o["queued_files"] = queued
            o["refused"] = refused
            Output.json(o)
        } else {
            let verb = dryRun ? "would queue" : "queued"
            print(
                "\(target): found \(tally.found), already loaded \(tally.alreadyLoaded), \(verb) \(queuedCount), "
                    + "in progress \(tally.inProgress), failed (in the DLQ) \(tally.failed), skipped \(tally.skipped.count)"
                    + (tally.succeededWithoutLedger.isEmpty
                        ? ""
                        : ", SUCCEEDED in the jobs table without a ledger row \(tally.succeededWithoutLedger.count)"))
            tally.printDetails()
            for r in refused { print("  not sent: \(r["file"] ?? "")  \(r["reason"] ?? "")") }
            if dryRun { print("dry run: nothing was sent") }
        }
        if !refused.isEmpty { throw ExitCode(1) }
    }
}

/// Counts of a scan's decisions, and the files worth naming (at most `listed` of each kind).
struct Tally {
    static let listed = 1000
    var found = 0
    var alreadyLoaded = 0
    var inProgress = 0
    var failed = 0
    var skipped: [(String, String)] = []
    var failedFiles: [(String, String)] = []
    var succeededWithoutLedger: [String] = []

    mutating func add(_ page: [BackfillObject]) {
        for o in page {
            found += 1
            switch o.outcome {
            case .toQueue: break
            case .alreadyLoaded: alreadyLoaded += 1
            case .inProgress: inProgress += 1
            case .failed(let reason):
                failed += 1
                if failedFiles.count < Self.listed { failedFiles.append((o.event.uri, reason ?? "")) }
            case .succeededWithoutLedger:
                if succeededWithoutLedger.count < Self.listed { succeededWithoutLedger.append(o.event.uri) }
            case .skipped(let reason): if skipped.count < Self.listed { skipped.append((o.event.uri, reason)) }
            }
        }
    }

    var json: [String: Any] {
        [
            "found": found, "already_loaded": alreadyLoaded, "in_progress": inProgress, "failed": failed,
            "skipped": skipped.map { ["file": $0.0, "reason": $0.1] },
            "failed_files": failedFiles.map { ["file": $0.0, "reason": $0.1] },
            "succeeded_without_ledger": succeededWithoutLedger,
        ]
    }

    func printDetails() {
        for (file, reason) in skipped { print("  skipped: \(file)  (\(Output.truncate(reason, 140)))") }
        for (file, reason) in failedFiles {
            print("  failed: \(file)  (\(Output.truncate(reason, 100)); `esteira dlq replay` sends it again)")
        }
        for file in succeededWithoutLedger {
            print("  SUCCEEDED in the jobs table but no ledger row: \(file) (not queued: a worker would skip it)")
        }
    }
}

/// What backfill and reconcile share: the routes, MySQL and the scanner over them.
struct OperationsContext {
    let mysql: PipelineConnectionPool
    let scanner: BackfillScanner

    init(resources: ResourceOptions, routes: String, aws: AWSClient, logger: Logger) throws {
        let table: RouteTable
        do { table = try RouteTable.load(path: routes) } catch { throw UserFacingError("\(error)") }
        let mysql = try WorkerCommand.mysqlConnections(aws: aws, maxIdle: 1, logger: logger)
        self.mysql = mysql
        scanner = BackfillScanner(
            s3: S3Client(client: aws), jobs: JobLedger(dynamo: DynamoDBClient(client: aws), table: resources.jobsTable),
            loaded: { try await mysql.loadedVersions($0) },
            routeRefusal: { key in
                do {
                    _ = try table.route(forKey: key)
                    return nil
                } catch { return "no route: \(error)" }
            })
        self.tenants = Array(Set(table.routes.map(\.tenant))).sorted()
    }

    /// Fails now, with what to fix, when MySQL or the jobs table cannot be read: otherwise a scan that finds
    /// nothing to look up would report success without ever checking.
    func probe() async throws {
        try await WorkerCommand.probe(mysql)
        // GetItem, not DescribeTable: the worker's role (which the reconcile CronJob runs as) has only the former.
        do {
            _ = try await scanner.jobs.dynamo.getItem(
                table: scanner.jobs.table, key: [JobLedger.partitionKey: .s("esteira-probe")])
        } catch let e as AWSError where e.code == .resourceNotFound {
            throw UserFacingError(
                "the jobs table \(scanner.jobs.table) does not exist: check --jobs-table (ESTEIRA_JOBS_TABLE) or run `esteira setup`"
            )
        } catch {
            throw UserFacingError(
                "cannot read the jobs table \(scanner.jobs.table): \(error). Check --jobs-table (ESTEIRA_JOBS_TABLE) and the role's dynamodb:GetItem permission."
            )
        }
    }

    static func notLanding(_ bucket: String, _ landing: LandingBuckets) -> String {
        "'\(bucket)' is not a landing bucket (\(landing.description)): a worker dead-letters events naming any other bucket. "
            + "If its files should be loaded, add it with --bucket or ESTEIRA_BUCKET, for the workers too."
    }

    /// The tenants the routes name, sorted: reconcile scans `<tenant>/data/` of each.
    let tenants: [String]
}

/// `s3://bucket` or `s3://bucket/prefix`.
struct S3Prefix {
    var bucket: String
    var prefix: String
    init?(_ s: String) {
        guard s.hasPrefix("s3://") else { return nil }
        let rest = s.dropFirst(5)
        if let slash = rest.firstIndex(of: "/") {
            bucket = String(rest[..<slash])
            prefix = String(rest[rest.index(after: slash)...])
        } else {
            bucket = String(rest)
            prefix = ""
        }
        guard !bucket.isEmpty else { return nil }
    }
}
