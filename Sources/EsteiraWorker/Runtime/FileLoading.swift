import EsteiraPipeline

/// What the worker needs from the pipeline; the seam lets runtime logic be tested without servers.
public protocol FileLoading: Sendable {
    /// Objects Esteira wrote itself (rejects files): their events are acknowledged and never loaded.
    func isOwnOutput(key: String) -> Bool
    func route(forKey key: String) throws(RoutingError) -> Route
    func load(_ source: SourceObject, route: Route, fencingToken: Int64,
              beforeCommit: @Sendable () async throws -> Void) async throws(PipelineError) -> FileOutcome
}

extension FilePipeline: FileLoading {}
