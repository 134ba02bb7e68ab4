import EsteiraSync
import Foundation

/// An S3 object's bytes as they arrive, resumed transparently after a dropped connection.
///
/// One consumer at a time, like any async iterator. Each resume is a new GET with
/// `Range: bytes=<received>-` and `If-Match: <ETag of the first answer>`.
public final class S3ObjectBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    struct Resume: Sendable {
        let client: S3Client
        let bucket: String
        let key: String
        let versionID: String?
        let eTag: String?
        /// First byte of the requested range.
        let start: Int64
        /// Last byte of the requested range, nil for "to the end".
        let end: Int64?
        let maxResumes: Int
    }

    private struct State {
        var stream: HTTPBodyStream
        var received: Int64 = 0
        var resumes = 0
        var finished = false
    }

    private let state: Locked<State>
    private let expectedLength: Int64?
    private let resume: Resume

    init(first: HTTPBodyStream, expectedLength: Int64?, resume: Resume) {
        self.state = Locked(State(stream: first))
        self.expectedLength = expectedLength
        self.resume = resume
    }

    /// How many times a dropped connection was resumed.
    public var resumeCount: Int { state.withLock { $0.resumes } }

    /// The next chunk, or nil at the end of the object.
    public func next() async throws -> [UInt8]? {
        while true {
            let (stream, finished) = state.withLock { ($0.stream, $0.finished) }
            if finished { return nil }
            do {
                if let chunk = try await stream.next() {
                    state.withLock { $0.received += Int64(chunk.count) }
                    return chunk
                }
                let received = state.withLock { $0.received }
                if let expectedLength, received < expectedLength {
                    // A clean close before Content-Length is a cut connection too.
                    try await reopen(
                        after: TransportError(
                            curlCode: 18, message: "the body ended after \(received) of \(expectedLength) bytes",
                            url: "s3://\(resume.bucket)/\(resume.key)"))
                    continue
                }
                state.withLock { $0.finished = true }
                return nil
            } catch let e as TransportError {
                try await reopen(after: e)
            }
        }
    }

    private func reopen(after error: TransportError) async throws {
        let (received, resumes) = state.withLock { ($0.received, $0.resumes) }
        let operation = "GetObject"
        guard resumes < resume.maxResumes else {
            var e = AWSError(
                service: "s3", operation: operation, code: .transport,
                message: "s3://\(resume.bucket)/\(resume.key): \(error.message)", status: 0)
            e.retryNote = "gave up after \(resumes) resumes at byte \(resume.start + received)"
            throw e
        }
        guard let eTag = resume.eTag else {
            var e = AWSError(service: "s3", operation: operation, code: .transport, message: error.message, status: 0)
            e.retryNote = "not resumed: the server sent no ETag to pin the object version to"
            throw e
        }
        try await Task.sleep(for: resume.client.client.config.retry.backoff(afterAttempt: resumes + 1))
        let from = resume.start + received
        let head: HTTPResponseHead
        let body: HTTPBodyStream
        do {
            (head, body) = try await resume.client.openObject(
                bucket: resume.bucket, key: resume.key,
                versionID: resume.versionID, ifMatch: eTag,
                from: from, through: resume.end)
        } catch var e as AWSError where e.code == .preconditionFailed || e.status == 412 {
            e.message =
                "s3://\(resume.bucket)/\(resume.key) changed while it was read (ETag is no longer \(eTag)); "
                + "refusing to join bytes of two versions. Read it again from the start."
            e.isTransient = false
            throw e
        }
        // A server that ignores Range would send the whole object again; joining that would corrupt it.
        let contentRange = head.header("content-range") ?? ""
        guard head.status == 206, contentRange.hasPrefix("bytes \(from)-") else {
            body.cancel()
            throw AWSError(
                service: "s3", operation: operation, code: .resumeMismatch,
                message:
                    "asked for bytes from \(from) but got HTTP \(head.status) with Content-Range '\(contentRange)'",
                status: head.status, isTransient: false)
        }
        state.withLock { s in
            s.stream = body
            s.resumes += 1
        }
    }

    /// Reads the rest of the object into memory (small objects only).
    public func collect(limit: Int = 16 << 20) async throws -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = try await next() {
            all.append(contentsOf: chunk)
            if all.count > limit { break }
        }
        return all
    }

    /// Stops the download; the connection is closed.
    public func cancel() {
        let stream = state.withLock { s in
            s.finished = true
            return s.stream
        }
        stream.cancel()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: S3ObjectBody
        public mutating func next() async throws -> [UInt8]? { try await body.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}
