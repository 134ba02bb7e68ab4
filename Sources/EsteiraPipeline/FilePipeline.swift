import Foundation
import Logging
import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL

/// One file, start to end: stream from S3 → parse → clean → load into MySQL with its ledger row, atomically.
/// Knows nothing of queues; the worker decides what a failure means for the message.
public final class FilePipeline: Sendable {
    public let s3: S3Client
    public let mysql: MySQLConfig
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

    public init(s3: S3Client, mysql: MySQLConfig, routes: RouteTable, batchRows: Int = 2000, maxRejectsKept: Int = 10_000,
                batchDelay: Double = 0, logger: Logger = Logger(label: "esteira.pipeline")) {
        self.s3 = s3
        self.batchDelay = batchDelay
        self.batchRows = batchRows
        self.maxRejectsKept = maxRejectsKept
        self.mysql = mysql
        self.routes = routes
        self.logger = logger
    }

    public func route(forKey key: String) throws(RoutingError) -> Route {
        try routes.route(forKey: key)
    }

    public func isOwnOutput(key: String) -> Bool { key.hasPrefix(FilePipeline.rejectsPrefix) }

    public func load(_ source: SourceObject, route: Route, fencingToken: Int64) async throws(PipelineError) -> FileOutcome {
        do {
            return try await run(source, route: route, fencingToken: fencingToken)
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineFailures.classify(error)
        }
    }

    private func run(_ source: SourceObject, route: Route, fencingToken: Int64) async throws -> FileOutcome {
        let connection = try await MySQLConnection.connect(mysql)
        do {
            let outcome = try await run(source, route: route, fencingToken: fencingToken, connection: connection)
            await connection.close()
            return outcome
        } catch {
            await connection.close()
            throw error
        }
    }

    private func run(_ source: SourceObject, route: Route, fencingToken: Int64,
                     connection: MySQLConnection) async throws -> FileOutcome {
        let (_, body) = try await s3.getObjectStream(bucket: source.bucket, key: source.key, versionID: source.versionID,
                                                     ifMatch: source.versionID == nil ? source.eTag : nil)

        var parser = CSVParser(dialect: .rfc4180, limits: CSVLimits())
        var header: [String]?
        var batch: [[String?]] = []
        var rejects = RejectsCollector(limit: maxRejectsKept)
        var hasher = SHA256Hasher()
        var bytes: Int64 = 0
        var rowsSeen = 0
        var load: FileLoad?
        var headerError: PipelineError?

        // Turns parser events into typed rows, refusals and (first) the header.
        func sink(_ event: CSVEvent) {
            switch event {
            case .malformed(let bad):
                rejects.add(line: bad.line, reason: bad.reason.description, raw: bad.rawText)
            case .record(let record):
                guard let columns = header else {
                    do {
                        header = try HeaderNormalizer.columns(record.strings)
                    } catch {
                        headerError = error
                        header = []
                    }
                    return
                }
                rowsSeen += 1
                guard record.count == columns.count else {
                    rejects.add(line: record.line,
                                reason: "row has \(record.count) fields, the header has \(columns.count)",
                                raw: String(decoding: record.raw, as: UTF8.self))
                    return
                }
                var row: [String?] = []
                row.reserveCapacity(record.count)
                for i in 0..<record.count {
                    // An empty unquoted field is NULL; typing per contract comes with route contracts.
                    row.append(record[i].isEmpty && !record.isQuoted(i) ? nil : record.string(at: i))
                }
                batch.append(row)
            }
        }

        for try await chunk in body {
            try Task.checkCancellation()
            bytes += Int64(chunk.count)
            hasher.update(chunk)
            chunk.withUnsafeBytes { parser.consume($0, sink) }
            if let headerError { throw headerError }
            if load == nil, let header, !header.isEmpty {
                let begun = try await connection.beginFileLoad(table: route.table, columns: header, ledger: LedgerRecord(
                    bucket: source.bucket, key: source.key, version: source.version, fencingToken: fencingToken,
                    rowsLoaded: 0, rowsRejected: 0, checksum: ""))
                if begun.alreadyLoaded != nil {
                    // The ledger has this version: stop downloading, write nothing.
                    body.cancel()
                    await begun.rollback()
                    return FileOutcome(table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: bytes,
                                       alreadyLoaded: true, rejectsURI: nil)
                }
                load = begun
            }
            if batch.count >= batchRows, let load {
                try await load.append(batch)
                batch.removeAll(keepingCapacity: true)
                if batchDelay > 0 { try await Task.sleep(nanoseconds: UInt64(batchDelay * 1e9)) }
            }
        }
        parser.finish(sink)
        if let headerError { throw headerError }
        guard let header, !header.isEmpty else {
            throw PipelineError(.badCSV, "the file is empty: expected a header row and data rows")
        }
        let checksum = Hex.encode(hasher.finalize())
        if load == nil {
            load = try await connection.beginFileLoad(table: route.table, columns: header, ledger: LedgerRecord(
                bucket: source.bucket, key: source.key, version: source.version, fencingToken: fencingToken,
                rowsLoaded: 0, rowsRejected: 0, checksum: checksum))
        }
        guard let load else { throw PipelineError(.database, "no load was started", transient: true) }
        do {
            if !batch.isEmpty { try await load.append(batch) }
            try Task.checkCancellation()
            var rejectsURI: String?
            if rejects.count > 0 {
                rejectsURI = try await writeRejects(rejects, source: source, header: header)
            }
            let outcome = try await load.commit(rowsRejected: rejects.count, checksum: checksum)
            switch outcome {
            case .loaded(let rows):
                return FileOutcome(table: route.table, rowsLoaded: rows, rowsRejected: rejects.count, bytesRead: bytes,
                                   alreadyLoaded: false, rejectsURI: rejectsURI)
            case .alreadyLoaded:
                return FileOutcome(table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: bytes,
                                   alreadyLoaded: true, rejectsURI: nil)
            }
        } catch {
            await load.rollback()
            throw error
        }
    }

    /// Writes the refused rows beside the source, with line, reason and raw text for each.
    private func writeRejects(_ rejects: RejectsCollector, source: SourceObject, header: [String]) async throws -> String {
        let key = FilePipeline.rejectsPrefix + source.key + ".rejects.csv"
        try await s3.putObject(bucket: source.bucket, key: key, body: rejects.csv(), contentType: "text/csv; charset=utf-8")
        return "s3://\(source.bucket)/\(key)"
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
