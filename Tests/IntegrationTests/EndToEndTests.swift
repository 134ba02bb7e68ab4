import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Testing

/// The whole path on the real local stack: moto (signatures checked) and MariaDB.
@Suite("End to end: S3 → SQS → worker → MariaDB")
struct EndToEndTests {
    static let ordersTable = """
        CREATE TABLE orders (order_id BIGINT PRIMARY KEY, customer VARCHAR(200) NOT NULL,
        amount DECIMAL(12,2) NOT NULL, notes TEXT NULL) CHARACTER SET utf8mb4
        """

    static func routes() throws -> RouteTable {
        try RouteTable(routes: [Route(name: "acme-orders", tenant: "acme", pattern: "orders*.csv", table: "orders")])
    }

    @Test("a CSV put into S3 lands in MariaDB once, and a second delivery loads nothing twice")
    func fileLandsOnce() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.ordersTable)
            // A key with a space, '+', '%', '=' and non-ASCII: S3 notifications form-encode it.
            let key = "acme/data/orders ação+1%=.csv"
            let csv =
                "order_id,customer,amount,notes\r\n1,Ana,10.50,\r\n2,\"Bruno, Lima\",20.00,\"two\nlines\"\r\n3,Carla,30.00,x\r\n"
            let put = try await stack.s3.putObject(bucket: stack.bucket, key: key, body: Array(csv.utf8))

            let first = try await stack.drain(routes: try Self.routes())
            #expect(first.succeeded == 1)
            #expect(first.rowsLoaded == 3)
            #expect(try await stack.count("orders") == 3)
            let notes = try await stack.sql("SELECT customer, notes FROM orders WHERE order_id = 2")
            #expect(notes.rows.first == ["Bruno, Lima", "two\nlines"])
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0, "the message is deleted after the commit")

            let job = try await JobLedger(dynamo: stack.dynamo, table: stack.jobsTable)
                .item(ObjectCreated(bucket: stack.bucket, key: key, eTag: put.eTag))
            #expect(job?["status"]?.string == "SUCCEEDED")
            #expect(job?["rows_loaded"]?.int == 3)

            // S3 and SQS both deliver at least once: the same event again must not double the rows.
            try await stack.sqs.sendMessage(
                queueURL: stack.provisioned.queueURL, body: stack.event(key: key, eTag: put.eTag))
            let second = try await stack.drain(routes: try Self.routes())
            #expect(second.duplicates == 1)
            #expect(second.succeeded == 0)
            #expect(try await stack.count("orders") == 3)
            #expect(try await stack.depth(stack.provisioned.queueURL) == 0)
            #expect(try await stack.deadLetters().isEmpty)
        }
    }

    @Test("the MySQL ledger refuses a version already committed even when the jobs table forgot it")
    func ledgerStopsDoubleLoads() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.ordersTable)
            let key = "acme/data/orders-1.csv"
            let put = try await stack.s3.putObject(
                bucket: stack.bucket, key: key, body: Array("order_id,customer,amount,notes\n7,Gil,1.00,\n".utf8))
            try await stack.drain(routes: try Self.routes())
            #expect(try await stack.count("orders") == 1)

            // Lose the DynamoDB item: only the MySQL ledger now knows the file was loaded.
            try await stack.dynamo.deleteItem(
                table: stack.jobsTable,
                key: ["pk": .s(JobLedger.jobID(ObjectCreated(bucket: stack.bucket, key: key, eTag: put.eTag)))])
            try await stack.sqs.sendMessage(
                queueURL: stack.provisioned.queueURL, body: stack.event(key: key, eTag: put.eTag))
            let again = try await stack.drain(routes: try Self.routes())
            #expect(again.duplicates == 1)
            #expect(try await stack.count("orders") == 1)
        }
    }

    @Test("poison messages and unloadable files reach the dead-letter queue with their reasons")
    func deadLetters() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.ordersTable)
            let url = stack.provisioned.queueURL
            try await stack.sqs.sendMessage(queueURL: url, body: "this is not json")
            try await stack.sqs.sendMessage(queueURL: url, body: #"{"hello":"world"}"#)
            // A file no route takes, a file whose object is gone, and a file whose header the table lacks.
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/invoices.csv", body: Array("a\n1\n".utf8))
            try await stack.sqs.sendMessage(
                queueURL: url, body: stack.event(key: "acme/data/orders-gone.csv", eTag: "abc"))
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-bad.csv",
                body: Array("order_id,customer,phone\n1,A,555\n".utf8))

            let summary = try await stack.drain(routes: try Self.routes())
            #expect(summary.failed == 3)
            let letters = try await stack.deadLetters()
            let byCode = Dictionary(grouping: letters) { $0.messageAttributes["esteira.error-code"] ?? "none" }
            #expect(byCode["UndecodableMessage"]?.count == 2)
            #expect(byCode["NoRoute"]?.first?.messageAttributes["esteira.key"] == "acme/data/invoices.csv")
            #expect(byCode["ObjectMissing"]?.first?.messageAttributes["esteira.key"] == "acme/data/orders-gone.csv")
            // Named before the load, not MySQL's "Unknown column" from the middle of it.
            let bad = try #require(byCode["BadHeader"]?.first)
            #expect(
                bad.messageAttributes["esteira.error-message"]?.contains(
                    "the file's column 'phone' is not in table orders") == true)
            #expect(bad.messageAttributes["esteira.route"] == "acme-orders")
            #expect(try await stack.depth(url) == 0, "nothing is left cycling in the main queue")
            #expect(try await stack.count("orders") == 0)
        }
    }
}

/// Proves moto really checks signatures: with a wrong secret every service answers SignatureDoesNotMatch.
@Suite("Signatures are verified by the server")
struct SignatureCheckTests {
    @Test("a wrong secret key is refused by S3, SQS and DynamoDB")
    func wrongSecretIsRefused() async throws {
        let good = try AWSConfig.fromEnvironment()
        let id = try requireEnv("AWS_ACCESS_KEY_ID")
        var bad = good
        bad.credentials = StaticCredentials(AWSCredentials(accessKeyID: id, secretAccessKey: "wrong-secret-key"))
        bad.retry.maxAttempts = 1
        let client = AWSClient(config: bad, logger: TestStack.quietLogger)

        let s3 = await #expect(throws: AWSError.self) {
            try await S3Client(client: client).putObject(bucket: "esteira-sig-check", key: "x.csv", body: [1])
        }
        #expect(s3?.code == .signatureDoesNotMatch)
        #expect(s3?.status == 403)
        let sqs = await #expect(throws: AWSError.self) {
            try await SQSClient(client: client).getQueueURL(name: "anything")
        }
        #expect(sqs?.code == .signatureDoesNotMatch)
        let ddb = await #expect(throws: AWSError.self) {
            try await DynamoDBClient(client: client).describeTable(name: "anything")
        }
        #expect(ddb?.code == .signatureDoesNotMatch)
        #expect(ddb?.isTransient == false)

        // And the right key works, so the failures above are about the signature alone.
        let ok = AWSClient(config: good, logger: TestStack.quietLogger)
        #expect(try await DynamoDBClient(client: ok).describeTable(name: "esteira-no-such-table") == nil)
    }
}

@Suite("Size limit")
struct SizeLimitTests {
    @Test("a file over --max-file-size is dead-lettered as TooLarge before download")
    func tooLarge() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-big.csv", body: ordersCSV(from: 0, count: 2000))
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-small.csv", body: ordersCSV(from: 5000, count: 2))
            let routes = try writeRoutes()
            let p = try WorkerProcess(
                ["worker", "--until-idle", "--no-http", "--max-file-size", "10KB"], stack: stack, routes: routes)
            #expect(await p.wait(timeout: 60) == 0, "\(p.log.suffix(1500))")
            let letters = try await stack.deadLetters()
            #expect(letters.count == 1)
            #expect(letters.first?.messageAttributes["esteira.error-code"] == "TooLarge")
            #expect(letters.first?.messageAttributes["esteira.error-message"]?.contains("10000-byte limit") == true)
            #expect(try await stack.count("orders") == 2)
        }
    }
}

@Suite("MySQL from a Secrets Manager secret")
struct SecretTargetTests {
    @Test("ESTEIRA_MYSQL_SECRET_ARN: the worker reads the RDS-format secret and loads the file")
    func secretTarget() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(EndToEndTests.ordersTable)
            let url = URLComponents(string: stack.mysqlURL)!
            let secret =
                #"{"username":"\#(url.user!)","password":"\#(url.password!)","host":"\#(url.host!)","port":\#(url.port!),"dbname":"\#(url.path.dropFirst())"}"#
            let arn = try await SecretsManagerClient(client: stack.aws).createSecret(
                name: "esteira-t-\(stack.queue)", string: secret)
            try await stack.s3.putObject(
                bucket: stack.bucket, key: "acme/data/orders-s.csv", body: ordersCSV(from: 0, count: 4))
            let p = try WorkerProcess(
                ["worker", "--until-idle", "--no-http"], stack: stack, routes: try writeRoutes(),
                extraEnv: ["ESTEIRA_MYSQL_SECRET_ARN": arn, "ESTEIRA_MYSQL_URL": ""])
            #expect(await p.wait(timeout: 60) == 0, "\(p.log.suffix(1500))")
            #expect(try await stack.count("orders") == 4)
        }
    }
}
