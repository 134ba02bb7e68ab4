import EsteiraAWS
import Foundation
import Logging
import NIOCore

/// One file being written by a client, streamed to S3 as a multipart upload.
///
/// Memory stays at two parts whatever the file size: one filling from WRITEs while the previous one
/// is uploaded. When both are full, the next WRITE waits for the upload, and because the session
/// answers requests in order, the client (and the SSH window behind it) waits too.
///
/// Nothing is visible in the bucket until `finish()`: a file smaller than one part is sent as one
/// PutObject then, a larger one is completed then. `abort()` (a dropped connection, an error, a
/// session that ends with the file still open) drops the multipart upload, so no object and no
/// billed orphan parts are left behind.
///
/// Used by one session task at a time; not Sendable on purpose.
final class StreamingUpload {
    let storage: S3Storage
    let path: VirtualPath
    let key: String
    let partSize: Int
    let maxFileSize: Int64
    let metrics: SFTPMetrics?

    private(set) var written: Int64 = 0
    private var buffer: [UInt8] = []
    private var uploadID: String?
    private var parts: [S3UploadedPart] = []
    private var inFlight: Task<S3UploadedPart, any Error>?
    /// Set once the upload cannot succeed; every later call reports it.
    private var failure: SFTPStatusError?
    private(set) var isFinished = false

    init(storage: S3Storage, path: VirtualPath, key: String, partSize: Int, maxFileSize: Int64, metrics: SFTPMetrics?) {
        self.storage = storage
        self.path = path
        self.key = key
        self.partSize = partSize
        self.maxFileSize = maxFileSize
        self.metrics = metrics
    }

    /// Appends a WRITE. S3 objects are written front to back, so the offset must be where the file ends now.
    func write(offset: UInt64, data: ByteBuffer) async throws {
        if let failure { throw failure }
        guard offset == UInt64(written) else {
            throw SFTPStatusError(.operationUnsupported,
                "\(path): write at byte \(offset) but the file is \(written) bytes long; this gateway stores files in S3, "
                + "which takes them front to back only (no resuming, seeking or parallel writes of one file); upload it again from the start")
        }
        let newSize = written + Int64(data.readableBytes)
        guard newSize <= maxFileSize else {
            await fail(SFTPStatusError(.failure, "\(path): the file is larger than this gateway's limit of \(maxFileSize) bytes; the upload was dropped"))
            throw failure!
        }
        if buffer.capacity == 0 { reserveBuffer() }
        buffer.append(contentsOf: data.readableBytesView)
        written = newSize
        metrics?.bytesUploaded.increment(by: Int64(data.readableBytes))
        if buffer.count >= partSize { try await sendPart() }
    }

    /// Room for a whole part plus one WRITE, so the last append of a part never doubles the array.
    private func reserveBuffer() {
        buffer.reserveCapacity(partSize + SFTPCodec.maximumPacketLength)
    }

    /// Ships the full buffer as the next part, after waiting for the one before it.
    private func sendPart() async throws {
        try await collectInFlight()
        if uploadID == nil {
            do {
                uploadID = try await storage.storageCall(path) {
                    try await storage.s3.createMultipartUpload(bucket: storage.bucket, key: key)
                }
            } catch let e as SFTPStatusError {
                await fail(e)
                throw e
            }
        }
        let body = buffer
        buffer = []
        reserveBuffer()
        let number = parts.count + 1
        let (s3, bucket, objectKey, id) = (storage.s3, storage.bucket, key, uploadID!)
        inFlight = Task {
            try await s3.uploadPart(bucket: bucket, key: objectKey, uploadID: id, partNumber: number, body: body)
        }
    }

    private func collectInFlight() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        do {
            parts.append(try await task.value)
        } catch {
            let e = mapped(error)
            await fail(e)
            throw e
        }
    }

    /// CLOSE: makes the object appear. On failure nothing appears and the error says why.
    func finish() async throws -> Int64 {
        if let failure { throw failure }
        guard !isFinished else { return written }
        do {
            if uploadID == nil {
                let body = buffer
                buffer = []
                try await storage.storageCall(path) {
                    _ = try await storage.s3.putObject(bucket: storage.bucket, key: key, body: body)
                }
            } else {
                if !buffer.isEmpty { try await sendPart() }
                try await collectInFlight()
                let (s3, bucket, objectKey, id, parts) = (storage.s3, storage.bucket, key, uploadID!, parts)
                try await storage.storageCall(path) {
                    _ = try await s3.completeMultipartUpload(bucket: bucket, key: objectKey, uploadID: id, parts: parts)
                }
            }
        } catch {
            let e = mapped(error)
            await fail(e)
            throw e
        }
        isFinished = true
        metrics?.uploadsCompleted.increment()
        return written
    }

    /// Drops the upload: no object, no parts left in S3.
    func abort(reason: String) async {
        guard !isFinished, failure == nil else { return }
        await fail(SFTPStatusError(.failure, "\(path): the upload was dropped (\(reason))"))
    }

    private func fail(_ error: SFTPStatusError) async {
        guard failure == nil else { return }
        failure = error
        buffer = []
        if let task = inFlight {
            inFlight = nil
            task.cancel()
            _ = try? await task.value
        }
        metrics?.uploadsAborted.increment()
        guard let id = uploadID else {
            storage.logger.warning("upload dropped", metadata: ["key": "\(key)", "bytes": "\(written)", "reason": "\(error.message)"])
            return
        }
        // Shielded from the session's cancellation: a dropped connection must still clean up.
        let (s3, bucket, objectKey, logger, written) = (storage.s3, storage.bucket, key, storage.logger, written)
        await Task.detached {
            do {
                try await s3.abortMultipartUpload(bucket: bucket, key: objectKey, uploadID: id)
                logger.warning("upload aborted", metadata: ["key": "\(objectKey)", "bytes": "\(written)", "reason": "\(error.message)"])
            } catch {
                logger.error("could not abort a multipart upload; S3 keeps its parts until a lifecycle rule removes them",
                             metadata: ["key": "\(objectKey)", "upload_id": "\(id)", "error": "\(error)"])
            }
        }.value
    }

    private func mapped(_ error: any Error) -> SFTPStatusError {
        if let e = error as? SFTPStatusError { return e }
        if let e = error as? AWSError {
            storage.logger.error("S3 upload call failed", metadata: ["key": "\(key)", "error": "\(e)"])
            return SFTPStatusError(.failure, "\(path): storage refused the upload (\(e.code)); upload it again")
        }
        if error is CancellationError { return SFTPStatusError(.failure, "\(path): the upload was cancelled") }
        storage.logger.error("upload failed", metadata: ["key": "\(key)", "error": "\(error)"])
        return SFTPStatusError(.failure, "\(path): the upload failed; upload it again")
    }
}
