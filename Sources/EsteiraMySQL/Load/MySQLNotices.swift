import Foundation
import Synchronization

/// Things worth telling an operator once per process, not once per file: for now, that the server has
/// `local_infile` off and loads use the slower batched-INSERT fallback.
///
/// EsteiraMySQL does not depend on a logging library; the executable routes notices into its logger with
/// ``setHandler(_:)``. Until then they go to standard error, so they are never lost.
public enum MySQLNotices {
    private struct State {
        var handler: @Sendable (String) -> Void = { message in
            FileHandle.standardError.write(Data("esteira-mysql: \(message)\n".utf8))
        }
        var sent: Set<String> = []
    }
    private static let state = Mutex(State())

    /// Where notices go from now on (for example `{ logger.notice("\($0)") }`).
    public static func setHandler(_ newHandler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.handler = newHandler }
    }

    /// Sends `message` unless a notice with the same `key` was already sent by this process.
    static func once(_ key: String, _ message: @autoclosure () -> String) {
        let (isNew, current) = state.withLock { ($0.sent.insert(key).inserted, $0.handler) }
        if isNew { current(message()) }
    }

    /// Whether a notice with this key was sent (for tests).
    static func wasSent(_ key: String) -> Bool {
        state.withLock { $0.sent.contains(key) }
    }
}
