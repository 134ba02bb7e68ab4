import EsteiraPipeline
import Foundation

/// Abandons a file that stopped moving: no byte read and no row passed on for `stallTimeout`, or the
/// route's `max_duration` passed. The heartbeat alone would keep such a file claimed for ever.
struct StallWatchdog: Sendable {
    var stallTimeout: Duration
    var maxDuration: Duration?

    /// Why the load must be abandoned now, or nil.
    func verdict(_ s: LoadProgress.Snapshot, now: ContinuousClock.Instant) -> PipelineError? {
        let idle = now - s.lastProgress
        let running = now - s.started
        let at = "in stage \(s.stage.rawValue) (\(s.bytesRead) bytes read, \(s.rowsPassed) rows passed on)"
        if let maxDuration, running >= maxDuration {
            return PipelineError(
                .stalled,
                "the file took longer than the route's max_duration of \(Self.text(maxDuration)) \(at); abandoned and rolled back. Split the file or raise max_duration"
            )
        }
        if idle >= stallTimeout {
            return PipelineError(
                .stalled,
                "no progress for \(Self.text(idle)) \(at), over the \(Self.text(stallTimeout)) stall timeout (--stall-timeout); abandoned and rolled back. Check the source and the database, then replay it"
            )
        }
        return nil
    }

    /// Watches until a verdict (returned) or cancellation (nil).
    func watch(_ progress: LoadProgress) async -> PipelineError? {
        let nearest = maxDuration.map { min(stallTimeout, $0) } ?? stallTimeout
        let tick = max(.milliseconds(50), min(.seconds(1), nearest / 4))
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            if Task.isCancelled { return nil }
            if let stalled = verdict(progress.snapshot, now: .now) { return stalled }
        }
        return nil
    }

    static func text(_ d: Duration) -> String {
        let seconds = WholeSeconds.fractional(d)
        return seconds >= 120 ? "\(Int(seconds / 60)) min" : String(format: "%.1f s", seconds)
    }
}
