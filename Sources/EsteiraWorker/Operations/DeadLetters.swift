import EsteiraAWS
import Foundation

/// One message in the dead-letter queue, with what Esteira recorded about its failure.
public struct DeadLetter: Sendable, Equatable {
    public var id: String
    public var receiptHandle: String
    public var body: String
    public var attributes: [String: String]
    public var systemAttributes: [String: String]

    /// What Esteira recorded about the failure (none for a letter SQS redrive moved).
    public var recorded: DeadLetterAttributes { DeadLetterAttributes(attributes) }
    public var reason: String { recorded.reason }
    public var code: String { recorded.errorCode }
    /// The file it concerns, from our attributes or, for redriven messages, from the S3 event itself.
    public var key: String? {
        if let k = recorded.objectKey { return k }
        if case .objectsCreated(let objects)? = try? S3EventDecoder.decode(body) { return objects.first?.key }
        return nil
    }
    public var tenant: String? { key?.split(separator: "/").first.map(String.init) }
    public var receiveCount: Int { systemAttributes["ApproximateReceiveCount"].flatMap(Int.init) ?? 0 }
    public var replayCount: Int { recorded.replays }
    /// The buckets the message's S3 event names (none when it is not an S3 event).
    public var buckets: [String] {
        guard case .objectsCreated(let objects)? = try? S3EventDecoder.decode(body) else { return [] }
        return objects.map(\.bucket)
    }
    /// When it first entered any queue (SentTimestamp, kept by redrive and by our replay).
    public var sentAt: Date? {
        systemAttributes["SentTimestamp"].flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
    }
}

/// Which dead letters a replay or listing takes.
public struct DeadLetterFilter: Sendable {
    public var ids: Set<String> = []
    /// Substring of the reason or the error code.
    public var reason: String?
    public var tenant: String?
    /// Glob on the object key (`*` any run, `?` one character).
    public var keyGlob: String?

    public init(ids: Set<String> = [], reason: String? = nil, tenant: String? = nil, keyGlob: String? = nil) {
        self.ids = ids
        self.reason = reason
        self.tenant = tenant
        self.keyGlob = keyGlob
    }

    public var isEmpty: Bool { ids.isEmpty && reason == nil && tenant == nil && keyGlob == nil }

    public func matches(_ d: DeadLetter) -> Bool {
        if !ids.isEmpty && !ids.contains(d.id) { return false }
        if let reason, !d.reason.localizedCaseInsensitiveContains(reason),
            !d.code.localizedCaseInsensitiveContains(reason)
        {
            return false
        }
        if let tenant, d.tenant != tenant { return false }
        if let keyGlob {
            guard let key = d.key, KeyGlob.matches(keyGlob, key) else { return false }
        }
        return true
    }
}

enum KeyGlob {
    /// `*` matches any run (slashes included, for whole keys), `?` one character.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern)
        let t = Array(text)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] != "*", p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// What a replay did, message by message.
public struct ReplayReport: Sendable, Equatable {
    public var replayed: [String] = []
    /// Sent by an earlier, interrupted run: only removed from the DLQ this time.
    public var alreadySent: [String] = []
    public var skipped = 0
    /// Left in the DLQ: their event names a bucket that is not a landing bucket (the worker would refuse it).
    public var foreignBucket: [String] = []
    public var usedMoveTask = false
}

/// The operator's view of the dead-letter queue: list, show, replay, purge.
///
/// Replay never loses a message: each one is sent to the main queue first and deleted from the DLQ after.
/// A marker in the jobs table, written between the two, lets an interrupted replay run again without
/// sending anything twice.
public struct DeadLetterOperator: Sendable {
    public let sqs: SQSClient
    public let dynamo: DynamoDBClient
    public let jobsTable: String
    public let queueURL: String
    public let deadLetterURL: String
    /// When set, letters naming any other bucket stay in the DLQ, as the worker would refuse them again.
    public let landingBuckets: LandingBuckets?

    public init(
        sqs: SQSClient, dynamo: DynamoDBClient, jobsTable: String, queueURL: String, deadLetterURL: String,
        landingBuckets: LandingBuckets? = nil
    ) {
        self.landingBuckets = landingBuckets
        self.sqs = sqs
        self.dynamo = dynamo
        self.jobsTable = jobsTable
        self.queueURL = queueURL
        self.deadLetterURL = deadLetterURL
    }

    /// Every message now in the DLQ. Each is hidden briefly while the listing runs so none is counted twice,
    /// then made visible again.
    public func list(limit: Int = 10_000) async throws -> [DeadLetter] {
        var found: [String: DeadLetter] = [:]
        var emptyRounds = 0
        while found.count < limit, emptyRounds < 2 {
            let batch = try await sqs.receiveMessages(
                queueURL: deadLetterURL, maxMessages: 10, waitSeconds: 1,
                visibilityTimeout: 60)
            let fresh = batch.filter { found[$0.messageID] == nil }
            if fresh.isEmpty {
                emptyRounds += 1
                continue
            }
            emptyRounds = 0
            for m in fresh {
                found[m.messageID] = DeadLetter(
                    id: m.messageID, receiptHandle: m.receiptHandle, body: m.body,
                    attributes: m.messageAttributes, systemAttributes: m.attributes)
            }
        }
        for d in found.values {
            try? await sqs.changeMessageVisibility(queueURL: deadLetterURL, receiptHandle: d.receiptHandle, timeout: 0)
        }
        return found.values.sorted { ($0.sentAt ?? .distantPast, $0.id) < ($1.sentAt ?? .distantPast, $1.id) }
    }

    public func show(id: String) async throws -> DeadLetter? {
        try await list().first { $0.id == id }
    }

    /// Moves matching dead letters back to the main queue, at most `max`, at most `rate` per second.
    /// `onEach` is called after each message (progress display).
    public func replay(
        filter: DeadLetterFilter, max: Int? = nil, rate: Double? = nil, dryRun: Bool = false,
        onEach: @Sendable (DeadLetter, Bool) -> Void = { _, _ in }
    ) async throws -> ReplayReport {
        var report = ReplayReport()
        // Everything, unfiltered: SQS's own redrive (StartMessageMoveTask) does it server-side where the
        // server has it. It keeps no replay count; anything else falls back to send-then-delete below.
        // The move task cannot look at each letter; a foreign-bucket letter it moves is refused again by the
        // worker (ForeignBucket), so nothing outside the landing buckets is loaded either way.
        if filter.isEmpty && max == nil && !dryRun, await startMoveTask(rate: rate) {
            report.usedMoveTask = true
            return report
        }
        let candidates = try await list()
        var budget = max ?? Int.max
        let pause = rate.map { $0 > 0 ? 1 / $0 : 0 } ?? 0
        for d in candidates {
            guard budget > 0 else { break }
            guard filter.matches(d) else {
                report.skipped += 1
                continue
            }
            if let landingBuckets, d.buckets.contains(where: { landingBuckets.refusal($0) != nil }) {
                report.foreignBucket.append(d.id)
                continue
            }
            budget -= 1
            if dryRun {
                report.replayed.append(d.id)
                onEach(d, false)
                continue
            }
            let marker: DynamoItem = ["pk": .s("replay#\(d.id)")]
            let wasSent = try await dynamo.getItem(table: jobsTable, key: marker) != nil
            if !wasSent {
                let attributes = d.recorded.replayed(of: d.id, at: Date())
                let (body, sendable) = DeadLetterAttributes.sendable(body: d.body, attributes: attributes.values)
                try await sqs.sendMessage(queueURL: queueURL, body: body, attributes: sendable)
                let now = Int64(Date().timeIntervalSince1970)
                try await dynamo.putItem(
                    table: jobsTable,
                    item: [
                        "pk": .s("replay#\(d.id)"), "status": .s("REPLAYED"), "replayed_at": .number(now),
                        "s3_key": .s(d.key ?? ""), "expires_at": .number(now + 14 * 86400),
                    ])
            }
            try await sqs.deleteMessage(queueURL: deadLetterURL, receiptHandle: d.receiptHandle)
            if wasSent { report.alreadySent.append(d.id) } else { report.replayed.append(d.id) }
            onEach(d, wasSent)
            if pause > 0 { try await Task.sleep(for: .seconds(pause)) }
        }
        return report
    }

    private func startMoveTask(rate: Double?) async -> Bool {
        do {
            let arns = try await sqs.getQueueAttributes(queueURL: deadLetterURL, names: ["QueueArn"])
            let main = try await sqs.getQueueAttributes(queueURL: queueURL, names: ["QueueArn"])
            guard let source = arns["QueueArn"], let destination = main["QueueArn"] else { return false }
            _ = try await sqs.startMessageMoveTask(
                sourceARN: source, destinationARN: destination,
                maxMessagesPerSecond: rate.map { Swift.max(1, Int($0)) })
            return true
        } catch {
            return false
        }
    }

    public func purge() async throws {
        try await sqs.purgeQueue(queueURL: deadLetterURL)
    }
}
