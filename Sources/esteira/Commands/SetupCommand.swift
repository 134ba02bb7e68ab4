import ArgumentParser
import Foundation
import EsteiraAWS
import EsteiraWorker

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Create the landing bucket, queues, notification and jobs table (idempotent).",
        discussion: """
            Creates, or leaves as they are when present: the landing bucket; the dead-letter queue; the main \
            queue with a redrive policy into it; the bucket's ObjectCreated notification into the main queue; \
            the DynamoDB jobs table with TTL.

            Example:
              source .local/env && esteira setup
            """)

    @OptionGroup var resources: ResourceOptions

    @Option(name: .customLong("max-receives"), help: "Receives before SQS moves a message to the DLQ.")
    var maxReceives: Int = 5

    @Option(name: .customLong("visibility-timeout"), help: "Main queue visibility timeout in seconds.")
    var visibilityTimeout: Int = 120

    func run() async throws {
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let setup = Provisioner(s3: S3Client(client: aws), sqs: SQSClient(client: aws), dynamo: DynamoDBClient(client: aws))
        let result = try await setup.provision(bucket: resources.bucket, queue: resources.queue, deadLetterQueue: resources.dlq,
                                               jobsTable: resources.jobsTable, maxReceives: maxReceives,
                                               visibilityTimeout: visibilityTimeout)
        print("bucket      s3://\(resources.bucket)")
        print("queue       \(result.queueURL)")
        print("dead letter \(result.deadLetterURL) (after \(maxReceives) receives)")
        print("jobs table  \(resources.jobsTable)")
        print("notify      s3:ObjectCreated:* → \(result.queueARN)")
    }
}
