import ArgumentParser
import EsteiraAWS
import EsteiraPipeline
import EsteiraWorker
import Foundation

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Create the landing bucket, queues, notification and jobs table (idempotent).",
        discussion: """
            Creates, or leaves as they are when present: the landing bucket; the dead-letter queue; the main \
            queue with a redrive policy into it; the bucket's ObjectCreated notification into the main queue; \
            the DynamoDB jobs table with TTL.

            With --routes naming a routes file whose `fair_share:` says `queues: per_tenant`, it also creates             one queue per tenant, <queue>-<tenant> (same redrive, visibility, retention and policy), and             notifies each tenant's <tenant>/data/ prefix into its own queue instead of everything into the             main queue. A file under a tenant with no route then raises no event (`esteira reconcile` finds             it). Run it again after adding a tenant.

            Example:
              source .local/env && esteira setup
              esteira setup --print --bucket acme-landing   # against AWS: show the plan first
              esteira setup --routes routes.yaml            # fair share: one queue per tenant
            """)

    @OptionGroup var resources: ResourceOptions

    @Option(name: .customLong("max-receives"), help: "Receives before SQS moves a message to the DLQ.")
    var maxReceives: Int = 5

    @Option(name: .customLong("visibility-timeout"), help: "Main queue visibility timeout in seconds.")
    var visibilityTimeout: Int = 120

    @Option(
        help:
            "Routes file (env ESTEIRA_ROUTES): with `fair_share: queues: per_tenant`, also create one queue per tenant and notify each tenant's prefix into it."
    )
    var routes: String? = env("ESTEIRA_ROUTES")

    @Flag(name: .customLong("print"), help: "Print what would be created, and create nothing.")
    var printOnly = false

    @Option(
        name: .customLong("notify-topic"),
        help: "Also create this SNS topic for file notifications (give its ARN to worker --notify-sns-topic).")
    var notifyTopic: String?

    func validate() throws {
        if let notifyTopic {
            // SNS's rule for topic names: 1–256 of letters, digits, '-' and '_'.
            guard (1...256).contains(notifyTopic.utf8.count),
                notifyTopic.unicodeScalars.allSatisfy({
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
                })
            else {
                throw ValidationError(
                    "--notify-topic '\(notifyTopic)' is not a topic name (1–256 letters, digits, '-' or '_')")
            }
        }
        guard try resources.landingBuckets().names.count == 1 else {
            throw ValidationError("setup creates one landing bucket: give one --bucket (run setup once per bucket)")
        }
    }

    /// The tenants' queues the routes file asks for (none without `--routes` or with `queues: shared`).
    func tenantQueues() throws -> [Provisioner.TenantQueue] {
        guard let routes else { return [] }
        do {
            let table = try RouteTable.load(path: routes)
            guard table.fairShare.queues == .perTenant else { return [] }
            return try table.tenants.map {
                Provisioner.TenantQueue(tenant: $0, name: try FairShare.queueName(main: resources.queue, tenant: $0))
            }
        } catch {
            throw UserFacingError("\(error)")
        }
    }

    func run() async throws {
        let tenants = try tenantQueues()
        if printOnly {
            let region = env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "(AWS_REGION)"
            let target = env("AWS_ENDPOINT_URL") ?? "AWS, region \(region)"
            print(
                """
                esteira setup would create, or leave as they are, on \(target):
                  S3 bucket          \(resources.bucket)
                  SQS queue          \(resources.dlq)  (dead letters; retention 14 days)
                  SQS queue          \(resources.queue)  (visibility \(visibilityTimeout) s, long poll 20 s, retention 14 days,
                                     redrive to \(resources.dlq) after \(maxReceives) receives,
                                     policy: s3.amazonaws.com may SendMessage from arn:aws:s3:::\(resources.bucket))
                """)
            for t in tenants {
                print(
                    """
                      SQS queue          \(t.name)  (tenant \(t.tenant); same visibility, retention, redrive and policy)
                    """)
            }
            if tenants.isEmpty {
                print("  S3 notification    s3:ObjectCreated:* on \(resources.bucket) → \(resources.queue)")
            } else {
                print("  S3 notification    one per tenant, replacing the catch-all into \(resources.queue):")
                for t in tenants {
                    print(
                        "                     s3:ObjectCreated:* on \(resources.bucket), prefix \(t.tenant)/data/ → \(t.name)"
                    )
                }
            }
            print("  DynamoDB table     \(resources.jobsTable)  (partition key pk, on demand, TTL on expires_at)")
            if let notifyTopic { print("  SNS topic          \(notifyTopic)  (file notifications)") }
            return
        }
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let setup = Provisioner(
            s3: S3Client(client: aws), sqs: SQSClient(client: aws), dynamo: DynamoDBClient(client: aws))
        let result = try await setup.provision(
            bucket: resources.bucket, queue: resources.queue, deadLetterQueue: resources.dlq,
            jobsTable: resources.jobsTable, maxReceives: maxReceives,
            visibilityTimeout: visibilityTimeout, tenantQueues: tenants)
        print("bucket      s3://\(resources.bucket)")
        print("queue       \(result.queueURL)")
        for t in result.tenantQueues { print("queue       \(t.url) (tenant \(t.tenant))") }
        print("dead letter \(result.deadLetterURL) (after \(maxReceives) receives)")
        print("jobs table  \(resources.jobsTable)")
        if result.tenantQueues.isEmpty {
            print("notify      s3:ObjectCreated:* → \(result.queueARN)")
        } else {
            for t in result.tenantQueues { print("notify      s3:ObjectCreated:* \(t.tenant)/data/ → \(t.arn)") }
        }
        if let notifyTopic {
            let arn = try await SNSClient(client: aws).createTopic(name: notifyTopic)
            print("sns topic   \(arn) (esteira worker --notify-sns-topic \(arn))")
        }
    }
}
