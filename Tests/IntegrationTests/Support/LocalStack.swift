import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Logging
import Testing

/// Thrown, and so recorded as a failure, when the local stack is not configured. Never skip silently.
struct MissingStack: Error, CustomStringConvertible {
    var variable: String
    var description: String {
        "\(variable) is not set, so the integration tests cannot run: start the local stack with "
            + "`make services-up && source .local/env`, then run the tests again (make test does both)"
    }
}

func requireEnv(_ name: String) throws -> String {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { throw MissingStack(variable: name) }
    return v
}

/// A private corner of the local stack for one test: its own bucket, queues, jobs table and database,
/// so tests run in parallel without seeing each other's files.
struct TestStack: Sendable {
    let aws: AWSClient
    let s3: S3Client
    let sqs: SQSClient
    let dynamo: DynamoDBClient
    let mysql: MySQLConfig
    let bucket: String
    let queue: String
    let deadLetterQueue: String
    let jobsTable: String
    let provisioned: Provisioner.Result
    /// The MySQL URL of the test's own database, for child processes.
    let mysqlURL: String

    static let quietLogger: Logger = {
        var l = Logger(label: "esteira.test")
        l.logLevel = .critical
        return l
    }()

    /// Provisions everything and runs `body`; the database is dropped afterwards.
    static func with<T: Sendable>(maxReceives: Int = 5, _ body: (TestStack) async throws -> T) async throws -> T {
        _ = try requireEnv("AWS_ENDPOINT_URL")
        let config = try AWSConfig.fromEnvironment()
        let aws = AWSClient(config: config, logger: quietLogger)
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let s3 = S3Client(client: aws)
        let sqs = SQSClient(client: aws)
        let dynamo = DynamoDBClient(client: aws)
        let bucket = "esteira-t-\(id)"
        let queue = "esteira-t-\(id)"
        let dlq = "esteira-t-\(id)-dlq"
        let jobs = "esteira-t-\(id)"
        let provisioned = try await Provisioner(s3: s3, sqs: sqs, dynamo: dynamo)
            .provision(bucket: bucket, queue: queue, deadLetterQueue: dlq, jobsTable: jobs, maxReceives: maxReceives)

        let baseURL = try requireEnv("ESTEIRA_MYSQL_URL")
        var mysql = try MySQLConfig(url: baseURL)
        let database = "esteira_t_\(id)"
        let admin = try await MySQLConnection.connect(mysql)
        try await admin.execute("CREATE DATABASE `\(database)` CHARACTER SET utf8mb4")
        mysql.database = database
        let stack = TestStack(
            aws: aws, s3: s3, sqs: sqs, dynamo: dynamo, mysql: mysql, bucket: bucket, queue: queue,
            deadLetterQueue: dlq, jobsTable: jobs, provisioned: provisioned,
            mysqlURL: Self.replacingDatabase(in: baseURL, with: database))
        let result: Result<T, any Error>
        do { result = .success(try await body(stack)) } catch { result = .failure(error) }
        _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
        await admin.close()
        return try result.get()
    }

    static func replacingDatabase(in url: String, with database: String) -> String {
        var c = URLComponents(string: url)!
        c.path = "/" + database
        return c.string!
    }

    /// Runs SQL in the test's database.
    func sql(_ statement: String) async throws -> MySQLResult {
        let c = try await MySQLConnection.connect(mysql)
        defer { Task { await c.close() } }
        return try await c.query(statement)
    }

    func count(_ table: String) async throws -> Int {
        Int(try await sql("SELECT COUNT(*) FROM `\(table)`").scalar ?? "") ?? -1
    }

    /// Runs one worker until the queue is drained.
    @discardableResult
    func drain(routes: RouteTable, concurrency: Int = 2) async throws -> WorkerSummary {
        var settings = WorkerSettings(
            queueName: queue, deadLetterQueueName: deadLetterQueue, jobsTable: jobsTable,
            landingBuckets: try LandingBuckets([bucket]), concurrency: concurrency)
        settings.untilIdle = true
        settings.idlePolls = 2
        let pipeline = FilePipeline(s3: s3, mysql: mysql, routes: routes, logger: TestStack.quietLogger)
        let worker = try await Worker.connect(
            settings: settings, sqs: sqs, dynamo: dynamo, pipeline: pipeline,
            logger: TestStack.quietLogger)
        try await worker.run()
        return worker.summary
    }

    /// Messages waiting or in flight in a queue.
    func depth(_ url: String) async throws -> Int {
        let a = try await sqs.getQueueAttributes(
            queueURL: url,
            names: [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ])
        return (Int(a["ApproximateNumberOfMessages"] ?? "") ?? 0)
            + (Int(a["ApproximateNumberOfMessagesNotVisible"] ?? "") ?? 0)
    }

    /// Every message now in the dead-letter queue, peeked without hiding it for long.
    func deadLetters() async throws -> [SQSMessage] {
        var seen: [String: SQSMessage] = [:]
        for _ in 0..<3 {
            for m in try await sqs.receiveMessages(
                queueURL: provisioned.deadLetterURL, maxMessages: 10, waitSeconds: 1,
                visibilityTimeout: 0)
            {
                seen[m.messageID] = m
            }
        }
        return Array(seen.values)
    }

    /// An S3 notification body as S3 sends it (keys form-encoded), for redelivery and poison tests.
    func event(key: String, eTag: String?) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.*/")
        let encoded = key.addingPercentEncoding(withAllowedCharacters: allowed)!.replacingOccurrences(
            of: "%20", with: "+")
        let etag = eTag.map { ",\"eTag\":\"\($0.filter { $0 != "\"" })\"" } ?? ""
        return """
            {"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put",\
            "s3":{"bucket":{"name":"\(bucket)"},"object":{"key":"\(encoded)","size":1\(etag)}}}]}
            """
    }
}
