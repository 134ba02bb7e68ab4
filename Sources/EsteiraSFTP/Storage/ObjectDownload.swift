import EsteiraAWS
import Foundation
import NIOCore

/// One file opened for reading: READs at increasing offsets are served from one streamed GET;
/// a READ elsewhere (a client that seeks or resumes) reopens the stream with a Range from there.
/// Every GET is pinned to the ETag seen at OPEN, so a file replaced meanwhile fails instead of
/// mixing two versions. Used by one session task at a time.
final class ObjectDownload {
    let storage: S3Storage
    let path: VirtualPath
    let key: String
    let size: Int64
    let eTag: String?
    let metrics: SFTPMetrics?

    private var body: S3ObjectBody?
    /// Offset of the next byte `body` (then `pending`) will give.
    private var position: Int64 = 0
    private var pending: [UInt8] = []
    private var pendingStart = 0

    init(storage: S3Storage, path: VirtualPath, key: String, size: Int64, eTag: String?, metrics: SFTPMetrics?) {
        self.storage = storage
        self.path = path
        self.key = key
        self.size = size
        self.eTag = eTag
        self.metrics = metrics
    }

    /// Up to `length` bytes from `offset`; nil at end of file.
    func read(offset: UInt64, length: Int) async throws -> [UInt8]? {
        guard offset < UInt64(size) else { return nil }
        let offset = Int64(offset)
        if body == nil || offset != position {
            close()
            let (s3, bucket, key, eTag, size) = (storage.s3, storage.bucket, key, eTag, size)
            body = try await storage.storageCall(path) {
                try await s3.getObjectStream(bucket: bucket, key: key, ifMatch: eTag, range: offset...(size - 1)).1
            }
            position = offset
        }
        var out: [UInt8] = []
        out.reserveCapacity(min(length, Int(size - offset)))
        while out.count < length {
            if pendingStart < pending.count {
                let n = min(length - out.count, pending.count - pendingStart)
                out.append(contentsOf: pending[pendingStart..<(pendingStart + n)])
                pendingStart += n
                continue
            }
            let chunk = try await storage.storageCall(path) { try await body!.next() }
            guard let chunk else { break }
            pending = chunk
            pendingStart = 0
        }
        position += Int64(out.count)
        metrics?.bytesDownloaded.increment(by: Int64(out.count))
        return out.isEmpty ? nil : out
    }

    func close() {
        body?.cancel()
        body = nil
        pending = []
        pendingStart = 0
    }
}
