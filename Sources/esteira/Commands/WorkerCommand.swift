import ArgumentParser
import Foundation
import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import EsteiraWorker

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Long-poll the queue and load each file into MySQL.",
        discussion: """
            MySQL comes from ESTEIRA_MYSQL_URL (mysql://user:password@host:port/database), routes from \
            ESTEIRA_ROUTES or --routes.

            Examples:
              esteira worker                      # run until stopped
              esteira worker --until-idle         # drain the queue, then exit (demo, tests)
              esteira worker --concurrency 4
            """)

    @OptionGroup var resources: ResourceOptions

    @Option(help: "Routes file (env ESTEIRA_ROUTES).")
    var routes: String = env("ESTEIRA_ROUTES") ?? "routes.yaml"

    @Option(help: "Files worked on at once (default: the number of cores).")
    var concurrency: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .customLong("until-idle"), help: "Exit once the queue is empty and nothing is in flight.")
    var untilIdle = false

    @Option(name: .customLong("visibility-timeout"), help: "Seconds a received message stays hidden; renewed while working.")
    var visibilityTimeout: Int = 120

    @Option(name: .customLong("lease"), help: "Seconds of the DynamoDB claim lease; renewed while working.")
    var lease: Int = 120

    @Option(help: "In-process attempts for a transient failure before the message is given back.")
    var attempts: Int = 3

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard visibilityTimeout >= 10, lease >= 10 else {
            throw ValidationError("--visibility-timeout and --lease must be at least 10 seconds (they are renewed at half their period)")
        }
        guard attempts >= 1 else { throw ValidationError("--attempts must be at least 1") }
    }

    func run() async throws {
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        guard let url = env("ESTEIRA_MYSQL_URL") else {
            throw UserFacingError("no MySQL target: set ESTEIRA_MYSQL_URL=mysql://user:password@host:port/database (local stack: source .local/env)")
        }
        let mysql: MySQLConfig
        do { mysql = try MySQLConfig(url: url) } catch { throw UserFacingError("ESTEIRA_MYSQL_URL: \(error)") }
        let table: RouteTable
        do { table = try RouteTable.load(path: routes) } catch { throw UserFacingError("\(error)") }

        var settings = WorkerSettings(queueName: resources.queue, deadLetterQueueName: resources.dlq,
                                      jobsTable: resources.jobsTable, concurrency: concurrency)
        settings.untilIdle = untilIdle
        settings.visibilityTimeout = visibilityTimeout
        settings.leaseSeconds = lease
        settings.attempts = attempts

        let pipeline = FilePipeline(s3: S3Client(client: aws), mysql: mysql, routes: table, logger: logger)
        let worker = try await Worker(settings: settings, sqs: SQSClient(client: aws), dynamo: DynamoDBClient(client: aws),
                                      pipeline: pipeline, logger: logger)
        logger.info("worker started", metadata: ["queue": "\(resources.queue)", "concurrency": "\(concurrency)",
                                                 "routes": "\(table.routes.count)"])
        try await worker.run()
        let s = worker.summary
        logger.info("worker stopped", metadata: ["succeeded": "\(s.succeeded)", "failed": "\(s.failed)",
                                                 "duplicates": "\(s.duplicates)", "rows_loaded": "\(s.rowsLoaded)",
                                                 "rows_rejected": "\(s.rowsRejected)"])
    }
}
