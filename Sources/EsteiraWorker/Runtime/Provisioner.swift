import EsteiraAWS
import Foundation

/// Stands up the AWS side a fleet needs: bucket, queues with redrive, notification, jobs table.
/// Every step is idempotent, so `esteira setup` can be run again at any time.
public struct Provisioner: Sendable {
    public let s3: S3Client
    public let sqs: SQSClient
    public let dynamo: DynamoDBClient

    public init(s3: S3Client, sqs: SQSClient, dynamo: DynamoDBClient) {
        self.s3 = s3
        self.sqs = sqs
        self.dynamo = dynamo
    }

    public struct Result: Sendable {
        public var queueURL: String
        public var queueARN: String
        public var deadLetterURL: String
        public var deadLetterARN: String
    }

    public func provision(
        bucket: String, queue: String, deadLetterQueue: String, jobsTable: String,
        maxReceives: Int = 5, visibilityTimeout: Int = 120
    ) async throws -> Result {
        try await s3.createBucket(bucket)

        let dlqURL = try await sqs.createQueue(name: deadLetterQueue)
        // Dead letters are kept as long as SQS allows: 14 days.
        try await sqs.setQueueAttributes(queueURL: dlqURL, attributes: ["MessageRetentionPeriod": "1209600"])
        let dlqARN = try await arn(dlqURL)

        let queueURL = try await sqs.createQueue(name: queue)
        let queueARN = try await arn(queueURL)
        let redrive = #"{"deadLetterTargetArn":"\#(dlqARN)","maxReceiveCount":"\#(maxReceives)"}"#
        // Lets the bucket, and only it, send its notifications to the queue.
        let policy = """
            {"Version":"2012-10-17","Statement":[{"Sid":"esteira-s3-notifications","Effect":"Allow",\
            "Principal":{"Service":"s3.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"\(queueARN)",\
            "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::\(bucket)"}}}]}
            """
        try await sqs.setQueueAttributes(
            queueURL: queueURL,
            attributes: [
                "RedrivePolicy": redrive,
                "VisibilityTimeout": String(visibilityTimeout),
                "ReceiveMessageWaitTimeSeconds": "20",
                "MessageRetentionPeriod": "1209600",
                "Policy": policy,
            ])

        // Merged into what the bucket already notifies: other targets are kept.
        try await s3.addBucketNotification(
            bucket: bucket,
            queue: S3QueueNotification(
                id: "esteira-\(queue)", queueARN: queueARN, events: ["s3:ObjectCreated:*"]))

        let ledger = JobLedger(dynamo: dynamo, table: jobsTable)
        try await ledger.createTable()
        for _ in 0..<60 {
            if try await dynamo.describeTable(name: jobsTable) == "ACTIVE" { break }
            try await Task.sleep(for: .seconds(1))
        }
        return Result(queueURL: queueURL, queueARN: queueARN, deadLetterURL: dlqURL, deadLetterARN: dlqARN)
    }

    private func arn(_ queueURL: String) async throws -> String {
        guard let arn = try await sqs.getQueueAttributes(queueURL: queueURL, names: ["QueueArn"])["QueueArn"] else {
            throw AWSError(
                service: "sqs", operation: "GetQueueAttributes", code: .malformedResponse,
                message: "no QueueArn for \(queueURL)", status: 200, isTransient: false)
        }
        return arn
    }
}
