import EsteiraAWS
import Foundation

/// What the pipeline reads: an S3 object version (what the worker loads), or a local file (`esteira load FILE`).
///
/// Either way the MySQL ledger keys the load on (bucket, key, version), so a file is loaded once. A local
/// file has no bucket or version: its bucket is `file://<host>` (never a valid S3 bucket name), its key the
/// absolute path, and its version the SHA-256 of its bytes — the same bytes at the same path load once,
/// changed bytes load again.
public enum FileInput: Sendable {
    case object(SourceObject)
    case localFile(LocalFile)

    public var uri: String {
        switch self {
        case .object(let o): o.uri
        case .localFile(let f): f.path
        }
    }

    var ledgerBucket: String {
        switch self {
        case .object(let o): o.bucket
        case .localFile(let f): "file://" + f.host
        }
    }

    var ledgerKey: String {
        switch self {
        case .object(let o): o.key
        case .localFile(let f): f.path
        }
    }

    var ledgerVersion: String {
        switch self {
        case .object(let o): o.version
        case .localFile(let f): "sha256:" + f.sha256
        }
    }
}

/// A local file identified by its content, for one-off loads outside the queue.
public struct LocalFile: Sendable, Equatable {
    /// Absolute path.
    public let path: String
    /// Hex SHA-256 of the file's bytes when it was opened.
    public let sha256: String
    public let host: String
    public let size: Int64

    /// Reads the file once to fingerprint it (off the cooperative pool: file reads block).
    public static func fingerprint(path: String) async throws(PipelineError) -> LocalFile {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let result: Result<(String, Int64), PipelineError> = await withCheckedContinuation { done in
            LocalFileBytes.io.async {
                guard let handle = FileHandle(forReadingAtPath: absolute) else {
                    return done.resume(
                        returning: .failure(
                            PipelineError(
                                .objectMissing, "cannot open \(absolute): check the path and that it is a readable file"
                            )))
                }
                defer { try? handle.close() }
                var hasher = SHA256Hasher()
                var size: Int64 = 0
                do {
                    while let data = try handle.read(upToCount: LocalFileBytes.chunkBytes), !data.isEmpty {
                        size += Int64(data.count)
                        hasher.update(Array(data))
                    }
                } catch {
                    return done.resume(
                        returning: .failure(
                            PipelineError(.storage, "cannot read \(absolute): \(error.localizedDescription)")))
                }
                done.resume(returning: .success((Hex.encode(hasher.finalize()), size)))
            }
        }
        let (sha, size) = try result.get()
        return LocalFile(path: absolute, sha256: sha, host: ProcessInfo.processInfo.hostName, size: size)
    }
}

/// A file's bytes chunk by chunk, and a way to stop early.
protocol FileBytes: Sendable {
    func next() async throws -> [UInt8]?
    func cancel()
}

extension S3ObjectBody: FileBytes {}

/// A local file read in chunks on a dispatch queue, never on the cooperative pool.
public final class LocalFileBytes: FileBytes, @unchecked Sendable {
    // @unchecked: `handle` and `closed` are only touched on `queue`.
    static let io = DispatchQueue(label: "esteira.local-file", qos: .utility, attributes: .concurrent)
    static let chunkBytes = 1 << 20
    private let queue = DispatchQueue(label: "esteira.local-file.reader", target: LocalFileBytes.io)
    private let handle: FileHandle
    private var closed = false
    let path: String

    public init(path: String) throws(PipelineError) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw PipelineError(.objectMissing, "cannot open \(path): check the path and that it is a readable file")
        }
        self.handle = handle
        self.path = path
    }

    public func next() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { done in
            queue.async {
                guard !self.closed else { return done.resume(returning: nil) }
                do {
                    guard let data = try self.handle.read(upToCount: Self.chunkBytes), !data.isEmpty else {
                        self.close()
                        return done.resume(returning: nil)
                    }
                    done.resume(returning: Array(data))
                } catch {
                    self.close()
                    done.resume(
                        throwing: PipelineError(.storage, "cannot read \(self.path): \(error.localizedDescription)"))
                }
            }
        }
    }

    public func cancel() { queue.async { self.close() } }

    private func close() {
        guard !closed else { return }
        closed = true
        try? handle.close()
    }

    deinit { if !closed { try? handle.close() } }
}
