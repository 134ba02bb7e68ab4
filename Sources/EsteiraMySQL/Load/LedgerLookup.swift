import Foundation

/// One object version as the ledger keys it: bucket, key and version (S3 version id, or the ETag).
public struct LedgerKey: Sendable, Hashable {
    public var bucket: String
    public var key: String
    public var version: String

    public init(bucket: String, key: String, version: String) {
        self.bucket = bucket
        self.key = key
        self.version = version
    }
}

extension MySQLConnection {
    /// Which of `keys` have a row in `esteira_ledger` (were loaded). Looked up by the unique source id, so
    /// each chunk of 200 is one indexed `IN (…)` query; MySQL computes the ids as the load does. A database
    /// without the ledger yet (nothing ever loaded) answers the empty set.
    public func loadedVersions(_ keys: [LedgerKey]) async throws -> Set<LedgerKey> {
        var found = Set<LedgerKey>()
        var start = 0
        while start < keys.count {
            let chunk = keys[start..<min(start + 200, keys.count)]
            start += chunk.count
            let ids = chunk.map {
                Ledger.sourceIDExpression(
                    LedgerRecord(bucket: $0.bucket, key: $0.key, version: $0.version, fencingToken: 0))
            }
            let sql =
                "SELECT `bucket`, `object_key`, `version` FROM `esteira_ledger` WHERE `source_id` IN ("
                + ids.joined(separator: ", ") + ")"
            let result: MySQLResult
            do {
                result = try await query(sql)
            } catch let e as MySQLError where e.code.mysqlErrorNumber == 1146 {
                return []  // no ledger table: nothing was ever loaded into this database
            }
            for row in result.rows where row.count == 3 {
                found.insert(LedgerKey(bucket: row[0] ?? "", key: row[1] ?? "", version: row[2] ?? ""))
            }
        }
        return found
    }
}
