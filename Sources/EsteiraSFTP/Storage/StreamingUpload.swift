import EsteiraAWS
import Foundation
import Logging
import NIOCore

/// One file being written by a client, streamed to S3 as a multipart upload.
///
/// Memory stays at two parts at most whatever the file size: one filling from WRITEs while the
/// previous one is uploaded, each growing as data comes (a small file holds a small buffer). Both
/// count against the process's `UploadMemoryBudget`: the first part's room is taken at OPEN (`init`
/// throws when there is none), the second only while a part is in flight and the budget has room;
/// without it the next WRITE waits for the part in flight. When a WRITE waits, the session answers
/// requests in order, so the client (and the SSH window behind it) waits too.
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
    let memory: UploadMemoryBudget
    /// What one part buffer may grow to: a part plus the WRITE that crosses its end.
    let unit: Int

    private(set) var written: Int64 = 0
    /// Bytes this upload holds of `memory`: one unit, two while a part is in flight with the next filling.
    private var reserved = 0
    private var buffer: [UInt8] = []
    private var uploadID: String?
    private var parts: [S3UploadedPart] = []
    private var inFlight: Task<S3UploadedPart, any Error>?
    /// Set once the upload cannot succeed; every later call reports it.
    private var failure: SFTPStatusError?
    private(set) var isFinished = false

    /// Takes one part's room from `memory`, or throws the reason the upload cannot start now.
    init(
        storage: S3Storage, path: VirtualPath, key: String, partSize: Int, maxFileSize: Int64,
        memory: UploadMemoryBudget,
        metrics: SFTPMetrics?
    ) throws {
        self.storage = storage
        self.path = path
        self.key = key
        self.partSize = partSize
        self.maxFileSize = maxFileSize
        self.metrics = metrics
        self.memory = memory
        unit = partSize + SFTPCodec.maximumPacketLength
        guard memory.tryReserve(unit) else {
            throw SFTPStatusError(
                .failure,
                "\(path): the server is receiving as many files at once as its upload memory "
                    + "allows (\(memory.limit >> 20) MiB); try again in a minute")
        }
        reserved = unit
    }

    deinit { if reserved > 0 { memory.release(reserved) } }

    /// Appends a WRITE. S3 objects are written front to back, so the offset must be where the file ends now.
    func write(offset: UInt64, data: ByteBuffer) async throws {
        if let failure { throw failure }
        guard offset == UInt64(written) else {
            throw SFTPStatusError(
                .operationUnsupported,
                "\(path): write at byte \(offset) but the file is \(written) bytes long; this gateway stores files in S3, "
                    + "which takes them front to back only (no resuming, seeking or parallel writes of one file); upload it again from the start"
            )
        }
        let newSize = written + Int64(data.readableBytes)
        guard newSize <= maxFileSize else {
            await fail(
                SFTPStatusError(
                    .failure,
                    "\(path): the file is larger than this gateway's limit of \(maxFileSize) bytes; the upload was dropped"
                ))
            throw failure!
        }
        // A part in flight without a second unit of the budget: the buffer may fill only once it is gone.
        if inFlight != nil, reserved < 2 * unit { try await collectInFlight() }
        grow(toHold: buffer.count + data.readableBytes)
        buffer.append(contentsOf: data.readableBytesView)
        written = newSize
        metrics?.bytesUploaded.increment(by: Int64(data.readableBytes))
        if buffer.count >= partSize { try await sendPart() }
    }

    /// Grows the buffer by doubling, from 64 KiB up to one unit (never past it: the last append of a
    /// part must not double a full buffer).
    private func grow(toHold count: Int) {
        guard count > buffer.capacity else { return }
        buffer.reserveCapacity(min(unit, max(count, 2 * buffer.capacity, 64 << 10)))
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
        // The next part may fill while this one uploads only with a second unit of the budget.
        if reserved < 2 * unit, memory.tryReserve(unit) { reserved += unit }
        let number = parts.count + 1
        let (s3, bucket, objectKey, id) = (storage.s3, storage.bucket, key, uploadID!)
        inFlight = Task {
            try await s3.uploadPart(bucket: bucket, key: objectKey, uploadID: id, partNumber: number, body: body)
        }
    }

    private func collectInFlight() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        defer { releaseSecondUnit() }
        do {
            parts.append(try await task.value)
        } catch {
            let e = mapped(error)
            await fail(e)
            throw e
        }
    }

    private func releaseSecondUnit() {
        if reserved > unit {
            memory.release(reserved - unit)
            reserved = unit
        }
    }

    private func releaseMemory() {
        buffer = []
        memory.release(reserved)
        reserved = 0
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
        releaseMemory()
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
        releaseMemory()
        metrics?.uploadsAborted.increment()
        guard let id = uploadID else {
            storage.logger.warning(
                "upload dropped", metadata: ["key": "\(key)", "bytes": "\(written)", "reason": "\(error.message)"])
            return
        }
        // Shielded from the session's cancellation: a dropped connection must still clean up.
        let (s3, bucket, objectKey, logger, written) = (storage.s3, storage.bucket, key, storage.logger, written)
        await Task.detached {
            do {
                try await s3.abortMultipartUpload(bucket: bucket, key: objectKey, uploadID: id)
                logger.warning(
                    "upload aborted",
                    metadata: ["key": "\(objectKey)", "bytes": "\(written)", "reason": "\(error.message)"])
            } catch {
                logger.error(
                    "could not abort a multipart upload; S3 keeps its parts until a lifecycle rule removes them",
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
