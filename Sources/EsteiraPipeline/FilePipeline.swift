import Foundation
import Logging
import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL

/// One file, start to end: stream from S3 → parse → clean → load into MySQL with its ledger row, atomically.
/// Knows nothing of queues; the worker decides what a failure means for the message.
public final class FilePipeline: Sendable {
    public let s3: S3Client
    /// MySQL connections, reused between files (see ``PipelineConnectionPool``).
    public let connections: PipelineConnectionPool
    public let routes: RouteTable
    public let logger: Logger
    /// Rows sent to MySQL per statement batch.
    public let batchRows: Int
    /// Where refused rows are written, in the source bucket: `<prefix><original key>.rejects.csv`.
    public static let rejectsPrefix = "esteira-rejects/"
    /// Refused rows kept for the rejects file; past this only the count grows.
    public let maxRejectsKept: Int
    /// Fault injection for the fleet tests: a pause after each batch makes a file slow on purpose, so a
    /// test can kill or stop a worker mid-file. Zero in production.
    public let batchDelay: Double

    public convenience init(s3: S3Client, mysql: MySQLConfig, routes: RouteTable, batchRows: Int = 2000, maxRejectsKept: Int = 10_000,
                            batchDelay: Double = 0, logger: Logger = Logger(label: "esteira.pipeline")) {
        self.init(s3: s3, connections: PipelineConnectionPool(config: mysql), routes: routes, batchRows: batchRows,
                  maxRejectsKept: maxRejectsKept, batchDelay: batchDelay, logger: logger)
    }

    public init(s3: S3Client, connections: PipelineConnectionPool, routes: RouteTable, batchRows: Int = 2000, maxRejectsKept: Int = 10_000,
                batchDelay: Double = 0, logger: Logger = Logger(label: "esteira.pipeline")) {
        self.s3 = s3
        self.batchDelay = batchDelay
        self.batchRows = batchRows
        self.maxRejectsKept = maxRejectsKept
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
        let options = try route.readOptions()
        let mode = try route.mode()
        await tracking.enter(.fetch)
        let body = try await open(source)
        await tracking.enter(.read)
        var abortScan = TestFaults.abortScan()

        // gzip/zlib (by magic bytes), charset, dialect sniffing, header, typing, cleaning, dedupe.
        let reader = try CSVReader(options: options)
        var columns: [String]?
        // Rows are escaped into the batch as they come (the TypedRow is only valid during the callback):
        // no String per field. Made before the load exists, the first batch is LOAD DATA text.
        var batch = LoadBatch(columnCount: 0)
        var rejects = RejectsCollector(limit: maxRejectsKept)
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
                            return FileOutcome(table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: bytes,
                                               alreadyLoaded: true, rejectsURI: nil)
                        }
                        load = begun
                        await tracking.enter(.load)
                    }
                    if batch.count >= batchRows, let load {
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
            if let e = error as? PipelineError, e.code == .tooManyRejects, rejects.count > 0 {
                _ = try? await writeRejects(rejects, source: source)
            }
            throw error
        }
        let summary = reader.summary
        guard let columns else { throw PipelineError(.badCSV, "the file has no header row") }
        let checksum = Hex.encode(hasher.finalize())
        if case .localFile(let f) = source, f.sha256 != checksum {
            await load?.rollback()
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
                    let uri = try? await writeRejects(rejects, source: source)
                    let percent = (Double(summary.rejected) * 1000 / Double(total)).rounded() / 10
                    throw PipelineError(.tooManyRejects, "\(summary.rejected) of \(total) rows (\(percent)%) were refused, above the route's reject_threshold of \(threshold * 100)%; nothing was loaded. Reasons per row: \(uri ?? "the rejects file could not be written")")
                }
            }
            await tracking.enter(.commit)
            if !batch.isEmpty { try await load.append(batch) }
            tracking.passed(rows: batch.count)
            try Task.checkCancellation()
            var rejectsURI: String?
            if rejects.count > 0 {
                rejectsURI = try await writeRejects(rejects, source: source)
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
            throw error
        }
    }

    /// Writes the refused rows with line, reason and raw text for each: under `esteira-rejects/` in the
    /// source's bucket, or beside a local file as `<file>.rejects.csv`.
    private func writeRejects(_ rejects: RejectsCollector, source: FileInput) async throws -> String {
        switch source {
        case .object(let o):
            let key = FilePipeline.rejectsKey(for: o.key)
            try await s3.putObject(bucket: o.bucket, key: key, body: rejects.csv(), contentType: "text/csv; charset=utf-8")
            return "s3://\(o.bucket)/\(key)"
        case .localFile(let f):
            let path = f.path + ".rejects.csv"
            let csv = Data(rejects.csv())
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
                LocalFileBytes.io.async {
                    do {
                        try csv.write(to: URL(fileURLWithPath: path), options: .atomic)
                        done.resume()
                    } catch {
                        done.resume(throwing: PipelineError(.storage, "cannot write the rejects file \(path): \(error.localizedDescription)"))
                    }
                }
            }
            return path
        }
    }
}

/// Refused rows, kept up to a limit for the rejects file; the count is always exact.
struct RejectsCollector {
    let limit: Int
    private(set) var count = 0
    private var kept: [(line: Int, reason: String, raw: String)] = []

    init(limit: Int) { self.limit = limit }

    mutating func add(line: Int, reason: String, raw: String) {
        count += 1
        if kept.count < limit { kept.append((line, reason, raw)) }
    }

    func csv() -> [UInt8] {
        var out = "line,reason,raw\r\n"
        for r in kept {
            out += "\(r.line),\(quote(r.reason)),\(quote(r.raw))\r\n"
        }
        if count > kept.count {
            out += "0,\(quote("\(count - kept.count) more rejected rows not listed")),\r\n"
        }
        return Array(out.utf8)
    }

    private func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}
