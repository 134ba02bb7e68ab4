import Foundation
import Logging
import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL

/// One file, start to end: stream from S3 → parse → clean → load into MySQL with its ledger row, atomically.
/// Knows nothing of queues; the worker decides what a failure means for the message.
public final class FilePipeline: Sendable {
    public let s3: S3Client
    /// MySQL connections, reused between files (see ``MySQLConnections``).
    public let connections: MySQLConnections
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
    /// Fault injection for the fleet tests: a pause after each batch makes a file slow on purpose, so a
    /// test can kill or stop a worker mid-file. Zero in production.
    public let batchDelay: Double

    public convenience init(s3: S3Client, mysql: MySQLConfig, routes: RouteTable, batchRows: Int = 2000,
                            batchBytes: Int = FilePipeline.defaultBatchBytes,
                            rejectsPartBytes: Int = FilePipeline.defaultRejectsPartBytes,
                            batchDelay: Double = 0, logger: Logger = Logger(label: "esteira.pipeline")) {
        self.init(s3: s3, connections: MySQLConnections(config: mysql), routes: routes, batchRows: batchRows,
                  batchBytes: batchBytes, rejectsPartBytes: rejectsPartBytes, batchDelay: batchDelay, logger: logger)
    }

    public init(s3: S3Client, connections: MySQLConnections, routes: RouteTable, batchRows: Int = 2000,
                batchBytes: Int = FilePipeline.defaultBatchBytes,
                rejectsPartBytes: Int = FilePipeline.defaultRejectsPartBytes,
                batchDelay: Double = 0, logger: Logger = Logger(label: "esteira.pipeline")) {
        self.s3 = s3
        self.batchDelay = batchDelay
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
    public func load(_ source: SourceObject, route: Route, fencingToken: Int64,
                     beforeCommit: @Sendable () async throws -> Void = {}) async throws(PipelineError) -> FileOutcome {
        try await load(.object(source), route: route, fencingToken: fencingToken, beforeCommit: beforeCommit)
    }

    /// The same; `tracking` follows the stage, bytes and rows (the worker records the stage and watches
    /// for stalls).
    public func load(_ source: SourceObject, route: Route, fencingToken: Int64,
                     beforeCommit: @Sendable () async throws -> Void,
                     tracking: LoadProgress) async throws(PipelineError) -> FileOutcome {
        try await load(.object(source), route: route, fencingToken: fencingToken, beforeCommit: beforeCommit, tracking: tracking)
    }

    /// Loads one file from S3 or from the local disk. `progress` is told the bytes read so far, after each chunk.
    public func load(_ source: FileInput, route: Route, fencingToken: Int64,
                     beforeCommit: @Sendable () async throws -> Void = {},
                     progress: @Sendable (Int64) -> Void = { _ in },
                     tracking: LoadProgress = LoadProgress()) async throws(PipelineError) -> FileOutcome {
        do {
            return try await run(source, route: route, fencingToken: fencingToken, beforeCommit: beforeCommit,
                                 progress: progress, tracking: tracking)
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineFailures.classify(error)
        }
    }

    private func run(_ source: FileInput, route: Route, fencingToken: Int64,
                     beforeCommit: @Sendable () async throws -> Void,
                     progress: @Sendable (Int64) -> Void, tracking: LoadProgress) async throws -> FileOutcome {
        try await connections.withConnection { connection in
            try await run(source, route: route, fencingToken: fencingToken, connection: connection,
                          beforeCommit: beforeCommit, progress: progress, tracking: tracking)
        }
    }

    /// Raw bytes handed to the CSV engine per step. Small enough that a gzip chunk inflating 250× still
    /// yields a bounded number of rows between two sends to MySQL (memory stays O(batch)).
    static let feedBytes = 32 << 10

    /// Opens the file's bytes: a GET of exactly the notified version, or the local file.
    private func open(_ source: FileInput) async throws -> any FileBytes {
        switch source {
        case .object(let o):
            return try await s3.getObjectStream(bucket: o.bucket, key: o.key, versionID: o.versionID,
                                                ifMatch: o.versionID == nil ? o.eTag : nil).1
        case .localFile(let f):
            return try LocalFileBytes(path: f.path)
        }
    }

    private func run(_ source: FileInput, route: Route, fencingToken: Int64, connection: MySQLConnection,
                     beforeCommit: @Sendable () async throws -> Void,
                     progress: @Sendable (Int64) -> Void, tracking: LoadProgress) async throws -> FileOutcome {
        var options = try route.readOptions()
        let mode = try route.mode()
        await tracking.enter(.fetch)
        // The table's columns, so a header column it lacks is named before anything is sent (nil: the
        // table does not exist yet; creating it, or saying it is missing, comes later).
        if let columns = try await connection.tableColumns(route.table) {
            options.destination = DestinationColumns(table: route.table, columns: columns)
        }
        let body = try await open(source)
        await tracking.enter(.read)
        var abortScan = TestFaults.abortScan()

        // gzip/zlib (by magic bytes), charset, dialect sniffing, header, typing, cleaning, dedupe.
        let reader = try CSVReader(options: options)
        var columns: [String]?
        // Rows are escaped into the batch as they come (the TypedRow is only valid during the callback):
        // no String per field. Made before the load exists, the first batch is LOAD DATA text.
        var batch = LoadBatch(columnCount: 0)
        let rejects = RejectsWriter(destination: rejectsDestination(for: source), partBytes: rejectsPartBytes)
        var hasher = SHA256Hasher()
        var bytes: Int64 = 0
        var load: FileLoad?
        let maxRejects = route.maxRejects

        func sink(_ event: CSVReadEvent) throws {
            switch event {
            case .columns(let names):
                columns = names
                batch = LoadBatch(columnCount: names.count)
            case .row(let values):
                try batch.append(row: values)
            case .rejected(let row):
                rejects.add(line: row.line, reason: row.reason, raw: row.raw)
                if let maxRejects, rejects.count > maxRejects {
                    throw PipelineError(.tooManyRejects, "more than \(maxRejects) rows refused (the route's max_rejects); the last, line \(row.line): \(row.reason)")
                }
            }
        }

        func ledger(_ checksum: String) -> LedgerRecord {
            LedgerRecord(bucket: source.ledgerBucket, key: source.ledgerKey, version: source.ledgerVersion, fencingToken: fencingToken,
                         rowsLoaded: 0, rowsRejected: 0, checksum: checksum)
        }

        do {
            while let chunk = try await body.next() {
                try Task.checkCancellation()
                bytes += Int64(chunk.count)
                progress(bytes)
                tracking.read(totalBytes: bytes)
                if abortScan?.found(in: chunk) == true { TestFaults.abortForTest(source.uri) }
                hasher.update(chunk)
                var offset = 0
                while offset < chunk.count {
                    let end = min(chunk.count, offset + Self.feedBytes)
                    try chunk.withUnsafeBytes { try reader.consume(UnsafeRawBufferPointer(rebasing: $0[offset..<end]), sink) }
                    offset = end
                    if load == nil, let columns {
                        try await DestinationTable.prepare(for: route, fileColumns: columns, on: connection)
                        let begun = try await connection.beginFileLoad(table: route.table, columns: columns, ledger: ledger(""), mode: mode)
                        if begun.alreadyLoaded != nil {
                            // The ledger has this version: stop downloading, write nothing.
                            body.cancel()
                            await begun.rollback()
                            await rejects.abandon()
                            return FileOutcome(table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: bytes,
                                               alreadyLoaded: true, rejectsURI: nil)
                        }
                        load = begun
                        await tracking.enter(.load)
                    }
                    try await rejects.flushIfFull()
                    if batch.count >= batchRows || batch.byteCount >= batchBytes, let load {
                        try await load.append(batch)
                        tracking.passed(rows: batch.count)
                        batch = load.makeBatch()
                        if batchDelay > 0 { try await Task.sleep(nanoseconds: UInt64(batchDelay * 1e9)) }
                    }
                }
            }
            try reader.finish(sink)
        } catch {
            body.cancel()
            await load?.rollback()
            // The partner needs to see why: write what was refused so far, then fail.
            if var e = error as? PipelineError, e.code == .tooManyRejects, rejects.count > 0 {
                e.rejectsURI = try? await rejects.finish()
                await rejects.abandon()
                throw e
            }
            await rejects.abandon()
            throw error
        }
        let summary = reader.summary
        // Refused rows stream out only once the load has begun, so of the failures below only the
        // local-file check can leave a started rejects upload behind.
        guard let columns else { throw PipelineError(.badCSV, "the file has no header row") }
        let checksum = Hex.encode(hasher.finalize())
        if case .localFile(let f) = source, f.sha256 != checksum {
            await load?.rollback()
            await rejects.abandon()
            throw PipelineError(.versionChanged, "\(f.path) changed while it was being loaded; nothing was written. Load it again once it is complete")
        }
        if load == nil {
            try await DestinationTable.prepare(for: route, fileColumns: columns, on: connection)
            load = try await connection.beginFileLoad(table: route.table, columns: columns, ledger: ledger(checksum), mode: mode)
        }
        guard let load else { throw PipelineError(.database, "no load was started", transient: true) }
        do {
            if let threshold = route.rejectThreshold {
                let total = summary.rows + summary.rejected
                if total > 0 && Double(summary.rejected) > threshold * Double(total) {
                    await load.rollback()
                    let uri = try? await rejects.finish()
                    let percent = (Double(summary.rejected) * 1000 / Double(total)).rounded() / 10
                    var e = PipelineError(.tooManyRejects, "\(summary.rejected) of \(total) rows (\(percent)%) were refused, above the route's reject_threshold of \(threshold * 100)%; nothing was loaded. Reasons per row: \(uri ?? "the rejects file could not be written")")
                    e.rejectsURI = uri
                    throw e
                }
            }
            await tracking.enter(.commit)
            if !batch.isEmpty { try await load.append(batch) }
            tracking.passed(rows: batch.count)
            try Task.checkCancellation()
            var rejectsURI: String?
            if rejects.count > 0 {
                rejectsURI = try await rejects.finish()
            }
            try await beforeCommit()
            let outcome = try await load.commit(rowsRejected: rejects.count, checksum: checksum)
            switch outcome {
            case .loaded(let rows):
                var result = FileOutcome(table: route.table, rowsLoaded: rows, rowsRejected: rejects.count, bytesRead: bytes,
                                         alreadyLoaded: false, rejectsURI: rejectsURI)
                result.rowsDuplicate = summary.duplicates
                result.rowsEmpty = summary.emptyRows
                result.compression = summary.compression.rawValue
                result.charset = summary.charset.rawValue
                result.delimiter = String(UnicodeScalar(summary.dialect.delimiter))
                return result
            case .alreadyLoaded:
                return FileOutcome(table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: bytes,
                                   alreadyLoaded: true, rejectsURI: nil)
            }
        } catch {
            await load.rollback()
            await rejects.abandon()
            throw error
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
