import EsteiraAWS
import EsteiraSync
import Foundation
import Logging
import NIOCore

/// One SFTP session: reads requests in order and answers each before reading the next.
///
/// Answering in order is what bounds memory: while an upload waits for S3, no further WRITE is read,
/// NIO stops reading the channel, the SSH window closes, and the client waits. A session owns its
/// open files; when it ends for any reason (CLOSE never sent, connection cut, idle timeout, server
/// stopping) every upload still open is aborted, so no half file ever appears in the bucket.
struct SFTPSession: Sendable {
    let user: SFTPUser
    let storage: S3Storage
    let settings: SFTPGatewaySettings
    let metrics: SFTPMetrics?
    let logger: Logger
    /// Shared by every session of the process.
    let uploadMemory: UploadMemoryBudget

    private enum OpenFile {
        case upload(StreamingUpload, started: ContinuousClock.Instant)
        case download(ObjectDownload)
        case directory(DirectoryListing)
    }

    /// A folder being listed: S3 gives pages of up to 1,000 keys, which can encode to more than one
    /// NAME reply may hold; what did not fit waits in `pending` for the next READDIR.
    private struct DirectoryListing {
        var path: VirtualPath
        var continuation: String?
        var finished = false
        var pending: ArraySlice<(String, StorageEntry)> = []
    }

    /// The session's mutable state; lives in the session task only.
    private final class State {
        var files: [String: OpenFile] = [:]
        var nextHandle: UInt32 = 0
        var initialised = false
        var uploads: Int {
            files.values.reduce(0) { n, f in if case .upload = f { n + 1 } else { n } }
        }
        var folders: Int {
            files.values.reduce(0) { n, f in if case .directory = f { n + 1 } else { n } }
        }
    }

    /// Last time a request finished, and whether one is being worked on; read by the idle watchdog.
    final class Activity: Sendable {
        private let state = Locked((last: ContinuousClock.now, busy: false))
        func begin() { state.withLock { $0.busy = true } }
        func end() { state.withLock { $0 = (ContinuousClock.now, false) } }
        func idle(for limit: Duration) -> Bool {
            state.withLock { !$0.busy && ContinuousClock.now - $0.last > limit }
        }
    }

    func run(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let state = State()
        let activity = Activity()
        let idleLimit = settings.idleTimeout
        let raw = channel.channel
        let logger = self.logger
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Polls rather than re-arming a timer per request: one wake-up a second per session is nothing.
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(1))
                            if activity.idle(for: idleLimit) {
                                logger.notice(
                                    "session idle; closing the connection",
                                    metadata: ["idle_timeout_s": "\(idleLimit.components.seconds)"])
                                // The whole connection: an SSH connection left with no session would still hold a socket.
                                (raw.parent ?? raw).close(promise: nil)
                                return
                            }
                        }
                    }
                    for try await frame in inbound {
                        activity.begin()
                        let response = await answer(frame, state: state)
                        activity.end()
                        guard let response else {
                            raw.close(promise: nil)
                            break
                        }
                        try await outbound.write(response)
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("session ended by an error", metadata: ["error": "\(error)"])
        }
        await closeAll(state, reason: "the session ended before the file was closed")
    }

    private func closeAll(_ state: State, reason: String) async {
        for (_, file) in state.files {
            switch file {
            case .upload(let upload, _): await upload.abort(reason: reason)
            case .download(let d): d.close()
            case .directory: break
            }
        }
        state.files = [:]
    }

    /// The encoded reply to one frame, or nil when the stream cannot go on.
    private func answer(_ frame: ByteBuffer, state: State) async -> ByteBuffer? {
        let request: SFTPRequest
        do {
            request = try SFTPCodec.decodeRequest(frame)
        } catch let e as SFTPProtocolError {
            logger.warning("malformed SFTP packet", metadata: ["error": "\(e.message)"])
            guard let id = e.id else { return nil }
            return SFTPCodec.encode(.status(id: id, code: .badMessage, message: e.message))
        } catch {
            return nil
        }
        guard let id = request.id else {
            // INIT: version 3 whatever the client offers (a v4+ client must fall back; all do).
            state.initialised = true
            return SFTPCodec.encode(.version(3, extensions: []))
        }
        do {
            return SFTPCodec.encode(try await handle(request, id: id, state: state))
        } catch let e as SFTPStatusError {
            logger.debug(
                "request refused",
                metadata: ["op": "\(request.operation)", "status": "\(e.code)", "message": "\(e.message)"])
            return SFTPCodec.encode(.status(id: id, code: e.code, message: e.message))
        } catch {
            logger.error("request failed", metadata: ["op": "\(request.operation)", "error": "\(error)"])
            return SFTPCodec.encode(
                .status(id: id, code: .failure, message: "\(request.operation) failed on the server; try again"))
        }
    }

    private func require(_ permission: SFTPPermissions, _ path: VirtualPath) throws {
        guard user.permissions.contains(permission) else {
            throw SFTPStatusError.permissionDenied(path.description, needs: "\(permission)")
        }
    }

    private func ok(_ id: UInt32) -> SFTPResponse { .status(id: id, code: .ok, message: "OK") }

    private func handle(_ request: SFTPRequest, id: UInt32, state: State) async throws -> SFTPResponse {
        switch request {
        case .realpath(_, let raw):
            let path = try VirtualPath(navigating: raw)
            return .name(
                id: id,
                entries: [SFTPNameEntry(filename: path.description, longname: path.description, attributes: .empty)])

        case .stat(_, let raw), .lstat(_, let raw):
            let path = try VirtualPath(navigating: raw)
            guard let entry = try await storage.stat(path) else { throw SFTPStatusError.noSuchFile(path.description) }
            return .attributes(id: id, attributes: attributes(entry))

        case .fstat(_, let handle):
            switch try file(handle, state) {
            case .upload(let u, _):
                return .attributes(id: id, attributes: SFTPAttributes(size: UInt64(u.written), permissions: 0o100644))
            case .download(let d):
                return .attributes(id: id, attributes: SFTPAttributes(size: UInt64(d.size), permissions: 0o100644))
            case .directory: return .attributes(id: id, attributes: attributes(.directory))
            }

        case .setstat(_, let raw, _):
            // S3 keeps no owner, mode or times a client could set; accepted so `put -p` and chmod do not fail.
            let path = try VirtualPath(resolving: raw)
            guard try await storage.stat(path) != nil else { throw SFTPStatusError.noSuchFile(path.description) }
            return ok(id)

        case .fsetstat(_, let handle, _):
            _ = try file(handle, state)
            return ok(id)

        case .open(_, let raw, let flags, _):
            let path = try VirtualPath(resolving: raw)
            return .handle(id: id, handle: try await open(path, flags: flags, state: state))

        case .read(_, let handle, let offset, let length):
            guard case .download(let d) = try file(handle, state) else {
                throw SFTPStatusError(.failure, "this handle was not opened for reading")
            }
            // A longer DATA reply would be over the message limit of clients (OpenSSH aborts on one).
            guard let bytes = try await d.read(offset: offset, length: min(Int(length), SFTPCodec.maximumReadLength))
            else {
                return .status(id: id, code: .eof, message: "end of file")
            }
            return .data(id: id, data: ByteBuffer(bytes: bytes))

        case .write(_, let handle, let offset, let data):
            guard case .upload(let u, _) = try file(handle, state) else {
                throw SFTPStatusError(.failure, "this handle was not opened for writing")
            }
            try await u.write(offset: offset, data: data)
            return ok(id)

        case .close(_, let handle):
            let f = try file(handle, state)
            state.files[handle] = nil
            switch f {
            case .upload(let u, let started):
                let bytes = try await u.finish()
                let seconds = (ContinuousClock.now - started) / .seconds(1)
                logger.info(
                    "upload complete",
                    metadata: [
                        "key": "\(u.key)", "bytes": "\(bytes)",
                        "seconds": "\(String(format: "%.2f", seconds))",
                    ])
            case .download(let d): d.close()
            case .directory: break
            }
            return ok(id)

        case .opendir(_, let raw):
            let path = try VirtualPath(navigating: raw)
            try require(.read, path)
            switch try await storage.stat(path) {
            case .directory?: break
            case .file?: throw SFTPStatusError(.failure, "\(path) is a file, not a folder")
            case nil: throw SFTPStatusError.noSuchFile(path.description)
            }
            // Each listing may hold the rest of an S3 page (up to 1,000 names, about 1 MiB with the longest).
            guard state.folders < settings.maxOpenFoldersPerSession else {
                throw SFTPStatusError(
                    .failure,
                    "at most \(settings.maxOpenFoldersPerSession) folders listed at once per session; close one first")
            }
            return .handle(id: id, handle: try newHandle(.directory(DirectoryListing(path: path)), state))

        case .readdir(_, let handle):
            guard case .directory(var listing) = try file(handle, state) else {
                throw SFTPStatusError(.failure, "this handle is not a folder")
            }
            if listing.pending.isEmpty {
                if listing.finished { return .status(id: id, code: .eof, message: "end of folder") }
                var (entries, next) = try await storage.list(listing.path, continuationToken: listing.continuation)
                // A page of only folder markers is possible; keep paging rather than end the listing early.
                while entries.isEmpty, let c = next {
                    (entries, next) = try await storage.list(listing.path, continuationToken: c)
                }
                listing.pending = entries[...]
                listing.continuation = next
                listing.finished = next == nil
                if entries.isEmpty {
                    state.files[handle] = .directory(listing)
                    return .status(id: id, code: .eof, message: "end of folder")
                }
            }
            // As many entries as fit in one reply, counted in bytes: a page of long names is more than a client takes.
            var reply: [SFTPNameEntry] = []
            var size = SFTPCodec.nameReplyOverhead
            while let (name, entry) = listing.pending.first {
                let a = attributes(entry)
                let e = SFTPNameEntry(
                    filename: name, longname: SFTPLongName.format(name: name, attributes: a, owner: user.name),
                    attributes: a)
                let n = SFTPCodec.encodedLength(of: e)
                if !reply.isEmpty, size + n > SFTPCodec.maximumReplyLength { break }
                reply.append(e)
                size += n
                listing.pending.removeFirst()
            }
            state.files[handle] = .directory(listing)
            return .name(id: id, entries: reply)

        case .remove(_, let raw):
            let path = try VirtualPath(resolving: raw)
            try require(.delete, path)
            try await storage.remove(path)
            logger.info("file removed", metadata: ["path": "\(path)"])
            return ok(id)

        case .mkdir(_, let raw, _):
            let path = try VirtualPath(resolving: raw)
            try require(.write, path)
            try await storage.makeDirectory(path)
            return ok(id)

        case .rmdir(_, let raw):
            let path = try VirtualPath(resolving: raw)
            try require(.delete, path)
            try await storage.removeDirectory(path)
            return ok(id)

        case .rename(_, let rawFrom, let rawTo):
            let from = try VirtualPath(resolving: rawFrom)
            let to = try VirtualPath(resolving: rawTo)
            // A rename is a copy then a delete of the source: without `delete`, renaming would remove files.
            try require(.write, to)
            try require(.delete, from)
            try await storage.rename(from, to: to)
            logger.info("file renamed", metadata: ["from": "\(from)", "to": "\(to)"])
            return ok(id)

        case .readlink, .symlink:
            throw SFTPStatusError.unsupported("S3 storage has no symbolic links")

        case .extended(_, let name):
            throw SFTPStatusError.unsupported("the extension '\(name)' is not supported by this server")

        case .unknown(let type, _):
            throw SFTPStatusError.unsupported("request type \(type) is not part of SFTP version 3")

        case .initialize:
            throw SFTPStatusError(.badMessage, "INIT may only be sent once, first")
        }
    }

    private func open(_ path: VirtualPath, flags: SFTPOpenFlags, state: State) async throws -> String {
        if flags.contains(.read) && flags.contains(.write) {
            throw SFTPStatusError.unsupported(
                "\(path): opening a file for reading and writing at once is not possible on S3 storage")
        }
        guard state.files.count < settings.maxOpenFilesPerSession else {
            throw SFTPStatusError(
                .failure,
                "too many open files in this session (at most \(settings.maxOpenFilesPerSession)); close some first")
        }
        if flags.contains(.write) || flags.contains(.append) || flags.contains(.create) {
            try require(.write, path)
            if flags.contains(.append) {
                throw SFTPStatusError.unsupported(
                    "\(path): appending is not possible on S3 storage; upload the whole file again")
            }
            if path.isRoot { throw SFTPStatusError(.failure, "/ is a folder") }
            guard state.uploads < settings.maxUploadsPerSession else {
                throw SFTPStatusError(
                    .failure, "at most \(settings.maxUploadsPerSession) uploads at once per session; close one first")
            }
            let existing = try await storage.stat(path)
            if case .directory? = existing { throw SFTPStatusError(.failure, "\(path) is a folder") }
            if flags.contains(.exclusive), existing != nil { throw SFTPStatusError(.failure, "\(path) already exists") }
            let key = try path.key(home: storage.home)
            let upload: StreamingUpload
            do {
                upload = try StreamingUpload(
                    storage: storage, path: path, key: key,
                    partSize: settings.partSize, maxFileSize: settings.maxFileSize,
                    memory: uploadMemory, metrics: metrics)
            } catch let e as SFTPStatusError {
                metrics?.sessionRefused(reason: "upload_memory")
                logger.warning(
                    "upload refused: the upload memory budget is spent",
                    metadata: [
                        "path": "\(path)", "budget_bytes": "\(uploadMemory.limit)",
                        "in_use_bytes": "\(uploadMemory.inUse)",
                    ])
                throw e
            }
            return try newHandle(.upload(upload, started: .now), state)
        }
        try require(.read, path)
        switch try await storage.stat(path) {
        case .file(let size, _, let eTag)?:
            let d = ObjectDownload(
                storage: storage, path: path, key: try path.key(home: storage.home), size: size,
                eTag: eTag, metrics: metrics)
            return try newHandle(.download(d), state)
        case .directory?: throw SFTPStatusError(.failure, "\(path) is a folder; list it with ls")
        case nil: throw SFTPStatusError.noSuchFile(path.description)
        }
    }

    private func newHandle(_ file: OpenFile, _ state: State) throws -> String {
        state.nextHandle &+= 1
        let handle = String(state.nextHandle)
        state.files[handle] = file
        return handle
    }

    private func file(_ handle: String, _ state: State) throws -> OpenFile {
        guard let f = state.files[handle] else {
            throw SFTPStatusError(
                .failure, "unknown handle '\(VirtualPath.printable(String(handle.prefix(32))))' (already closed?)")
        }
        return f
    }

    private func attributes(_ entry: StorageEntry) -> SFTPAttributes {
        switch entry {
        case .directory:
            return SFTPAttributes(permissions: SFTPAttributes.directoryType | 0o755)
        case .file(let size, let modified, _):
            let mtime = modified.map { UInt32(clamping: Int64($0.timeIntervalSince1970)) }
            return SFTPAttributes(
                size: UInt64(max(0, size)), permissions: SFTPAttributes.regularFileType | 0o644,
                accessTime: mtime, modificationTime: mtime)
        }
    }
}
