import Foundation

/// One object in a listing.
public struct S3ListedObject: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var eTag: String?
    public var lastModified: Date?
}

/// One page of ListObjectsV2; pass `nextContinuationToken` back for the next.
public struct S3ObjectPage: Sendable {
    public var objects: [S3ListedObject]
    /// Nil on the last page.
    public var nextContinuationToken: String?
}

/// One queue target of a bucket's event notifications.
public struct S3QueueNotification: Sendable, Equatable {
    public var id: String
    public var queueARN: String
    public var events: [String]
    public var prefix: String?
    public var suffix: String?

    public init(
        id: String, queueARN: String, events: [String] = ["s3:ObjectCreated:*"], prefix: String? = nil,
        suffix: String? = nil
    ) {
        self.id = id
        self.queueARN = queueARN
        self.events = events
        self.prefix = prefix
        self.suffix = suffix
    }
}

extension S3Client {
    /// One page (up to `maxKeys`, at most 1000) of the keys under `prefix`, in key order.
    public func listObjectsPage(
        bucket: String, prefix: String? = nil, continuationToken: String? = nil,
        maxKeys: Int = 1000
    ) async throws -> S3ObjectPage {
        let page = try await listObjectsV2(
            bucket: bucket, prefix: prefix, delimiter: nil,
            continuationToken: continuationToken, maxKeys: maxKeys)
        return S3ObjectPage(objects: page.objects, nextContinuationToken: page.nextContinuationToken)
    }

    /// The one ListObjectsV2 call behind flat listings and folder (delimiter) listings.
    func listObjectsV2(
        bucket: String, prefix: String?, delimiter: String?, continuationToken: String?,
        maxKeys: Int
    ) async throws -> S3DirectoryPage {
        var query: [(String, String)] = [("list-type", "2"), ("max-keys", String(maxKeys))]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let prefix, !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let r = try await client.send(
            operation("ListObjectsV2", method: "GET", bucket: bucket, query: query),
            errorParser: .xml)
        let doc = XMLLite(r.body)
        let objects = doc.blocks("Contents").compactMap { c -> S3ListedObject? in
            guard let key = c.first("Key") else { return nil }
            return S3ListedObject(
                key: key, size: c.first("Size").flatMap { Int64($0) } ?? 0, eTag: c.first("ETag"),
                lastModified: c.first("LastModified").flatMap(ISO8601.parse))
        }
        let prefixes = doc.blocks("CommonPrefixes").compactMap { $0.first("Prefix") }
        let truncated = doc.first("IsTruncated") == "true"
        return S3DirectoryPage(
            objects: objects, commonPrefixes: prefixes,
            nextContinuationToken: truncated ? doc.first("NextContinuationToken") : nil)
    }

    /// Every key under `prefix`, following continuation tokens; `limit` caps what is held in memory.
    public func listObjects(
        bucket: String, prefix: String? = nil, pageSize: Int = 1000,
        limit: Int = 100_000
    ) async throws -> [S3ListedObject] {
        var all: [S3ListedObject] = []
        var token: String?
        repeat {
            let page = try await listObjectsPage(
                bucket: bucket, prefix: prefix, continuationToken: token, maxKeys: pageSize)
            all += page.objects
            token = page.nextContinuationToken
        } while token != nil && all.count < limit
        return Array(all.prefix(limit))
    }

    /// The bucket's queue notifications (topics and Lambda targets are not Esteira's and are left out).
    public func bucketNotification(bucket: String) async throws -> [S3QueueNotification] {
        let r = try await client.send(
            operation(
                "GetBucketNotificationConfiguration", method: "GET", bucket: bucket,
                query: [("notification", "")]), errorParser: .xml)
        return XMLLite(r.body).blocks("QueueConfiguration").map { q in
            var n = S3QueueNotification(
                id: q.first("Id") ?? "", queueARN: q.first("Queue") ?? "", events: q.all("Event"))
            for rule in q.blocks("FilterRule") {
                switch rule.first("Name")?.lowercased() {
                case "prefix": n.prefix = rule.first("Value")
                case "suffix": n.suffix = rule.first("Value")
                default: break
                }
            }
            return n
        }
    }

    /// Replaces the bucket's whole notification configuration with these queue targets.
    public func putBucketNotification(bucket: String, queues: [S3QueueNotification]) async throws {
        let body = queues.map { q -> String in
            let rules = [("prefix", q.prefix), ("suffix", q.suffix)].compactMap { name, value in
                value.map { "<FilterRule><Name>\(name)</Name><Value>\(XMLLite.escape($0))</Value></FilterRule>" }
            }
            let filter = rules.isEmpty ? "" : "<Filter><S3Key>\(rules.joined())</S3Key></Filter>"
            return "<QueueConfiguration><Id>\(XMLLite.escape(q.id))</Id><Queue>\(XMLLite.escape(q.queueARN))</Queue>"
                + q.events.map { "<Event>\($0)</Event>" }.joined() + filter + "</QueueConfiguration>"
        }.joined()
        let xml =
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(body)</NotificationConfiguration>"
        _ = try await client.send(
            operation(
                "PutBucketNotificationConfiguration", method: "PUT", bucket: bucket,
                query: [("notification", "")], headers: [("content-type", "application/xml")],
                body: Array(xml.utf8)), errorParser: .xml)
    }

    /// Adds (or replaces, by id or by queue) one queue target in the bucket's notification configuration and keeps
    /// every other target (other queues, SNS topics, Lambda functions, EventBridge) as it was.
    public func addBucketNotification(bucket: String, queue: S3QueueNotification) async throws {
        try await setBucketNotifications(bucket: bucket, queues: [queue])
    }

    /// Puts `queues` into the bucket's notification configuration, in place of any earlier configuration
    /// with one of their ids or queues, of any configuration whose id starts with `droppingIDPrefix`, and
    /// of any configuration to a queue in `droppingQueues`. Other targets are kept byte for byte.
    /// (S3 refuses configurations whose prefixes overlap for the same events: a catch-all next to
    /// per-prefix ones must go.)
    public func setBucketNotifications(
        bucket: String, queues: [S3QueueNotification], droppingIDPrefix: String? = nil,
        droppingQueues: Set<String> = []
    ) async throws {
        let r = try await client.send(
            operation(
                "GetBucketNotificationConfiguration", method: "GET", bucket: bucket,
                query: [("notification", "")]), errorParser: .xml)
        let xml = NotificationConfigurationXML.merging(
            queues, into: String(decoding: r.body, as: UTF8.self), droppingIDPrefix: droppingIDPrefix,
            droppingQueues: droppingQueues)
        _ = try await client.send(
            operation(
                "PutBucketNotificationConfiguration", method: "PUT", bucket: bucket,
                query: [("notification", "")], headers: [("content-type", "application/xml")],
                body: Array(xml.utf8)), errorParser: .xml)
    }
}

/// Text surgery on S3's notification XML: S3 writes it canonically, and keeping foreign targets
/// byte for byte is safer than modelling every kind of target.
enum NotificationConfigurationXML {
    static let open = "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"

    static func element(_ q: S3QueueNotification) -> String {
        let rules = [("prefix", q.prefix), ("suffix", q.suffix)].compactMap { name, value in
            value.map { "<FilterRule><Name>\(name)</Name><Value>\(XMLLite.escape($0))</Value></FilterRule>" }
        }
        let filter = rules.isEmpty ? "" : "<Filter><S3Key>\(rules.joined())</S3Key></Filter>"
        return "<QueueConfiguration><Id>\(XMLLite.escape(q.id))</Id><Queue>\(XMLLite.escape(q.queueARN))</Queue>"
            + q.events.map { "<Event>\($0)</Event>" }.joined() + filter + "</QueueConfiguration>"
    }

    static func merging(_ q: S3QueueNotification, into existing: String) -> String {
        merging([q], into: existing)
    }

    static func merging(
        _ qs: [S3QueueNotification], into existing: String, droppingIDPrefix: String? = nil,
        droppingQueues: Set<String> = []
    ) -> String {
        let ids = Set(qs.map(\.id))
        let arns = Set(qs.map(\.queueARN)).union(droppingQueues)
        // Keep what sits inside the root element, minus any earlier configuration with our id.
        var inner = ""
        if let start = existing.range(of: "<NotificationConfiguration"),
            let openEnd = existing[start.upperBound...].firstIndex(of: ">"),
            existing[..<openEnd].last != "/",
            let close = existing.range(of: "</NotificationConfiguration>", options: .backwards)
        {
            inner = String(existing[existing.index(after: openEnd)..<close.lowerBound])
        }
        var kept = ""
        var rest = inner[...]
        while let s = rest.range(of: "<QueueConfiguration>"),
            let e = rest.range(of: "</QueueConfiguration>", range: s.upperBound..<rest.endIndex)
        {
            kept += rest[..<s.lowerBound]
            let block = rest[s.lowerBound..<e.upperBound]
            // Ours by id, or any other rule sending the same events to the same queue: S3 would
            // otherwise deliver each event once per rule.
            let doc = XMLLite(String(block))
            let id = doc.first("Id") ?? ""
            let dropped =
                ids.contains(id) || arns.contains(doc.first("Queue") ?? "")
                || droppingIDPrefix.map { !$0.isEmpty && id.hasPrefix($0) } == true
            if !dropped { kept += block }
            rest = rest[e.upperBound...]
        }
        kept += rest
        return open + kept.trimmingCharacters(in: .whitespacesAndNewlines) + qs.map(element).joined()
            + "</NotificationConfiguration>"
    }
}
