import EsteiraAWS
import Foundation

/// The rejects file of one load: every refused row, with its line and reason, and memory bounded in bytes.
///
/// Rows are written as CSV into a buffer as they are refused (inside the reader's callback, so without
/// waiting). Once the buffer holds ``partBytes``, ``flushIfFull()`` sends it on and empties it: as the
/// next part of an S3 multipart upload, or appended to a temporary file beside a local source. A file with
/// few refusals never starts either: ``finish()`` writes it in one PutObject (or one atomic write). So the
/// rows held at once are at most one part plus what one step of the reader refused, whatever their number.
///
/// Not thread-safe: one load, one task. Call ``finish()`` to publish the file, or ``abandon()`` on any other
/// way out (an unfinished multipart upload is aborted, a temporary file removed).
final class RejectsWriter {
    enum Destination: Sendable {
        case object(S3Client, bucket: String, key: String)
        case localFile(path: String)

        var uri: String {
            switch self {
            case .object(_, let bucket, let key): "s3://\(bucket)/\(key)"
            case .localFile(let path): path
            }
        }
    }

    /// S3's smallest part (but the last).
    static let minimumPartBytes = 5 << 20
    static let header = Array("line,reason,raw\r\n".utf8)

    let destination: Destination
    /// Bytes of CSV held before they are sent on.
    let partBytes: Int
    /// Refused rows so far (all of them are in the file).
    private(set) var count = 0
    private var buffer: [UInt8] = RejectsWriter.header
    /// S3: the multipart upload, once started, and its parts.
    private var uploadID: String?
    private var parts: [S3UploadedPart] = []
    /// Local: the temporary file, once started, renamed over the final path by `finish`.
    private var temporary: (path: String, fd: Int32)?
    private var finished = false

    init(destination: Destination, partBytes: Int) {
        self.destination = destination
        self.partBytes = max(partBytes, Self.minimumPartBytes)
        // One buffer for the whole file, reused part after part (reserved, not touched: only what is written
        // is resident), so a long stream of refusals does not churn and fragment the heap.
        buffer.reserveCapacity(self.partBytes + (1 << 20))
    }

    /// Adds one refused row (`line,"reason","raw"`).
    func add(line: Int, reason: String, raw: String) {
        count += 1
        buffer += "\(line),".utf8
        Self.appendQuoted(reason, to: &buffer)
        buffer.append(UInt8(ascii: ","))
        Self.appendQuoted(raw, to: &buffer)
        buffer += "\r\n".utf8
    }

    var isFull: Bool { buffer.count >= partBytes }

    /// Sends the buffer on when it holds a part's worth.
    func flushIfFull() async throws {
        guard isFull else { return }
        try await send(last: false)
    }

    /// Publishes the file (the rows added so far) and returns where it is.
    func finish() async throws -> String {
        guard !finished else { throw PipelineError(.storage, "the rejects file \(destination.uri) was already closed") }
        do {
            switch destination {
            case .object(let s3, let bucket, let key):
                if uploadID == nil {
                    try await s3.putObject(bucket: bucket, key: key, body: buffer, contentType: Self.contentType)
                } else {
                    if !buffer.isEmpty || parts.isEmpty { try await send(last: true) }
                    try await s3.completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID!, parts: parts)
                }
            case .localFile(let path):
                if temporary == nil {
                    try await Self.onIO { [buffer] in try Self.writeWhole(buffer, to: path) }
                } else {
                    try await send(last: true)
                    let (temporaryPath, fd) = temporary!
                    try await Self.onIO {
                        guard close(fd) == 0 else { throw Self.localError(path, errno) }
                        guard rename(temporaryPath, path) == 0 else { throw Self.localError(path, errno) }
                    }
                    temporary = nil
                }
            }
        } catch {
            await abandon()
            throw error
        }
        finished = true
        buffer = []
        return destination.uri
    }

    /// Drops whatever was sent so far. Harmless after `finish`, and when nothing was sent.
    func abandon() async {
        guard !finished else { return }
        finished = true
        buffer = []
        if let uploadID, case .object(let s3, let bucket, let key) = destination {
            // Not cancelled with the load: parts left behind are billed until a lifecycle rule clears them.
            _ = await Task.detached { try? await s3.abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
                .value
        }
        if let file = temporary {
            try? await Self.onIO {
                _ = close(file.fd)
                _ = unlink(file.path)
            }
        }
        uploadID = nil
        temporary = nil
    }

    private func send(last: Bool) async throws {
        defer { buffer.removeAll(keepingCapacity: true) }
        switch destination {
        case .object(let s3, let bucket, let key):
            if uploadID == nil {
                uploadID = try await s3.createMultipartUpload(bucket: bucket, key: key, contentType: Self.contentType)
            }
            parts.append(
                try await s3.uploadPart(
                    bucket: bucket, key: key, uploadID: uploadID!,
                    partNumber: parts.count + 1, body: buffer))
        case .localFile(let path):
            if temporary == nil {
                let temporaryPath = "\(path).\(UInt32.random(in: 0...UInt32.max)).partial"
                let fd = try await Self.onIO { () throws -> Int32 in
                    let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                    guard fd >= 0 else { throw Self.localError(path, errno) }
                    return fd
                }
                temporary = (temporaryPath, fd)
            }
            let fd = temporary!.fd
            try await Self.onIO { [buffer] in try Self.writeAll(buffer, to: fd, path: path) }
        }
    }

    static let contentType = "text/csv; charset=utf-8"

    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            out.append(byte)
            if byte == UInt8(ascii: "\"") { out.append(byte) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// File writes block: on the local-file queue, never on the cooperative pool.
    static func onIO<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { done in
            LocalFileBytes.io.async { done.resume(with: Result { try work() }) }
        }
    }

    static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws {
        try bytes.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let n = write(fd, all.baseAddress! + offset, all.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw localError(path, errno)
                }
                offset += n
            }
        }
    }

    static func writeWhole(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw PipelineError(.storage, "cannot write the rejects file \(path): \(error.localizedDescription)")
        }
    }

    static func localError(_ path: String, _ code: Int32) -> PipelineError {
        PipelineError(.storage, "cannot write the rejects file \(path): \(String(cString: strerror(code)))")
    }
}
