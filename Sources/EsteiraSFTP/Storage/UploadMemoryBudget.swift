import EsteiraSync

/// The bytes every upload of the process together may hold in part buffers.
///
/// An upload counts in whole parts (a part plus one WRITE, `unit`): one from OPEN to CLOSE, so an
/// admitted upload can always make progress, and a second only while a part is on its way to S3 and
/// the budget has room, so the next part can fill meanwhile. Without the second, the upload waits for
/// the part in flight first: slower, never stuck. An OPEN for writing that finds no room for one
/// part is refused with the reason, rather than the process growing until it is killed.
public final class UploadMemoryBudget: Sendable {
    public let limit: Int
    private let used = Locked(0)

    public init(limit: Int) { self.limit = limit }

    /// Takes `bytes` from the budget, or returns false (taking nothing) when they do not fit.
    func tryReserve(_ bytes: Int) -> Bool {
        used.withLock { used in
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        used.withLock { $0 = max(0, $0 - bytes) }
    }

    /// Bytes reserved now, for tests and the log.
    public var inUse: Int { used.withLock { $0 } }
}
