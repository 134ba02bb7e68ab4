import EsteiraPipeline

/// What the worker needs from the pipeline; the seam lets runtime logic be tested without servers.
public protocol FileLoading: Sendable {
    /// Objects Esteira wrote itself (rejects files): their events are acknowledged and never loaded.
    func isOwnOutput(key: String) -> Bool
    func route(forKey key: String) throws(RoutingError) -> Route
    func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void
    ) async throws(PipelineError) -> FileOutcome
    /// The same, with `tracking` moved forward by the load (stage, bytes, rows): the worker records the
    /// stage and abandons a file that stops making progress.
    func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void,
        tracking: LoadProgress
    ) async throws(PipelineError) -> FileOutcome
}

extension FileLoading {
    /// A loader that does not report progress (test doubles): stays in `claimed`, never seen to stall
    /// except by the route's `max_duration`.
    public func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void,
        tracking: LoadProgress
    ) async throws(PipelineError) -> FileOutcome {
        try await load(source, route: route, fencingToken: fencingToken, beforeCommit: beforeCommit)
    }
}

extension FilePipeline: FileLoading {}
