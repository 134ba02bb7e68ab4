import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL
import Foundation
import Logging

/// One file on its way from bytes to a commit, in the order docs/ARCHITECTURE.md walks through it:
/// `consume(_:)` takes each chunk of the body through the CSV engine into batches for MySQL;
/// `begin(columns:)`, once the header is known, prepares the table and opens the transaction with its
/// ledger row; `finish(beforeCommit:)` sends the last rows, applies the reject threshold, writes the
/// rejects, runs the fencing check and commits. `abandon()` rolls back whatever was started.
///
/// A struct owned by the one task that loads the file: the row callback writes into it without a lock.
/// Not copyable, as the SHA-256 state it carries is not.
struct FileRun: ~Copyable {
    enum Step { case more, alreadyLoaded }

    let source: FileInput
    let route: Route
    private let mode: LoadMode
    private let fencingToken: Int64
    private let connection: MySQLConnection
    private let tracking: LoadProgress
    private let batchRows: Int
    private let batchBytes: Int
    private let reader: CSVReader
    private let rejects: RejectsWriter
    /// `esteira reload`: the ledger's earlier load of this version is superseded, its rows replaced.
    private let reload: Bool
    private let logger: Logger
    /// Columns `extra_columns: add` added to the table for this file.
    private var columnsAdded: [String] = []
    private var columns: [String]?
    // Rows are escaped into the batch as they come (a TypedRow is only valid during the callback): no
    // String per field. Made before the load exists, the first batch is LOAD DATA text.
    private var batch = LoadBatch(columnCount: 0)
    private var load: FileLoad?
    /// The file's SHA-256 so far; taken (and consumed) by `finish`.
    private var hasher: SHA256Hasher? = SHA256Hasher()
    private var abortScan = TestFaults.abortScan()
    private(set) var bytes: Int64 = 0

    init(
        source: FileInput, route: Route, options: CSVReadOptions, mode: LoadMode, fencingToken: Int64,
        connection: MySQLConnection, tracking: LoadProgress, batchRows: Int, batchBytes: Int,
        rejects: RejectsWriter, reload: Bool, logger: Logger
    ) throws {
        self.source = source
        self.route = route
        self.mode = mode
        self.fencingToken = fencingToken
        self.connection = connection
        self.tracking = tracking
        self.batchRows = batchRows
        self.batchBytes = batchBytes
        self.rejects = rejects
        self.reload = reload
        self.logger = logger
        // gzip/zlib (by magic bytes), charset, dialect sniffing, header, typing, cleaning, dedupe.
        self.reader = try CSVReader(options: options)
    }

    /// Feeds one chunk of the body. `.alreadyLoaded`: the ledger has this version, stop reading.
    mutating func consume(_ chunk: [UInt8]) async throws -> Step {
        bytes += Int64(chunk.count)
        tracking.read(totalBytes: bytes)
        if abortScan?.found(in: chunk) == true { TestFaults.abortForTest(source.uri) }
        hasher?.update(chunk)
        let reader = self.reader
        var offset = 0
        while offset < chunk.count {
            let end = min(chunk.count, offset + FilePipeline.feedBytes)
            try chunk.withUnsafeBytes { bytes in
                try reader.consume(UnsafeRawBufferPointer(rebasing: bytes[offset..<end])) { try self.take($0) }
            }
            offset = end
            if load == nil, let columns, try await begin(columns: columns) == .alreadyLoaded { return .alreadyLoaded }
            try await rejects.flushIfFull()
            if batch.count >= batchRows || batch.byteCount >= batchBytes { try await send() }
        }
        return .more
    }

    /// The header is known: prepares the table (`create_table`, before the transaction since DDL commits),
    /// then opens the transaction and inserts the ledger row. The one place a load begins.
    mutating func begin(columns: [String]) async throws -> Step {
        columnsAdded = try await DestinationTable.prepare(
            for: route, fileColumns: columns, on: connection, logger: logger)
        let ledger = LedgerRecord(
            bucket: source.ledgerBucket, key: source.ledgerKey, version: source.ledgerVersion,
            fencingToken: fencingToken, rowsLoaded: 0, rowsRejected: 0, checksum: "")
        let begun = try await connection.beginFileLoad(
            table: route.table, columns: columns, ledger: ledger, mode: mode,
            reload: reload)
        if begun.alreadyLoaded != nil {
            await begun.rollback()
            return .alreadyLoaded
        }
        load = begun
        await tracking.enter(.load)
        return .more
    }

    /// The body has ended: last rows, the checks that need the whole file, the rejects, COMMIT.
    mutating func finish(beforeCommit: @Sendable () async throws -> Void) async throws -> FileOutcome {
        let reader = self.reader
        let summary = try reader.finish { try self.take($0) }
        guard let columns else { throw PipelineError(.badCSV, "the file has no header row") }
        guard let digest = hasher.take() else { throw PipelineError(.storage, "the file was already finished") }
        let checksum = Hex.encode(digest.finalize())
        if case .localFile(let f) = source, f.sha256 != checksum {
            throw PipelineError(
                .versionChanged,
                "\(f.path) changed while it was being loaded; nothing was written. Load it again once it is complete")
        }
        // A file whose header only came out at the end (no line break after it) begins here.
        if load == nil, try await begin(columns: columns) == .alreadyLoaded { return alreadyLoaded() }
        guard let load else { throw PipelineError(.database, "no load was started", transient: true) }
        if let threshold = route.rejectThreshold {
            let total = summary.rows + summary.rejected
            if total > 0 && Double(summary.rejected) > threshold * Double(total) {
                await load.rollback()
                let uri = try? await rejects.finish()
                let percent = (Double(summary.rejected) * 1000 / Double(total)).rounded() / 10
                var e = PipelineError(
                    .tooManyRejects,
                    "\(summary.rejected) of \(total) rows (\(percent)%) were refused, above the route's reject_threshold of \(threshold * 100)%; nothing was loaded. Reasons per row: \(uri ?? "the rejects file could not be written")"
                )
                e.rejectsURI = uri
                throw e
            }
        }
        await tracking.enter(.commit)
        try await send()
        try Task.checkCancellation()
        let rejectsURI = rejects.count > 0 ? try await rejects.finish() : nil
        try await beforeCommit()
        switch try await load.commit(rowsRejected: rejects.count, checksum: checksum, rejectsURI: rejectsURI) {
        case .loaded(let rows):
            var result = FileOutcome(
                table: route.table, rowsLoaded: rows, rowsRejected: rejects.count, bytesRead: bytes,
                alreadyLoaded: false, rejectsURI: rejectsURI)
            result.rowsDuplicate = summary.duplicates
            result.rowsReplaced = load.rowsReplaced
            result.columnsAdded = columnsAdded
            result.rowsEmpty = summary.emptyRows
            result.compression = summary.compression.rawValue
            result.charset = summary.charset.rawValue
            result.delimiter = String(UnicodeScalar(summary.dialect.delimiter))
            return result
        case .alreadyLoaded:
            return alreadyLoaded()
        }
    }

    /// Nothing is written: the version was committed before.
    func alreadyLoaded() -> FileOutcome {
        FileOutcome(
            table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: bytes, alreadyLoaded: true, rejectsURI: nil)
    }

    /// Rolls back the transaction and drops a rejects upload in progress, and returns the error to throw.
    /// After a `tooManyRejects` failure the rows refused so far are written first, so the partner can see
    /// why, and the error names where they are.
    @discardableResult
    func abandon(after error: Error?) async -> Error {
        await load?.rollback()
        var thrown = error ?? CancellationError()
        if var e = error as? PipelineError, e.code == .tooManyRejects, e.rejectsURI == nil, rejects.count > 0 {
            e.rejectsURI = try? await rejects.finish()
            thrown = e
        }
        await rejects.abandon()
        return thrown
    }

    /// Sends the filled batch to the connection thread and starts the next one.
    private mutating func send() async throws {
        guard let load, !batch.isEmpty else { return }
        try await load.append(batch)
        tracking.passed(rows: batch.count)
        batch = load.makeBatch()
        try await TestFaults.afterBatch()
    }

    /// What the CSV engine hands over, row by row.
    private mutating func take(_ event: CSVReadEvent) throws {
        switch event {
        case .columns(let names):
            columns = names
            batch = LoadBatch(columnCount: names.count)
        case .row(let values):
            try batch.append(row: values)
        case .rejected(let row):
            rejects.add(line: row.line, reason: row.reason, raw: row.raw)
            if let maxRejects = route.maxRejects, rejects.count > maxRejects {
                throw PipelineError(
                    .tooManyRejects,
                    "more than \(maxRejects) rows refused (the route's max_rejects); the last, line \(row.line): \(row.reason)"
                )
            }
        }
    }
}
