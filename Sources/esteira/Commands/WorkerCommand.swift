import ArgumentParser
import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import EsteiraStatus
import EsteiraWorker
import Foundation
import Logging
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Long-poll the queue and load each file into MySQL.",
        discussion: """
            MySQL comes from ESTEIRA_MYSQL_SECRET_ARN (a Secrets Manager secret in the RDS format, fetched \
            again when MySQL refuses its password after a rotation) or ESTEIRA_MYSQL_URL \
            (mysql://user:password@host:port/database); routes from ESTEIRA_ROUTES or --routes.

            With `fair_share: queues: per_tenant` in the routes file it receives from every tenant's queue, \
            <queue>-<tenant> (made by `esteira setup --routes`), and the shared queue, by deficit round \
            robin with the routes file's weights.

            Examples:
              esteira worker                      # run until stopped
              esteira worker --until-idle         # drain the queue, then exit (demo, tests)
              esteira worker --concurrency 4
            """)

    @OptionGroup var resources: ResourceOptions

    @Option(help: "Routes file (env ESTEIRA_ROUTES).")
    var routes: String = env("ESTEIRA_ROUTES") ?? "routes.yaml"

    @Option(help: "Files worked on at once (the default is the number of cores).")
    var concurrency: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .customLong("until-idle"), help: "Exit once the queue is empty and nothing is in flight.")
    var untilIdle = false

    @Option(
        name: .customLong("visibility-timeout"), help: "Seconds a received message stays hidden; renewed while working."
    )
    var visibilityTimeout: Int = 120

    @Option(name: .customLong("lease"), help: "Seconds of the DynamoDB claim lease; renewed while working.")
    var lease: Int = 120

    @Option(help: "In-process attempts for a transient failure before the message is given back.")
    var attempts: Int = 3

    @Option(
        name: .customLong("max-file-size"),
        help: "Refuse files larger than this before downloading them (e.g. 500MB, 20GB; default: no limit).")
    var maxFileSize: String?

    @Option(
        name: .customLong("shutdown-grace"),
        help: "On SIGTERM, seconds to finish files in hand before giving them back (keep below the pod's grace period)."
    )
    var shutdownGrace: Int = 25

    @Option(
        name: .customLong("stall-timeout"),
        help:
            "Abandon a file that reads no byte and passes no row on for this long (e.g. 600, 10m); dead-lettered as Stalled."
    )
    var stallTimeout: String = "10m"

    @Option(
        name: .customLong("max-crashes"),
        help:
            "Dead-letter a file as Crashed, unread, once this many earlier attempts on it ended with the process dying."
    )
    var maxCrashes: Int = 3

    @Option(
        name: .customLong("http-port"),
        help: "Port of /healthz, /readyz and /metrics (env ESTEIRA_HTTP_PORT; 0 picks a free port).")
    var httpPort: Int = env("ESTEIRA_HTTP_PORT").flatMap(Int.init) ?? 9090

    @Flag(name: .customLong("no-http"), help: "Serve no /healthz, /readyz or /metrics (several workers on one host).")
    var noHTTP = false

    @Option(
        name: .customLong("max-waiting"),
        help:
            "Files that may wait for their database budget (routes file load_budget) at once without holding a load slot (default: --concurrency)."
    )
    var maxWaiting: Int?

    @OptionGroup var notify: NotifyOptions

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard visibilityTimeout >= 10, lease >= 10 else {
            throw ValidationError(
                "--visibility-timeout and --lease must be at least 10 seconds (they are renewed at half their period)")
        }
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
        guard (0...65535).contains(httpPort) else {
            throw ValidationError("--http-port must be 0…65535 (0 picks a free port)")
        }
        if let maxFileSize, ByteSize.parse(maxFileSize) == nil {
            throw ValidationError("--max-file-size '\(maxFileSize)' is not a size such as 500MB or 20GB")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be 0 or more seconds") }
        guard let stall = DurationText.seconds(stallTimeout), stall >= 1 else {
            throw ValidationError(
                "--stall-timeout '\(stallTimeout)' is not a duration of at least 1 s, such as 600, 90s or 10m")
        }
        _ = stall
        guard maxCrashes >= 1 else { throw ValidationError("--max-crashes must be at least 1") }
        if let maxWaiting, maxWaiting < 0 {
            throw ValidationError("--max-waiting must be 0 or more (0: a waiting file keeps its load slot)")
        }
        _ = try resources.landingBuckets()
        _ = try notify.globalTargets()
    }

    /// ESTEIRA_MYSQL_SECRET_ARN (an RDS-format Secrets Manager secret; TLS verified by default) wins over
    /// ESTEIRA_MYSQL_URL (local use). ESTEIRA_MYSQL_DATABASE overrides the secret's dbname. The secret is
    /// cached, and fetched again when MySQL refuses its password to a new connection (rotation).
    static func mysqlConnections(aws: AWSClient, maxIdle: Int, logger: Logger) throws -> PipelineConnectionPool {
        if let arn = env("ESTEIRA_MYSQL_SECRET_ARN") {
            return PipelineConnectionPool.secret(
                arn, secretsManager: SecretsManagerClient(client: aws),
                database: env("ESTEIRA_MYSQL_DATABASE"), maxIdle: maxIdle, logger: logger)
        }
        guard let url = env("ESTEIRA_MYSQL_URL") else {
            throw UserFacingError(
                "no MySQL target: set ESTEIRA_MYSQL_SECRET_ARN (an RDS secret) or ESTEIRA_MYSQL_URL=mysql://user:password@host:port/database (local stack: source .local/env)"
            )
        }
        do { return PipelineConnectionPool(config: try MySQLConfig(url: url), maxIdle: maxIdle) } catch {
            throw UserFacingError("ESTEIRA_MYSQL_URL: \(error)")
        }
    }

    /// The database the files load into, which names its `load_budget` counter: ESTEIRA_MYSQL_DATABASE,
    /// else the one the connection selected (the URL's, or the secret's dbname).
    static func budgetDatabase(_ mysql: PipelineConnectionPool) async throws -> String {
        if let name = env("ESTEIRA_MYSQL_DATABASE"), !name.isEmpty { return name }
        let name = try? await mysql.withConnection { connection in
            try await connection.query("SELECT DATABASE()").rows.first?.first ?? nil
        }
        guard let name, !name.isEmpty else {
            throw UserFacingError(
                "the routes file has a load_budget, but the MySQL connection selects no database: put the database in ESTEIRA_MYSQL_URL, the secret's dbname, or ESTEIRA_MYSQL_DATABASE"
            )
        }
        return name
    }

    /// A wrong MySQL URL, secret or password is the operator's to fix, not the files': refuse to start
    /// rather than fail (and dead-letter) every file that arrives.
    static func probe(_ mysql: PipelineConnectionPool) async throws {
        do {
            try await mysql.check()
        } catch {
            throw UserFacingError(
                "cannot reach MySQL with \(mysql.target): \(error). Check ESTEIRA_MYSQL_SECRET_ARN or ESTEIRA_MYSQL_URL (and the role's secretsmanager:GetSecretValue permission), and that the server is up."
            )
        }
    }

    func run() async throws {
        let logger = bootstrapLogging()
        let metrics = WorkerMetrics()
        // Every request the worker sends to AWS is counted by service and action (esteira_aws_requests_total).
        let aws = try makeAWSClient(logger: logger, requestObserver: { metrics.awsRequest(service: $0, operation: $1) })
        // Server notes worth telling once (the batched-INSERT fallback) go to the log, not raw stderr.
        MySQLNotices.setHandler { logger.notice("\($0)") }
        // One idle connection per file slot, plus the readiness check's.
        let mysql = try Self.mysqlConnections(aws: aws, maxIdle: concurrency + 1, logger: logger)
        let table: RouteTable
        do { table = try RouteTable.load(path: routes) } catch { throw UserFacingError("\(error)") }

        var settings = WorkerSettings(
            queueName: resources.queue, deadLetterQueueName: resources.dlq,
            jobsTable: resources.jobsTable, landingBuckets: try resources.landingBuckets(),
            concurrency: concurrency)
        settings.untilIdle = untilIdle
        settings.visibilityTimeout = .seconds(visibilityTimeout)
        settings.lease = .seconds(lease)
        settings.attempts = attempts
        settings.shutdownGrace = .seconds(shutdownGrace)
        settings.maxObjectBytes = maxFileSize.flatMap(ByteSize.parse)
        settings.stallTimeout =
            DurationText.seconds(stallTimeout).map(WorkerSettings.duration(seconds:)) ?? settings.stallTimeout
        settings.maxCrashes = maxCrashes
        settings.maxWaiting = maxWaiting
        settings.loadBudget = table.loadBudget

        let notifier = try notify.notifier(routes: table, aws: aws, registry: metrics.registry, logger: logger)

        try await Self.probe(mysql)
        if table.loadBudget != nil {
            settings.database = try await Self.budgetDatabase(mysql)
        }
        let sqs = SQSClient(client: aws)
        // ESTEIRA_TEST_BATCH_DELAY_MS (a deliberately slow file for the fleet tests) is one of the pipeline's
        // test-only fault switches (EsteiraPipeline's TestFaults), read there.
        let pipeline = FilePipeline(s3: S3Client(client: aws), connections: mysql, routes: table, logger: logger)
        let queues: SQSWorkQueue
        do {
            queues = try await SQSWorkQueue.connect(
                sqs: sqs, queueName: resources.queue, deadLetterQueueName: resources.dlq)
        } catch let e as AWSError where e.code == .queueDoesNotExist {
            throw UserFacingError(
                "queue '\(resources.queue)' or '\(resources.dlq)' does not exist: run `esteira setup` first (\(e.code))"
            )
        }
        // fair_share queues: per_tenant: the shared queue and each tenant's, received by deficit round robin.
        let fairShare = try await Self.fairShareQueue(
            table, sqs: sqs, shared: queues, resources: resources, metrics: metrics)
        let workQueue: any WorkQueue = fairShare.map { $0 as any WorkQueue } ?? queues
        let dynamo = DynamoDBClient(client: aws)
        let worker = Worker(
            settings: settings, queue: workQueue,
            jobs: JobLedger(dynamo: dynamo, table: settings.jobsTable),
            pipeline: pipeline, metrics: metrics, notifier: notifier,
            budget: settings.loadBudget == nil ? nil : DynamoLoadBudget(dynamo: dynamo, table: settings.jobsTable),
            logger: logger)
        let tenantQueues: [(tenant: String, url: String)] = (fairShare?.members ?? []).compactMap { m in
            guard let tenant = m.tenant, let q = m.queue as? SQSWorkQueue else { return nil }
            return (tenant, q.queueURL)
        }
        let readiness = Readiness(
            checks: [
                // Also samples the queues' depths for /metrics (esteira_queue_messages). The DLQ's is not a
                // readiness matter: a role without GetQueueAttributes on it shows -1 there instead.
                (
                    "sqs",
                    {
                        let names = WorkerMetrics.depthAttributes
                        let main = try await sqs.getQueueAttributes(queueURL: queues.queueURL, names: names)
                        let dead = try? await sqs.getQueueAttributes(queueURL: queues.deadLetterURL, names: names)
                        worker.metrics.queueDepth(main: main, deadLetter: dead)
                        for (tenant, url) in tenantQueues {
                            let counts = try? await sqs.getQueueAttributes(queueURL: url, names: names)
                            worker.metrics.tenantQueueDepth(tenant: tenant, counts ?? [:])
                        }
                    }
                ),
                ("mysql", { try await mysql.check() }),
            ], logger: logger)
        var server: StatusServer?
        if !noHTTP {
            do {
                server = try await StatusServer.start(
                    port: httpPort,
                    handler: StatusRoutes.handler(
                        worker: worker, readiness: readiness, stuckAfter: settings.receiveWait * 3 + .seconds(30)))
            } catch {
                throw UserFacingError("\(error) (ESTEIRA_HTTP_PORT or --http-port)")
            }
            logger.info("status server listening", metadata: ["port": "\(server!.port)"])
        }

        logger.info(
            "worker started",
            metadata: [
                "queue": "\(resources.queue)", "concurrency": "\(concurrency)",
                "tenant_queues": "\(tenantQueues.count)",
                "buckets": "\(settings.landingBuckets)",
                "routes": "\(table.routes.count)",
                "load_budget": "\(table.loadBudget?.description ?? "none")",
            ])
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: ReadinessService(readiness: readiness)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await notifier?.finish(grace: .seconds(notify.grace))
            await server?.stop()
            throw error
        }
        // Deliveries still pending get a short grace; the files are already done either way.
        await notifier?.finish(grace: .seconds(notify.grace))
        await server?.stop()
        let s = worker.summary
        logger.info(
            "worker stopped",
            metadata: [
                "succeeded": "\(s.succeeded)", "failed": "\(s.failed)",
                "duplicates": "\(s.duplicates)", "rows_loaded": "\(s.rowsLoaded)",
                "rows_rejected": "\(s.rowsRejected)",
            ])
    }
}

extension WorkerCommand {
    /// With `fair_share: queues: per_tenant`, the shared queue plus `<queue>-<tenant>` for every tenant of
    /// the routes, weighted as the routes file says; nil with the shared queue only. A missing tenant queue
    /// fails at start with what to run.
    static func fairShareQueue(
        _ table: RouteTable, sqs: SQSClient, shared: SQSWorkQueue, resources: ResourceOptions, metrics: WorkerMetrics
    ) async throws -> FairShareQueue? {
        guard table.fairShare.queues == .perTenant else { return nil }
        var tenants: [(tenant: String, queue: String, weight: Int)] = []
        for tenant in table.tenants {
            do {
                let name = try FairShare.queueName(main: resources.queue, tenant: tenant)
                tenants.append((tenant, name, table.fairShare.weight(of: tenant)))
            } catch { throw UserFacingError("\(error)") }
        }
        do {
            return try await FairShareQueue.connect(
                sqs: sqs, shared: shared, queueName: resources.queue, tenants: tenants, metrics: metrics)
        } catch let e as MissingTenantQueue {
            throw UserFacingError(e.description)
        }
    }
}

/// Runs the readiness checks for as long as the worker runs.
struct ReadinessService: Service {
    let readiness: Readiness
    func run() async throws {
        await cancelWhenGracefulShutdown { await readiness.run() }
    }
}

/// 500MB, 20GB, 1.5GiB, 1048576 → bytes (decimal units as S3 and AWS consoles show sizes; KiB/MiB/GiB binary).
enum ByteSize {
    static func parse(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [
            ("KIB", 1024), ("MIB", 1_048_576), ("GIB", 1_073_741_824), ("TIB", 1_099_511_627_776),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            guard let n = Double(s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n > 0 else {
                return nil
            }
            return Int64(n * factor)
        }
        return Int64(s).flatMap { $0 > 0 ? $0 : nil }
    }
}
