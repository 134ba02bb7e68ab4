import ArgumentParser
import EsteiraAWS
import EsteiraWorker
import Foundation
import Synchronization

struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "See, replay and purge the dead-letter queue.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    /// Clients and queue URLs shared by the subcommands.
    static func makeOperator(_ r: ResourceOptions) async throws -> DeadLetterOperator {
        let logger = bootstrapLogging()
        let aws = try makeAWSClient(logger: logger)
        let sqs = SQSClient(client: aws)
        do {
            let queue = try await sqs.getQueueURL(name: r.queue)
            let dlq = try await sqs.getQueueURL(name: r.dlq)
            return DeadLetterOperator(
                sqs: sqs, dynamo: DynamoDBClient(client: aws), jobsTable: r.jobsTable,
                queueURL: queue, deadLetterURL: dlq, landingBuckets: try r.landingBuckets())
        } catch let e as AWSError where e.code == .queueDoesNotExist {
            throw UserFacingError(
                "queue '\(r.queue)' or '\(r.dlq)' does not exist: check --queue/--dlq or run `esteira setup`")
        }
    }

    static func json(_ d: DeadLetter) -> [String: Any] {
        [
            "id": d.id, "code": d.code, "reason": d.reason, "key": d.key ?? NSNull(), "tenant": d.tenant ?? NSNull(),
            "receive_count": d.receiveCount, "replay_count": d.replayCount,
            "sent_at": d.sentAt.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
            "attributes": d.attributes, "body": d.body,
        ]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters: id, age, receive count, file, reason.",
            discussion: "Example:\n  esteira dlq list --json | jq '.[].key'")
        @OptionGroup var resources: ResourceOptions
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let letters = try await makeOperator(resources).list()
            if json {
                Output.json(letters.map(DLQCommand.json))
                return
            }
            if letters.isEmpty {
                print("The dead-letter queue \(resources.dlq) is empty.")
                return
            }
            Output.table(
                ["ID", "AGE", "RECEIVES", "CODE", "FILE", "REASON"],
                letters.map {
                    [
                        $0.id, Output.age($0.sentAt), String($0.receiveCount), $0.code, $0.key ?? "-",
                        Output.truncate($0.reason, 80),
                    ]
                })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one dead letter: its full body and attributes.",
            discussion: "Example:\n  esteira dlq show 5c36e511-d0be-4bba-b57f-aa87032a95e3")
        @OptionGroup var resources: ResourceOptions
        @Argument(help: "Message id, as `esteira dlq list` prints it.") var id: String
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            guard let d = try await makeOperator(resources).show(id: id) else {
                throw UserFacingError("no message \(id) in \(resources.dlq): `esteira dlq list` shows the ids there")
            }
            if json {
                Output.json(DLQCommand.json(d))
                return
            }
            print("id        \(d.id)\nfile      \(d.key ?? "-")\ncode      \(d.code)\nreason    \(d.reason)")
            print(
                "receives  \(d.receiveCount)\nreplays   \(d.replayCount)\nfirst sent \(d.sentAt.map { "\($0)" } ?? "-")"
            )
            print("attributes:")
            for (k, v) in d.attributes.sorted(by: { $0.key < $1.key }) { print("  \(k) = \(v)") }
            print("body:\n\(d.body)")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to the main queue (send first, delete after; safe to run again).",
            discussion: """
                Examples:
                  esteira dlq replay --all --dry-run
                  esteira dlq replay --filter tenant=acme --rate 5
                  esteira dlq replay --id 5c36e511-d0be-4bba-b57f-aa87032a95e3
                  esteira dlq replay --filter 'key=acme/data/orders-*.csv' --max 100

                An interrupted replay can be run again: messages it already sent are only removed from the DLQ.
                """)
        @OptionGroup var resources: ResourceOptions
        @Flag(help: "Replay every dead letter.") var all = false
        @Option(name: .customLong("id"), help: "Replay this message id (repeatable).") var ids: [String] = []
        @Option(help: "reason=TEXT, tenant=NAME or key=GLOB (repeatable; all must match).") var filter: [String] = []
        @Option(help: "Replay at most this many.") var max: Int?
        @Option(help: "At most this many messages per second.") var rate: Double?
        @Flag(name: .customLong("dry-run"), help: "Show what would be replayed; change nothing.") var dryRun = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard all || !ids.isEmpty || !filter.isEmpty else {
                throw ValidationError("say what to replay: --all, --id ID or --filter (try --dry-run first)")
            }
            _ = try parsedFilter()
            if let max, max < 1 { throw ValidationError("--max must be at least 1") }
            if let rate, rate <= 0 { throw ValidationError("--rate must be more than 0 messages per second") }
        }

        func parsedFilter() throws -> DeadLetterFilter {
            var f = DeadLetterFilter(ids: Set(ids))
            for item in filter {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[1].isEmpty else {
                    throw ValidationError("--filter '\(item)' must be reason=TEXT, tenant=NAME or key=GLOB")
                }
                switch parts[0] {
                case "reason": f.reason = parts[1]
                case "tenant": f.tenant = parts[1]
                case "key": f.keyGlob = parts[1]
                default:
                    throw ValidationError("--filter '\(item)': unknown field '\(parts[0])' (use reason, tenant or key)")
                }
            }
            return f
        }

        func run() async throws {
            let op = try await makeOperator(resources)
            let total = LockedCounter()
            let report = try await op.replay(filter: try parsedFilter(), max: max, rate: rate, dryRun: dryRun) { d, _ in
                let n = total.increment()
                Output.progress(n, d.key ?? d.id)
            }
            Output.endProgress()
            if json {
                Output.json([
                    "replayed": report.replayed, "already_sent": report.alreadySent, "skipped": report.skipped,
                    "foreign_bucket": report.foreignBucket,
                    "dry_run": dryRun, "move_task": report.usedMoveTask,
                ])
                return
            }
            if report.usedMoveTask {
                print(
                    "started SQS's message move task from \(resources.dlq) to \(resources.queue); it runs on the server"
                )
                return
            }
            let verb = dryRun ? "would replay" : "replayed"
            print(
                "\(verb) \(report.replayed.count) message(s) to \(resources.queue)"
                    + (report.alreadySent.isEmpty
                        ? "" : "; \(report.alreadySent.count) sent by an earlier run removed from the DLQ")
                    + (report.skipped > 0 ? "; \(report.skipped) did not match" : "")
                    + (report.foreignBucket.isEmpty
                        ? ""
                        : "; \(report.foreignBucket.count) left in the DLQ: they name a bucket that is not a landing bucket (\(report.foreignBucket.joined(separator: ", ")))")
            )
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every message in the dead-letter queue.",
            discussion: "Example:\n  esteira dlq purge --yes")
        @OptionGroup var resources: ResourceOptions
        @Flag(help: "Confirm: the messages are gone for good.") var yes = false

        func validate() throws {
            guard yes else { throw ValidationError("purging deletes every dead letter for good: add --yes to confirm") }
        }

        func run() async throws {
            try await makeOperator(resources).purge()
            print("purged \(resources.dlq)")
        }
    }
}

final class LockedCounter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
