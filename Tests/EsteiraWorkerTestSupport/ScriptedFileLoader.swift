import EsteiraWorker
import Foundation
import Synchronization

@testable import EsteiraPipeline  // FileOutcome has no public init yet

/// A pipeline whose loads do what the test scripted, key by key, with no S3 and no MySQL.
///
/// Each load of a key takes the next step of its script (the last step repeats); a key without a script
/// loads one row. Routes: every key under `tenant/` routes to a table, except keys containing `noroute`.
public final class ScriptedFileLoader: FileLoading {
    public enum Step: Sendable {
        /// Commits (after the worker's last lease check) with these counts.
        case load(rows: Int, rejected: Int = 0)
        /// Finds the version already committed: nothing written.
        case alreadyLoaded
        /// Fails with this error without committing.
        case fail(PipelineError)
        /// Never finishes on its own: waits until cancelled (heartbeat lost, stall, shutdown), as a load
        /// that rolls back does, or until `finish(key:)` lets it commit.
        case hang
    }

    struct State {
        var scripts: [String: [Step]] = [:]
        var started: [String] = []
        var finished: Set<String> = []
        var committed: [String] = []
        var cancelled: [String] = []
    }

    private let state = Mutex(State())
    public let route: Route
    /// Routes of other tenants: a key under `<tenant>/` of one of them takes that route.
    public let others: [Route]

    public init(
        route: Route = Route(name: "orders", tenant: "acme", pattern: "acme/data/*.csv", table: "orders"),
        others: [Route] = []
    ) {
        self.route = route
        self.others = others
    }

    public func script(_ key: String, _ steps: Step...) { state.withLock { $0.scripts[key] = steps } }
    /// Lets a hanging load of `key` commit.
    public func finish(key: String) { state.withLock { _ = $0.finished.insert(key) } }

    /// Keys whose load started, in order (one entry per attempt).
    public var started: [String] { state.withLock { $0.started } }
    /// Keys whose rows were committed.
    public var committed: [String] { state.withLock { $0.committed } }
    /// Keys whose load was cancelled before commit (rolled back).
    public var cancelled: [String] { state.withLock { $0.cancelled } }

    public func isOwnOutput(key: String) -> Bool { key.hasSuffix(".rejects.csv") }

    public func route(forKey key: String) throws(RoutingError) -> Route {
        guard !key.contains("noroute") else { throw RoutingError("no route matches '\(key)'") }
        return others.first { key.hasPrefix("\($0.tenant)/") } ?? route
    }

    /// Enters the fetch and read stages, as the real pipeline does before its first row, then loads.
    public func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void,
        tracking: LoadProgress
    ) async throws(PipelineError) -> FileOutcome {
        await tracking.enter(.fetch)
        await tracking.enter(.read)
        return try await load(source, route: route, fencingToken: fencingToken, beforeCommit: beforeCommit)
    }

    public func load(
        _ source: SourceObject, route: Route, fencingToken: Int64,
        beforeCommit: @Sendable () async throws -> Void
    ) async throws(PipelineError) -> FileOutcome {
        let key = source.key
        let step: Step = state.withLock { s in
            s.started.append(key)
            guard var steps = s.scripts[key], let first = steps.first else { return .load(rows: 1) }
            if steps.count > 1 {
                steps.removeFirst()
                s.scripts[key] = steps
            }
            return first
        }
        var rows = 1
        var rejected = 0
        switch step {
        case .alreadyLoaded:
            return FileOutcome(table: route.table, rowsLoaded: 0, rowsRejected: 0, bytesRead: 10, alreadyLoaded: true)
        case .fail(let error):
            throw error
        case .load(let r, let j):
            rows = r
            rejected = j
        case .hang:
            while !Task.isCancelled, !state.withLock({ $0.finished.contains(key) }) {
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        if Task.isCancelled {
            state.withLock { $0.cancelled.append(key) }
            throw PipelineError(.cancelled, "load cancelled before commit; rolled back", transient: true)
        }
        do {
            try await beforeCommit()
        } catch let error as PipelineError {
            state.withLock { $0.cancelled.append(key) }
            throw error
        } catch {
            state.withLock { $0.cancelled.append(key) }
            throw PipelineError(.storage, "\(error)", transient: true)
        }
        state.withLock { $0.committed.append(key) }
        return FileOutcome(
            table: route.table, rowsLoaded: rows, rowsRejected: rejected, bytesRead: Int64(rows * 10),
            alreadyLoaded: false)
    }
}
