import Foundation

/// Things worth telling an operator once per process, not once per file: for now, that the server has
/// `local_infile` off and loads use the slower batched-INSERT fallback.
///
/// EsteiraMySQL does not depend on a logging library; the executable routes notices into its logger with
/// ``setHandler(_:)``. Until then they go to standard error, so they are never lost.
public enum MySQLNotices {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var handler: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("esteira-mysql: \(message)\n".utf8))
    }
    nonisolated(unsafe) private static var sent: Set<String> = []

    /// Where notices go from now on (for example `{ logger.notice("\($0)") }`).
    public static func setHandler(_ newHandler: @escaping @Sendable (String) -> Void) {
        lock.lock()
        handler = newHandler
        lock.unlock()
    }

    /// Sends `message` unless a notice with the same `key` was already sent by this process.
    static func once(_ key: String, _ message: @autoclosure () -> String) {
        lock.lock()
        let isNew = sent.insert(key).inserted
        let current = handler
        lock.unlock()
        if isNew { current(message()) }
    }

    /// Whether a notice with this key was sent (for tests).
    static func wasSent(_ key: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return sent.contains(key)
    }
}
