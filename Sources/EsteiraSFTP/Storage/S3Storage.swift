import EsteiraAWS
import Foundation
import Logging

/// What a path is, as the storage layer sees it.
public enum StorageEntry: Sendable, Equatable {
    case file(size: Int64, modified: Date?, eTag: String?)
    case directory
}

/// The file system one user sees: a bucket prefix (the home), with folders as key prefixes.
///
/// S3 has no folders and no rename; this maps them the way the S3 console and Transfer Family do:
/// a folder exists while any key starts with its prefix (MKDIR writes an empty `name/` marker so an
/// empty folder can exist), and RENAME is a copy then a delete.
public struct S3Storage: Sendable {
    public let s3: S3Client
    public let bucket: String
    /// Ends in `/`, or is empty for the whole bucket.
    public let home: String
    let logger: Logger

    public init(s3: S3Client, bucket: String, home: String, logger: Logger) {
        self.s3 = s3
        self.bucket = bucket
        self.home = home
        self.logger = logger
    }

    /// The entry at `path`, or nil. A key and a folder of the same name may both exist in S3; the file wins.
    public func stat(_ path: VirtualPath) async throws -> StorageEntry? {
        if path.isRoot { return .directory }
        let key = try path.key(home: home)
        if let object = try await storageCall(path, { try await s3.statObject(bucket: bucket, key: key) }) {
            return .file(size: object.size, modified: object.lastModified, eTag: object.eTag)
        }
        return try await directoryExists(path) ? .directory : nil
    }

    func directoryExists(_ path: VirtualPath) async throws -> Bool {
        if path.isRoot { return true }
        let prefix = try path.directoryPrefix(home: home)
        let page = try await storageCall(path) {
            try await s3.listDirectoryPage(bucket: bucket, prefix: prefix, maxKeys: 1)
        }
        return !page.objects.isEmpty || !page.commonPrefixes.isEmpty
    }

    /// One page of a folder's entries (name, entry), without the folder's own marker.
    public func list(_ path: VirtualPath, continuationToken: String?) async throws
        -> (entries: [(String, StorageEntry)], next: String?)
    {
        let prefix = try path.directoryPrefix(home: home)
        let page = try await storageCall(path) {
            try await s3.listDirectoryPage(bucket: bucket, prefix: prefix, continuationToken: continuationToken)
        }
        var entries: [(String, StorageEntry)] = []
        // Cut in UTF-8 bytes, not Characters: a key whose name starts with a combining mark joins it to
        // the prefix's last `/` in one Character.
        let cut = { (key: String) -> String in String(decoding: key.utf8.dropFirst(prefix.utf8.count), as: UTF8.self) }
        for p in page.commonPrefixes {
            let name = String(decoding: cut(p).utf8.dropLast(), as: UTF8.self)
            if !name.isEmpty { entries.append((name, .directory)) }
        }
        for o in page.objects {
            let name = cut(o.key)
            if name.isEmpty { continue }  // the folder's own marker
            entries.append((name, .file(size: o.size, modified: o.lastModified, eTag: o.eTag)))
        }
        entries.sort { $0.0 < $1.0 }
        return (entries, page.nextContinuationToken)
    }

    public func remove(_ path: VirtualPath) async throws {
        guard !path.isRoot else { throw SFTPStatusError(.failure, "/ is your home folder and cannot be removed") }
        guard case .file = try await stat(path) else {
            if try await directoryExists(path) {
                throw SFTPStatusError(.failure, "\(path) is a folder; remove it with rmdir once it is empty")
            }
            throw SFTPStatusError.noSuchFile(path.description)
        }
        let key = try path.key(home: home)
        try await storageCall(path) { try await s3.deleteObject(bucket: bucket, key: key) }
    }

    public func makeDirectory(_ path: VirtualPath) async throws {
        guard !path.isRoot else { throw SFTPStatusError(.failure, "/ already exists") }
        if try await stat(path) != nil { throw SFTPStatusError(.failure, "\(path) already exists") }
        let marker = try path.directoryPrefix(home: home)
        try await storageCall(path) { _ = try await s3.putObject(bucket: bucket, key: marker, body: []) }
    }

    /// Removes an empty folder (its marker). A folder with anything in it is refused, as rmdir does.
    public func removeDirectory(_ path: VirtualPath) async throws {
        guard !path.isRoot else { throw SFTPStatusError(.failure, "/ is your home folder and cannot be removed") }
        let prefix = try path.directoryPrefix(home: home)
        let page = try await storageCall(path) {
            try await s3.listDirectoryPage(bucket: bucket, prefix: prefix, maxKeys: 2)
        }
        let others = page.objects.filter { $0.key != prefix }.count + page.commonPrefixes.count
        if others > 0 { throw SFTPStatusError(.failure, "\(path) is not empty") }
        guard page.objects.contains(where: { $0.key == prefix }) else {
            if case .file = try await stat(path) {
                throw SFTPStatusError(.failure, "\(path) is a file; remove it with rm")
            }
            throw SFTPStatusError.noSuchFile(path.description)
        }
        try await storageCall(path) { try await s3.deleteObject(bucket: bucket, key: prefix) }
    }

    /// Renames a file: copy (pinned to the source's ETag) then delete. Like SFTP v3 says, an existing
    /// target is an error rather than overwritten.
    public func rename(_ from: VirtualPath, to: VirtualPath) async throws {
        guard case .file(let size, _, let eTag)? = try await stat(from) else {
            if try await directoryExists(from) {
                throw SFTPStatusError.unsupported(
                    "\(from) is a folder: S3 has no folders to rename, so move the files in it one by one")
            }
            throw SFTPStatusError.noSuchFile(from.description)
        }
        let existing = to.isRoot ? StorageEntry.directory : try await stat(to)
        if existing != nil {
            throw SFTPStatusError(.failure, "\(to) already exists; remove it first")
        }
        let source = try from.key(home: home)
        let target = try to.key(home: home)
        try await storageCall(from) {
            _ = try await s3.copyObject(bucket: bucket, from: source, to: target, size: size, sourceETag: eTag)
            try await s3.deleteObject(bucket: bucket, key: source)
        }
    }

    /// Runs an S3 call and turns its failure into a status the client can act on; the details go to the log.
    func storageCall<T>(_ path: VirtualPath, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as SFTPStatusError {
            throw e
        } catch let e as AWSError {
            logger.error("S3 call failed", metadata: ["path": "\(path)", "error": "\(e)"])
            if e.status == 404 || e.code == .noSuchKey { throw SFTPStatusError.noSuchFile(path.description) }
            if e.code == .preconditionFailed || e.status == 412 {
                throw SFTPStatusError(.failure, "\(path) changed while it was being read or moved; try again")
            }
            if e.status == 403 {
                throw SFTPStatusError(
                    .failure,
                    "\(path): the gateway's storage refused the request (its AWS permissions); tell the operator")
            }
            throw SFTPStatusError(.failure, "\(path): storage is unavailable (\(e.code)); try again later")
        } catch let e as AWSConfigurationError {
            logger.error("S3 configuration error", metadata: ["error": "\(e)"])
            throw SFTPStatusError(.failure, "\(path): the gateway's storage is misconfigured; tell the operator")
        }
    }
}
