import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import Foundation

/// What backfill (and reconcile) decided about one object.
public enum BackfillOutcome: Sendable, Equatable {
    /// No ledger row and nothing in flight: an event for it goes to the main queue.
    case toQueue
    /// The MySQL ledger has this version: loaded, nothing to do.
    case alreadyLoaded
    /// The jobs table says a worker holds it (RUNNING) or will retry it (RECEIVED): a message for it exists.
    case inProgress(status: String)
    /// The jobs table says it failed: its message is in the dead-letter queue (`esteira dlq replay` sends it again).
    case failed(reason: String?)
    /// The jobs table says SUCCEEDED but the ledger has no row (the ledger row was removed, or MySQL is another
    /// database): a worker would acknowledge an event for it without loading, so none is sent.
    case succeededWithoutLedger
    /// Not a file a worker would load: Esteira's own rejects, a folder marker, or a key no route matches.
    case skipped(reason: String)

    public var label: String {
        switch self {
        case .toQueue: "missing"
        case .alreadyLoaded: "already_loaded"
        case .inProgress: "in_progress"
        case .failed: "failed"
        case .succeededWithoutLedger: "succeeded_without_ledger"
        case .skipped: "skipped"
        }
    }
}

/// One listed object and the decision about it.
public struct BackfillObject: Sendable {
    /// The event a notification would have carried (key as stored; versionId when the bucket has one).
    public var event: ObjectCreated
    public var lastModified: Date?
    public var outcome: BackfillOutcome
}

/// Lists objects under a prefix and decides, for each, whether it still needs loading.
///
/// The MySQL ledger is what decides "loaded": its row commits in the same transaction as the rows, so it
/// cannot disagree with the table, and it is kept for ever. The jobs table is only asked about objects the
/// ledger does not have (one GetItem each), to leave alone those a worker holds or will retry, and those
/// that failed (their message waits in the dead-letter queue). The jobs table alone would not do: its items
/// expire after 30 days (TTL), and SUCCEEDED is written after the commit, so a crash between the two leaves
/// a loaded file looking unfinished.
public struct BackfillScanner: Sendable {
    public let s3: S3Client
    public let jobs: JobLedger
    /// Which object versions the ledger has (``PipelineConnectionPool/loadedVersions(_:)`` in production).
    public let loaded: @Sendable ([LedgerKey]) async throws -> Set<LedgerKey>
    /// Why no route takes a key, or nil when one does.
    public let routeRefusal: @Sendable (String) -> String?

    public init(
        s3: S3Client, jobs: JobLedger, loaded: @escaping @Sendable ([LedgerKey]) async throws -> Set<LedgerKey>,
        routeRefusal: @escaping @Sendable (String) -> String?
    ) {
        self.s3 = s3
        self.jobs = jobs
        self.loaded = loaded
        self.routeRefusal = routeRefusal
    }

    /// Scans every object under `prefix` last modified in [`since`, `before`), a page (≤1000) at a time,
    /// handing each page's decisions to `page`; stops after `limit` objects in the window.
    public func scan(
        bucket: String, prefix: String, since: Date? = nil, before: Date? = nil, limit: Int = 1_000_000,
        page: ([BackfillObject]) async throws -> Void
    ) async throws {
        var token: String?
        var seen = 0
        repeat {
            let listed = try await s3.listObjectsPage(
                bucket: bucket, prefix: prefix.isEmpty ? nil : prefix, continuationToken: token)
            token = listed.nextContinuationToken
            var window = listed.objects.filter { o in
                if let since, let m = o.lastModified, m < since { return false }
                if let before, let m = o.lastModified, m >= before { return false }
                return true
            }
            if seen + window.count > limit {
                window = Array(window.prefix(limit - seen))
                token = nil
            }
            seen += window.count
            try await page(try await decide(bucket: bucket, window))
        } while token != nil
    }

    /// The decision for each of `listed` (objects of one bucket).
    func decide(bucket: String, _ listed: [S3ListedObject]) async throws -> [BackfillObject] {
        var out: [BackfillObject] = listed.map { o in
            let eTag = o.eTag.map(Self.bareETag)
            return BackfillObject(
                event: ObjectCreated(bucket: bucket, key: o.key, size: o.size, eTag: eTag),
                lastModified: o.lastModified, outcome: .toQueue)
        }
        for i in out.indices {
            let key = out[i].event.key
            if key.hasPrefix(FilePipeline.rejectsPrefix) {
                out[i].outcome = .skipped(reason: "Esteira's own rejects output")
            } else if key.hasSuffix("/") {
                out[i].outcome = .skipped(reason: "a folder marker")
            } else if let why = routeRefusal(key) {
                out[i].outcome = .skipped(reason: why)
            }
        }
        // Unversioned buckets: the ledger keys the ETag, which the listing already gives.
        try await markLoaded(&out)
        // Versioned buckets: the ledger keys the version id, which only HEAD tells; the event must carry it too,
        // or a later real event (with the id) would be a different version to the ledger.
        let toHead = out.indices.filter { out[$0].outcome == .toQueue }
        let heads = try await Self.each(toHead.map { out[$0].event }, width: Self.width) { [s3] e -> S3ObjectInfo? in
            do { return try await s3.headObject(bucket: e.bucket, key: e.key) } catch let err as AWSError
                where err.status == 404
            {
                return nil
            }
        }
        for (i, head) in zip(toHead, heads) {
            guard let head else {
                out[i].outcome = .skipped(reason: "deleted while listing")
                continue
            }
            out[i].event.versionID = head.versionID.flatMap { $0.isEmpty || $0 == "null" ? nil : $0 }
            if let e = head.eTag { out[i].event.eTag = Self.bareETag(e) }
            if let s = head.size { out[i].event.size = s }
        }
        try await markLoaded(&out, onlyVersioned: true)
        let toAsk = out.indices.filter { out[$0].outcome == .toQueue }
        let items = try await Self.each(toAsk.map { out[$0].event }, width: Self.width) { [jobs] e in
            try await jobs.item(e)
        }
        for (i, item) in zip(toAsk, items) {
            guard let item else { continue }
            switch item["status"]?.string {
            case "RUNNING", "RECEIVED":
                out[i].outcome = .inProgress(status: item["status"]?.string ?? "")
            case "FAILED":
                out[i].outcome = .failed(reason: item["error"]?.string)
            case "SUCCEEDED":
                out[i].outcome = .succeededWithoutLedger
            default:
                break
            }
        }
        return out
    }

    private func markLoaded(_ out: inout [BackfillObject], onlyVersioned: Bool = false) async throws {
        let asking = out.indices.filter {
            out[$0].outcome == .toQueue && (!onlyVersioned || out[$0].event.versionID != nil)
        }
        let keys = asking.map {
            LedgerKey(bucket: out[$0].event.bucket, key: out[$0].event.key, version: out[$0].event.version)
        }
        guard !keys.isEmpty else { return }
        let found = try await loaded(keys)
        for (i, k) in zip(asking, keys) where found.contains(k) { out[i].outcome = .alreadyLoaded }
    }

    /// HEADs and GetItems in flight at once: a page of 1,000 takes seconds, not minutes, and stays far
    /// below S3's and DynamoDB's per-prefix and per-partition rates.
    static let width = 8

    /// `body` for each item, at most `width` at once; the results in the items' order.
    static func each<T: Sendable, R: Sendable>(
        _ items: [T], width: Int,
        _ body: @escaping @Sendable (T) async throws -> R
    ) async throws -> [R] {
        try await withThrowingTaskGroup(of: (Int, R).self) { group in
            var results = [R?](repeating: nil, count: items.count)
            var next = 0
            func start() {
                let i = next
                next += 1
                group.addTask { (i, try await body(items[i])) }
            }
            while next < min(width, items.count) { start() }
            while let (i, r) = try await group.next() {
                results[i] = r
                if next < items.count { start() }
            }
            return results.compactMap { $0 }
        }
    }

    /// `"abc"` (as listings and HEAD give it) → `abc` (as S3 events carry it).
    static func bareETag(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}

/// Sends S3-event-shaped messages to the main queue, ten per SendMessageBatch, at most `rate` per second. Each
/// carries the message attribute `esteira.source=backfill`, so it can be told from S3's own events.
public struct BackfillSender: Sendable {
    public let sqs: SQSClient
    public let queueURL: String
    public let rate: Double?

    public init(sqs: SQSClient, queueURL: String, rate: Double?) {
        self.sqs = sqs
        self.queueURL = queueURL
        self.rate = rate
    }

    /// What one send call did: the events SQS took and those it refused, with its reason.
    public struct Result: Sendable {
        public var sent: [ObjectCreated] = []
        public var refused: [(ObjectCreated, String)] = []
    }

    /// Sends `events`; `started` and `alreadySent` pace the rate across calls. An entry SQS refuses for its
    /// own trouble is retried (twice, after a pause); one refused as the sender's fault is reported.
    public func send(
        _ events: [ObjectCreated], started: ContinuousClock.Instant, alreadySent: Int,
        progress: (ObjectCreated) -> Void = { _ in }
    ) async throws -> Result {
        var result = Result()
        // Below 10 a second, smaller batches: no burst is larger than one second's worth.
        let size = rate.map { max(1, min(10, Int($0))) } ?? 10
        var index = 0
        var sentBefore = alreadySent
        while index < events.count {
            let batch = Array(events[index..<min(index + size, events.count)])
            index += batch.count
            if let rate, rate > 0 {
                // Message n goes no sooner than n/rate seconds after the start.
                let due = started + .milliseconds(Int64(Double(sentBefore) / rate * 1000))
                if due > .now { try await Task.sleep(until: due, clock: .continuous) }
            }
            sentBefore += batch.count
            var pending = Dictionary(uniqueKeysWithValues: batch.enumerated().map { (String($0.offset), $0.element) })
            for attempt in 0..<3 where !pending.isEmpty {
                if attempt > 0 { try await Task.sleep(for: .milliseconds(500 * attempt)) }
                let r = try await sqs.sendMessageBatch(
                    queueURL: queueURL,
                    messages: pending.sorted { $0.key < $1.key }.map {
                        SQSBatchMessage(
                            id: $0.key, body: $0.value.notificationBody, attributes: ["esteira.source": "backfill"])
                    })
                for id in r.successful {
                    if let e = pending.removeValue(forKey: id) {
                        result.sent.append(e)
                        progress(e)
                    }
                }
                for f in r.failed where f.senderFault {
                    if let e = pending.removeValue(forKey: f.id) {
                        result.refused.append((e, "\(f.code): \(f.message)"))
                    }
                }
            }
            for (_, e) in pending { result.refused.append((e, "SQS did not take it after 3 tries")) }
        }
        return result
    }
}
