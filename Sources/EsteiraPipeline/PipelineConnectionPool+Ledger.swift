import EsteiraMySQL

extension PipelineConnectionPool {
    /// Which of `keys` the MySQL ledger records as loaded (see ``MySQLConnection/loadedVersions(_:)``).
    public func loadedVersions(_ keys: [LedgerKey]) async throws -> Set<LedgerKey> {
        guard !keys.isEmpty else { return [] }
        return try await withConnection { try await $0.loadedVersions(keys) }
    }
}
