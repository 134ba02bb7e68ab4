import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL
import Foundation
import Logging

/// One file, start to end: stream from S3 → parse → clean → load into MySQL with its ledger row, atomically.
/// Knows nothing of queues; the worker decides what a failure means for the message.
public final class FilePipeline: Sendable {
    public let s3: S3Client
    /// MySQL connections, reused between files (see ``PipelineConnectionPool``).
    public let connections: PipelineConnectionPool
    public let routes: RouteTable
    public let logger: Logger
    /// Rows sent to MySQL per batch, at most.
    public let batchRows: Int
    /// Bytes per batch: a batch goes out once it holds this much, however few its rows, so memory follows
    /// bytes (a batch holds at most this plus one row; the loader keeps about two batches).
    public let batchBytes: Int
    public static let defaultBatchBytes = 4 << 20
    /// Where refused rows are written, in the source bucket: `<prefix><original key>.rejects.csv`.
    public static let rejectsPrefix = "esteira-rejects/"
    /// Bytes of refused rows held before they are sent on as the next part of the rejects object (or
    /// appended to the local rejects file). Every refused row is written; at least 5 MiB (S3's part size).
    public let rejectsPartBytes: Int
    public static let defaultRejectsPartBytes = 8 << 20

    public convenience init(
        s3: S3Client, mysql: MySQLConfig, routes: RouteTable, batchRows: Int = 2000,
        batchBytes: Int = FilePipeline.defaultBatchBytes,
        rejectsPartBytes: Int = FilePipeline.defaultRejectsPartBytes,
        logger: Logger = Logger(label: "esteira.pipeline")
    ) {
        self.init(
            s3: s3, connections: PipelineConnectionPool(config: mysql), routes: routes, batchRows: batchRows,
            batchBytes: batchBytes, rejectsPartBytes: rejectsPartBytes, logger: logger)
    }

    public init(
        s3: S3Client, connections: PipelineConnectionPool, routes: RouteTable, batchRows: Int = 2000,
        batchBytes: Int = FilePipeline.defaultBatchBytes,
        rejectsPartBytes: Int = FilePipeline.defaultRejectsPartBytes,
        logger: Logger = Logger(label: "esteira.pipeline")
    ) {
        self.s3 = s3
        self.batchRows = batchRows
        self.batchBytes = batchBytes
        self.rejectsPartBytes = rejectsPartBytes
        self.connections = connections
        self.routes = routes
        self.logger = logger
    }

    public func route(forKey key: String) throws(RoutingError) -> Route {
        try routes.route(forKey: key)
    }

    public func isOwnOutput(key: String) -> Bool { key.hasPrefix(FilePipeline.rejectsPrefix) }

    /// Loads one file. `beforeCommit` runs just before COMMIT: the worker checks there that it still holds
    /// the file's lease, so a worker whose lease ran out cannot commit after another took over.
    public func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void = {}
    ) async throws(PipelineError) -> FileOutcome {
        try await load(.object(source), route: route, fencingToken: fencingToken, beforeCommit: beforeCommit)
    }

    /// The same; `tracking` follows the stage, bytes and rows (the worker records the stage and watches
    /// for stalls).
    public func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void,
        tracking: LoadProgress
    ) async throws(PipelineError) -> FileOutcome {
        try await load(
            .object(source), route: route, fencingToken: fencingToken, beforeCommit: beforeCommit, tracking: tracking)
    }

    /// Loads one file from S3 or from the local disk. `progress` is told the bytes read so far, after each chunk.
    /// `reload` loads a version the ledger already has again, replacing the earlier load's rows in the same
    /// transaction (`esteira reload`; the route must be replace-by-file, see ``Route/reloadRefusal``).
    public func load(
        _ source: FileInput, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void = {},
        progress: @Sendable (Int64) -> Void = { _ in },
        tracking: LoadProgress = LoadProgress(), reload: Bool = false
    ) async throws(PipelineError) -> FileOutcome {
        do {
            if reload, let refusal = route.reloadRefusal { throw PipelineError(.reloadRefused, refusal) }
            return try await run(
                source, route: route, fencingToken: fencingToken, beforeCommit: beforeCommit,
                progress: progress, tracking: tracking, reload: reload)
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineFailures.classify(error)
        }
    }

    private func run(
        _ source: FileInput, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void,
        progress: @Sendable (Int64) -> Void, tracking: LoadProgress, reload: Bool
    ) async throws -> FileOutcome {
        try await connections.withConnection { connection in
            try await run(
                source, route: route, fencingToken: fencingToken, connection: connection,
                beforeCommit: beforeCommit, progress: progress, tracking: tracking, reload: reload)
        }
    }

    /// Raw bytes handed to the CSV engine per step. Small enough that a gzip chunk inflating 250× still
    /// yields a bounded number of rows between two sends to MySQL (memory stays O(batch)).
    static let feedBytes = 32 << 10

    /// Opens the file's bytes: a GET of exactly the notified version, or the local file.
    private func open(_ source: FileInput) async throws -> any FileBytes {
        switch source {
        case .object(let o):
            return try await s3.getObjectStream(
                bucket: o.bucket, key: o.key, versionID: o.versionID,
                ifMatch: o.versionID == nil ? o.eTag : nil
            ).1
        case .localFile(let f):
            return try LocalFileBytes(path: f.path)
        }
    }

    private func run(
        _ source: FileInput, route: Route, fencingToken: Int64, connection: MySQLConnection,
        beforeCommit: @Sendable () async throws -> Void,
        progress: @Sendable (Int64) -> Void, tracking: LoadProgress, reload: Bool
    ) async throws -> FileOutcome {
        var options = try route.readOptions()
        let mode = try route.mode()
        await tracking.enter(.fetch)
        // The table's columns, so a header column it lacks is named before anything is sent (nil: the
        // table does not exist yet; creating it, or saying it is missing, comes later).
        // (`extra_columns: add` adds such columns once the header is known, so nothing is refused here.)
        if !route.addsColumns, let columns = try await connection.tableColumns(route.table) {
            options.destination = DestinationColumns(table: route.table, columns: columns)
        }
        let body = try await open(source)
        await tracking.enter(.read)
        var file = try FileRun(
            source: source, route: route, options: options, mode: mode, fencingToken: fencingToken,
            connection: connection, tracking: tracking, batchRows: batchRows, batchBytes: batchBytes,
            rejects: RejectsWriter(destination: rejectsDestination(for: source), partBytes: rejectsPartBytes),
            reload: reload, logger: logger)
        do {
            while let chunk = try await body.next() {
                try Task.checkCancellation()
                if try await file.consume(chunk) == .alreadyLoaded {
                    // The ledger has this version: stop downloading, write nothing.
                    body.cancel()
                    await file.abandon(after: nil)
                    return file.alreadyLoaded()
                }
                progress(file.bytes)
            }
            return try await file.finish(beforeCommit: beforeCommit)
        } catch {
            body.cancel()
            throw await file.abandon(after: error)
        }
    }

    /// Where refused rows go, with line, reason and raw text for each: under `esteira-rejects/` in the
    /// source's bucket, or beside a local file as `<file>.rejects.csv` (see ``RejectsWriter``).
    private func rejectsDestination(for source: FileInput) -> RejectsWriter.Destination {
        switch source {
        case .object(let o):
            .object(s3, bucket: o.bucket, key: FilePipeline.rejectsKey(for: o.key))
        case .localFile(let f):
            .localFile(path: f.path + ".rejects.csv")
        }
    }
}
