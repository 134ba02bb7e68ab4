import Foundation

/// What the ledger says about one object version. Passed to ``MySQLConnection/beginFileLoad(table:columns:ledger:maxStatementBytes:)``
/// to say which version is being loaded, and returned inside ``LoadOutcome/alreadyLoaded(_:)`` to say what
/// an earlier load recorded.
public struct LedgerRecord: Sendable, Hashable {
    public var bucket: String
    public var key: String
    /// The S3 version id, or the ETag when the bucket is not versioned. Part of the exactly-once key.
    public var version: String
    /// The DynamoDB claim's fencing token of the worker that loaded it (kept for audit).
    public var fencingToken: Int64
    /// Rows inserted. On input this is ignored: the ledger records what the load actually inserted.
    public var rowsLoaded: Int
    /// Rows the pipeline rejected (written to the rejects object instead).
    public var rowsRejected: Int
    /// A checksum of the source object as the pipeline computed it (free-form, ≤128 characters).
    public var checksum: String

    public init(
        bucket: String, key: String, version: String, fencingToken: Int64,
        rowsLoaded: Int = 0, rowsRejected: Int = 0, checksum: String = ""
    ) {
        self.bucket = bucket
        self.key = key
        self.version = version
        self.fencingToken = fencingToken
        self.rowsLoaded = rowsLoaded
        self.rowsRejected = rowsRejected
        self.checksum = checksum
    }

    func validate() throws(MySQLError) {
        func check(_ ok: Bool, _ why: String) throws(MySQLError) {
            if !ok {
                throw MySQLError(code: .invalidLedgerRecord, message: why, operation: "begin file load")
            }
        }
        try check(!bucket.isEmpty && bucket.count <= 255, "bucket must be 1–255 characters")
        try check(!key.isEmpty && key.count <= 1024, "object key must be 1–1024 characters")
        try check(
            !version.isEmpty && version.count <= 1024, "version must be 1–1024 characters (an S3 version id or ETag)")
        try check(checksum.count <= 128, "checksum must be at most 128 characters")
        try check(rowsRejected >= 0, "rowsRejected must not be negative")
    }
}

/// A row of `esteira_ledger`: one object version that was loaded, and when.
public struct LedgerEntry: Sendable, Hashable {
    public let id: UInt64
    /// SHA-256 (hex) of bucket + "\n" + key + "\n" + version, as MySQL computes it: the unique key.
    public let sourceID: String
    public let record: LedgerRecord
    /// The table the rows went to.
    public let table: String
    public let loadedAt: Date
}

/// How a file load ended.
public enum LoadOutcome: Sendable, Hashable {
    /// This load inserted `rows` rows and its ledger row, in one committed transaction.
    case loaded(rows: Int)
    /// The object version was loaded before (or concurrently, by a load that committed first); nothing
    /// was inserted. The caller should treat the file as done.
    case alreadyLoaded(LedgerEntry)
}
