import Foundation

/// One page of a folder-style listing: the objects directly under the prefix and the "subfolders"
/// (common prefixes up to the next delimiter).
public struct S3DirectoryPage: Sendable {
    public var objects: [S3ListedObject]
    /// Full prefixes, each ending in the delimiter (`acme/data/2024/`).
    public var commonPrefixes: [String]
    /// Nil on the last page.
    public var nextContinuationToken: String?
}

/// What HeadObject says about an object, with the modification time the SFTP gateway shows.
public struct S3ObjectStat: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var lastModified: Date?
    public var eTag: String?
}

extension S3Client {
    /// One page of ListObjectsV2 with a delimiter, so a folder is listed without walking its subtree.
    public func listDirectoryPage(
        bucket: String, prefix: String, delimiter: String = "/",
        continuationToken: String? = nil, maxKeys: Int = 1000
    ) async throws -> S3DirectoryPage {
        try await listObjectsV2(
            bucket: bucket, prefix: prefix, delimiter: delimiter,
            continuationToken: continuationToken, maxKeys: maxKeys)
    }

    /// HeadObject, or nil when there is no such object (HTTP 404).
    public func statObject(bucket: String, key: String) async throws -> S3ObjectStat? {
        do {
            let r = try await client.send(
                operation("HeadObject", method: "HEAD", bucket: bucket, key: key),
                errorParser: .xml)
            return S3ObjectStat(
                key: key, size: r.header("content-length").flatMap { Int64($0) } ?? 0,
                lastModified: r.header("last-modified").flatMap(HTTPDate.parse), eTag: r.header("etag"))
        } catch let e as AWSError where e.status == 404 {
            return nil
        }
    }

    /// Copies an object inside the bucket: one CopyObject up to 5 GiB, UploadPartCopy ranges above
    /// (CopyObject's own limit). Used for renames, which S3 does not have.
    @discardableResult
    public func copyObject(
        bucket: String, from sourceKey: String, to destinationKey: String, size: Int64,
        sourceETag: String? = nil
    ) async throws -> S3ObjectInfo {
        let source = "/" + bucket + "/" + SigV4.percentEncode(sourceKey, keepingSlash: true)
        var headers = [("x-amz-copy-source", source)]
        if let sourceETag { headers.append(("x-amz-copy-source-if-match", sourceETag)) }
        let singleCopyLimit: Int64 = 5 << 30
        if size <= singleCopyLimit {
            let r = try await client.send(
                operation(
                    "CopyObject", method: "PUT", bucket: bucket, key: destinationKey,
                    headers: headers, timeout: .seconds(900)), errorParser: .xml)
            // Like CompleteMultipartUpload, a copy can answer 200 and fail in the body.
            let doc = XMLLite(r.body)
            if doc.first("Code") != nil, doc.blocks("Error").first != nil {
                throw ErrorParser.xml.parse(r.head, body: r.body, service: "s3", operation: "CopyObject")
            }
            return S3ObjectInfo(
                bucket: bucket, key: destinationKey, size: size, eTag: doc.first("ETag"),
                versionID: r.header("x-amz-version-id"), contentType: nil)
        }
        let partSize: Int64 = 1 << 30
        let uploadID = try await createMultipartUpload(bucket: bucket, key: destinationKey)
        do {
            var parts: [S3UploadedPart] = []
            var offset: Int64 = 0
            while offset < size {
                let last = min(offset + partSize, size) - 1
                let number = parts.count + 1
                let op = operation(
                    "UploadPartCopy", method: "PUT", bucket: bucket, key: destinationKey,
                    query: [("partNumber", String(number)), ("uploadId", uploadID)],
                    headers: headers + [("x-amz-copy-source-range", "bytes=\(offset)-\(last)")],
                    timeout: .seconds(900))
                let r = try await client.send(op, errorParser: .xml)
                guard let eTag = XMLLite(r.body).first("ETag") else {
                    throw malformed("UploadPartCopy", "no ETag for part \(number)")
                }
                parts.append(S3UploadedPart(partNumber: number, eTag: eTag))
                offset = last + 1
            }
            var info = try await completeMultipartUpload(
                bucket: bucket, key: destinationKey, uploadID: uploadID,
                parts: parts)
            info.size = size
            return info
        } catch {
            try? await abortMultipartUpload(bucket: bucket, key: destinationKey, uploadID: uploadID)
            throw error
        }
    }
}
