import Foundation

/// An object's identity and size as S3 reports them.
public struct S3ObjectInfo: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var size: Int64?
    public var eTag: String?
    public var versionID: String?
    public var contentType: String?
}

/// The S3 calls Esteira needs, over `AWSClient`.
public struct S3Client: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    /// Path-style for custom endpoints unless told otherwise; virtual-hosted on AWS.
    private var pathStyle: Bool {
        client.config.s3PathStyle ?? client.config.endpoint(for: .s3).isCustom
    }

    func operation(
        _ name: String, method: String, bucket: String, key: String? = nil,
        query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8] = [], timeout: Duration? = .seconds(60)
    ) -> AWSOperation {
        var op = AWSOperation(
            service: .s3, name: name, method: method, query: query, headers: headers,
            body: body, timeout: timeout)
        if let problem = S3BucketName.urlProblem(bucket) {
            op.refusal = AWSError(
                service: "s3", operation: name, code: .invalidBucketName,
                message: "bucket \(bucket.debugDescription) \(problem); nothing was sent", status: 400,
                isTransient: false)
        }
        let keyPath = key.map { "/" + $0 } ?? ""
        if pathStyle {
            op.path = "/" + bucket + (key == nil ? "" : keyPath)
        } else {
            op.hostPrefix = bucket + "."
            op.path = key == nil ? "/" : keyPath
        }
        return op
    }

    /// Creates the bucket; an existing bucket of ours is fine (idempotent).
    public func createBucket(_ bucket: String) async throws {
        let region = client.config.region
        let body =
            region == "us-east-1"
            ? []
            : Array(
                """
                <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\
                <LocationConstraint>\(region)</LocationConstraint></CreateBucketConfiguration>
                """.utf8)
        do {
            _ = try await client.send(
                operation("CreateBucket", method: "PUT", bucket: bucket, body: body),
                errorParser: .xml)
        } catch let e as AWSError where e.code == .bucketAlreadyOwnedByYou {
            return
        }
    }

    @discardableResult
    public func putObject(
        bucket: String, key: String, body: [UInt8],
        contentType: String = "application/octet-stream"
    ) async throws -> S3ObjectInfo {
        let r = try await client.send(
            operation(
                "PutObject", method: "PUT", bucket: bucket, key: key,
                headers: [("content-type", contentType)], body: body,
                timeout: .seconds(600)), errorParser: .xml)
        return S3ObjectInfo(
            bucket: bucket, key: key, size: Int64(body.count), eTag: r.header("etag"),
            versionID: r.header("x-amz-version-id"), contentType: contentType)
    }

    public func headObject(bucket: String, key: String, versionID: String? = nil) async throws -> S3ObjectInfo {
        let query = versionID.map { [("versionId", $0)] } ?? []
        let r = try await client.send(
            operation("HeadObject", method: "HEAD", bucket: bucket, key: key, query: query),
            errorParser: .xml)
        return info(bucket: bucket, key: key, head: r.head)
    }

    /// The whole object in memory: for small files (routes, rejects); big files use `getObjectStream`.
    public func getObject(bucket: String, key: String, versionID: String? = nil) async throws -> [UInt8] {
        let query = versionID.map { [("versionId", $0)] } ?? []
        return try await client.send(
            operation(
                "GetObject", method: "GET", bucket: bucket, key: key, query: query,
                timeout: .seconds(600)), errorParser: .xml
        ).body
    }

    /// The object as a stream of chunks with backpressure; memory stays bounded whatever the size.
    ///
    /// A connection dropped mid-body is resumed with a Range request pinned to the first answer's
    /// ETag (If-Match), so a body is never stitched from two versions: if the object was replaced
    /// in between, reading fails with `PreconditionFailed` (HTTP 412) instead.
    public func getObjectStream(
        bucket: String, key: String, versionID: String? = nil,
        ifMatch: String? = nil, range: ClosedRange<Int64>? = nil,
        maxResumes: Int = 5
    ) async throws -> (S3ObjectInfo, S3ObjectBody) {
        let (head, body) = try await openObject(
            bucket: bucket, key: key, versionID: versionID, ifMatch: ifMatch,
            from: range?.lowerBound, through: range?.upperBound)
        let info = info(bucket: bucket, key: key, head: head)
        let resume = S3ObjectBody.Resume(
            client: self, bucket: bucket, key: key, versionID: versionID,
            eTag: ifMatch ?? info.eTag, start: range?.lowerBound ?? 0,
            end: range?.upperBound, maxResumes: maxResumes)
        return (info, S3ObjectBody(first: body, expectedLength: info.size, resume: resume))
    }

    /// One GET, whole or from `from` (inclusive) through `through` (inclusive, or the end).
    func openObject(
        bucket: String, key: String, versionID: String?, ifMatch: String?, from: Int64?,
        through: Int64?
    ) async throws -> (HTTPResponseHead, HTTPBodyStream) {
        let query = versionID.map { [("versionId", $0)] } ?? []
        var headers: [(String, String)] = []
        if let ifMatch { headers.append(("if-match", ifMatch)) }
        if from != nil || through != nil {
            headers.append(("range", "bytes=\(from ?? 0)-" + (through.map(String.init) ?? "")))
        }
        return try await client.stream(
            operation(
                "GetObject", method: "GET", bucket: bucket, key: key, query: query, headers: headers, timeout: nil),
            errorParser: .xml)
    }

    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await client.send(
            operation("DeleteObject", method: "DELETE", bucket: bucket, key: key), errorParser: .xml)
    }

    /// Sends every ObjectCreated event of the bucket (optionally filtered by key suffix) to one queue.
    public func putBucketNotification(
        bucket: String, queueARN: String, id: String = "esteira",
        events: [String] = ["s3:ObjectCreated:*"], prefix: String? = nil,
        suffix: String? = nil
    ) async throws {
        try await putBucketNotification(
            bucket: bucket,
            queues: [
                S3QueueNotification(id: id, queueARN: queueARN, events: events, prefix: prefix, suffix: suffix)
            ])
    }

    /// The queue ARNs the bucket notifies today.
    public func bucketNotificationQueues(bucket: String) async throws -> [String] {
        try await bucketNotification(bucket: bucket).map(\.queueARN)
    }

    private func info(bucket: String, key: String, head: HTTPResponseHead) -> S3ObjectInfo {
        S3ObjectInfo(
            bucket: bucket, key: key, size: head.header("content-length").flatMap { Int64($0) },
            eTag: head.header("etag"), versionID: head.header("x-amz-version-id"),
            contentType: head.header("content-type"))
    }
}
