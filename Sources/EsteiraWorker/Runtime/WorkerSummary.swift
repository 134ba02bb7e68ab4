/// Counts of what this process did, for the CLI's closing summary.
public struct WorkerSummary: Sendable, Equatable {
    public var succeeded = 0
    public var failed = 0
    public var duplicates = 0
    public var rowsLoaded = 0
    public var rowsRejected = 0

    enum Event {
        case succeeded(rows: Int, rejected: Int)
        case failed, duplicate
    }

    mutating func record(_ e: Event) {
        switch e {
        case .succeeded(let rows, let rejected):
            succeeded += 1
            rowsLoaded += rows
            rowsRejected += rejected
        case .failed: failed += 1
        case .duplicate: duplicates += 1
        }
    }
}
