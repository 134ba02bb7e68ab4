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
        /// With fair share: each tenant's queue, in the order given.
        public var tenantQueues: [TenantQueue] = []
    }

    /// A tenant's own queue (`fair_share: queues: per_tenant`).
    public struct TenantQueue: Sendable, Equatable {
        public var tenant: String
        public var name: String
        public var url: String
        public var arn: String
        public init(tenant: String, name: String, url: String = "", arn: String = "") {
            self.tenant = tenant
            self.name = name
            self.url = url
            self.arn = arn
        }
    }

    /// The id of the bucket's notification configuration for a queue.
    public static func notificationID(queue: String) -> String { "esteira-\(queue)" }

    /// Creates what a fleet needs. With `tenantQueues` (fair share, `queues: per_tenant`) it also creates
    /// each tenant's queue (same redrive into the shared DLQ, visibility, retention and policy as the main
    /// queue) and notifies each tenant's `<tenant>/data/` prefix into its queue, in place of the catch-all
    /// notification into the main queue (S3 refuses overlapping configurations). Without them, the
    /// catch-all notification replaces any earlier per-tenant ones.
    public func provision(
        bucket: String, queue: String, deadLetterQueue: String, jobsTable: String,
        maxReceives: Int = 5, visibilityTimeout: Int = 120, tenantQueues: [TenantQueue] = []
    ) async throws -> Result {
        try await s3.createBucket(bucket)

        let dlqURL = try await sqs.createQueue(name: deadLetterQueue)
        // Dead letters are kept as long as SQS allows: 14 days.
        try await sqs.setQueueAttributes(queueURL: dlqURL, attributes: ["MessageRetentionPeriod": "1209600"])
        let dlqARN = try await arn(dlqURL)

        func workQueue(_ name: String) async throws -> (url: String, arn: String) {
            let url = try await sqs.createQueue(name: name)
            let queueARN = try await arn(url)
            let redrive = #"{"deadLetterTargetArn":"\#(dlqARN)","maxReceiveCount":"\#(maxReceives)"}"#
            // Lets the bucket, and only it, send its notifications to the queue.
            let policy = """
                {"Version":"2012-10-17","Statement":[{"Sid":"esteira-s3-notifications","Effect":"Allow",\
                "Principal":{"Service":"s3.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"\(queueARN)",\
                "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::\(bucket)"}}}]}
                """
            try await sqs.setQueueAttributes(
                queueURL: url,
                attributes: [
                    "RedrivePolicy": redrive,
                    "VisibilityTimeout": String(visibilityTimeout),
                    "ReceiveMessageWaitTimeSeconds": "20",
                    "MessageRetentionPeriod": "1209600",
                    "Policy": policy,
                ])
            return (url, queueARN)
        }

        let (queueURL, queueARN) = try await workQueue(queue)
        var tenants: [TenantQueue] = []
        for t in tenantQueues {
            let (url, queueARN) = try await workQueue(t.name)
            tenants.append(TenantQueue(tenant: t.tenant, name: t.name, url: url, arn: queueARN))
        }

        // Merged into what the bucket already notifies: other targets are kept.
        if tenants.isEmpty {
            try await s3.setBucketNotifications(
                bucket: bucket,
                queues: [
                    S3QueueNotification(
                        id: Self.notificationID(queue: queue), queueARN: queueARN, events: ["s3:ObjectCreated:*"])
                ], droppingIDPrefix: Self.notificationID(queue: queue) + "-")
        } else {
            try await s3.setBucketNotifications(
                bucket: bucket,
                queues: tenants.map {
                    S3QueueNotification(
                        id: Self.notificationID(queue: $0.name), queueARN: $0.arn, events: ["s3:ObjectCreated:*"],
                        prefix: "\($0.tenant)/data/")
                }, droppingIDPrefix: Self.notificationID(queue: queue) + "-", droppingQueues: [queueARN])
        }

        let ledger = JobLedger(dynamo: dynamo, table: jobsTable)
        try await ledger.createTable()
        for _ in 0..<60 {
            if try await dynamo.describeTable(name: jobsTable) == "ACTIVE" { break }
            try await Task.sleep(for: .seconds(1))
        }
        return Result(
            queueURL: queueURL, queueARN: queueARN, deadLetterURL: dlqURL, deadLetterARN: dlqARN,
            tenantQueues: tenants)
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
