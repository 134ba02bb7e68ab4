import Foundation

/// One uploaded part of a multipart upload, as CompleteMultipartUpload wants it back.
public struct S3UploadedPart: Sendable, Equatable {
    public var partNumber: Int
    public var eTag: String
    /// Bytes in the part, when known: lets a completion whose answer was lost be checked by size too.
    public var size: Int64?

    public init(partNumber: Int, eTag: String, size: Int64? = nil) {
        self.partNumber = partNumber
        self.eTag = eTag
        self.size = size
    }

    /// The ETag S3 gives an object completed from `parts` (unencrypted or SSE-S3): the MD5 of the parts'
    /// binary MD5s, then `-N`. Nil when a part's ETag is not a plain MD5 (SSE-KMS, SSE-C).
    public static func multipartETag(_ parts: [S3UploadedPart]) -> String? {
        var digests: [UInt8] = []
        for part in parts.sorted(by: { $0.partNumber < $1.partNumber }) {
            let hex = Array(part.eTag.utf8.filter { $0 != UInt8(ascii: "\"") })
            guard hex.count == 32, let bytes = Hex.decode(hex) else { return nil }
            digests += bytes
        }
        guard !parts.isEmpty, let md5 = try? Digest.md5(digests) else { return nil }
        return Digest.hex(md5) + "-\(parts.count)"
    }
}

extension S3Client {
    /// Starts a multipart upload; returns its upload id.
    public func createMultipartUpload(
        bucket: String, key: String,
        contentType: String = "application/octet-stream"
    ) async throws -> String {
        let r = try await client.send(
            operation(
                "CreateMultipartUpload", method: "POST", bucket: bucket, key: key,
                query: [("uploads", "")], headers: [("content-type", contentType)]),
            errorParser: .xml)
        guard let id = XMLLite(r.body).first("UploadId") else {
            throw malformed("CreateMultipartUpload", "no UploadId in the answer")
        }
        return id
    }

    /// Uploads one part held in memory.
    public func uploadPart(
        bucket: String, key: String, uploadID: String, partNumber: Int,
        body: [UInt8]
    ) async throws -> S3UploadedPart {
        var part = try await uploadPart(
            op: operation(
                "UploadPart", method: "PUT", bucket: bucket, key: key,
                query: partQuery(uploadID, partNumber), body: body, timeout: .seconds(600)),
            partNumber: partNumber)
        part.size = Int64(body.count)
        return part
    }

    /// Uploads one part read while it is sent: a file range (retried like any call) or a one-shot
    /// stream (not retried once any of it was sent). Parts other than the last must be at least 5 MiB.
    public func uploadPart(
        bucket: String, key: String, uploadID: String, partNumber: Int,
        upload: HTTPUpload
    ) async throws -> S3UploadedPart {
        var op = operation(
            "UploadPart", method: "PUT", bucket: bucket, key: key,
            query: partQuery(uploadID, partNumber), timeout: nil)
        op.upload = upload
        var part = try await uploadPart(op: op, partNumber: partNumber)
        if case .file(_, _, let length) = upload { part.size = length }
        return part
    }

    private func uploadPart(op: AWSOperation, partNumber: Int) async throws -> S3UploadedPart {
        let r = try await client.send(op, errorParser: .xml)
        guard let eTag = r.header("etag") else { throw malformed("UploadPart", "no ETag for part \(partNumber)") }
        return S3UploadedPart(partNumber: partNumber, eTag: eTag)
    }

    private func partQuery(_ uploadID: String, _ partNumber: Int) -> [(String, String)] {
        [("partNumber", String(partNumber)), ("uploadId", uploadID)]
    }

    /// Joins the parts into the object.
    @discardableResult
    public func completeMultipartUpload(
        bucket: String, key: String, uploadID: String,
        parts: [S3UploadedPart]
    ) async throws -> S3ObjectInfo {
        let xml =
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            + parts.sorted { $0.partNumber < $1.partNumber }.map {
                "<Part><PartNumber>\($0.partNumber)</PartNumber><ETag>\(XMLLite.escape($0.eTag))</ETag></Part>"
            }.joined() + "</CompleteMultipartUpload>"
        let op = operation(
            "CompleteMultipartUpload", method: "POST", bucket: bucket, key: key,
            query: [("uploadId", uploadID)], headers: [("content-type", "application/xml")],
            body: Array(xml.utf8), timeout: .seconds(600))
        let r: HTTPResponse
        do {
            r = try await client.send(op, errorParser: .xml)
        } catch let e as AWSError where e.code == .noSuchUpload {
            // A retry after a lost answer: the first try may have completed the upload. It did when the
            // object is there with the ETag (and size) those very parts make.
            if let done = try await completedEarlier(bucket: bucket, key: key, parts: parts) { return done }
            throw e
        }
        // S3 can answer 200 and still fail: the error is in the body (it had to start answering early).
        let doc = XMLLite(r.body)
        if doc.first("Code") != nil, doc.blocks("Error").first != nil {
            throw ErrorParser.xml.parse(r.head, body: r.body, service: "s3", operation: "CompleteMultipartUpload")
        }
        return S3ObjectInfo(
            bucket: bucket, key: key, size: nil, eTag: doc.first("ETag"),
            versionID: r.header("x-amz-version-id"), contentType: nil)
    }

    /// The object, when it is the one `parts` complete to; nil when it is absent or another object.
    private func completedEarlier(bucket: String, key: String, parts: [S3UploadedPart]) async throws -> S3ObjectInfo? {
        guard let expected = S3UploadedPart.multipartETag(parts) else { return nil }
        let head: S3ObjectInfo
        do {
            head = try await headObject(bucket: bucket, key: key)
        } catch let e as AWSError where e.status == 404 {
            return nil
        }
        guard head.eTag?.filter({ $0 != "\"" }) == expected else { return nil }
        let sizes = parts.map(\.size)
        if !sizes.contains(where: { $0 == nil }), let size = head.size, size != sizes.reduce(0) { $0 + $1! } {
            return nil
        }
        return head
    }

    /// Drops an upload and its parts (they are billed until then).
    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) async throws {
        do {
            _ = try await client.send(
                operation(
                    "AbortMultipartUpload", method: "DELETE", bucket: bucket, key: key,
                    query: [("uploadId", uploadID)]), errorParser: .xml)
        } catch let e as AWSError where e.code == .noSuchUpload {
            return
        }
    }

    /// Uploads a local file of any size in parts read from disk as they are sent, so memory stays at a
    /// few buffers; on failure the upload is aborted so no orphan parts stay behind.
    @discardableResult
    public func uploadFile(
        bucket: String, key: String, path: String, partSize: Int64 = 16 << 20,
        contentType: String = "application/octet-stream"
    ) async throws -> S3ObjectInfo {
        precondition(partSize >= 5 << 20, "S3 parts other than the last must be at least 5 MiB")
        let size: Int64
        do {
            size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        } catch {
            throw AWSConfigurationError("cannot upload \(path): \(error.localizedDescription)")
        }
        let uploadID = try await createMultipartUpload(bucket: bucket, key: key, contentType: contentType)
        do {
            var parts: [S3UploadedPart] = []
            var offset: Int64 = 0
            repeat {
                let length = min(partSize, size - offset)
                parts.append(
                    try await uploadPart(
                        bucket: bucket, key: key, uploadID: uploadID,
                        partNumber: parts.count + 1,
                        upload: .file(path: path, offset: offset, length: length)))
                offset += length
            } while offset < size
            var info = try await completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID, parts: parts)
            info.size = size
            info.contentType = contentType
            return info
        } catch {
            try? await abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
            throw error
        }
    }

    func malformed(_ op: String, _ what: String) -> AWSError {
        AWSError(service: "s3", operation: op, code: .malformedResponse, message: what, status: 200, isTransient: false)
    }
}
