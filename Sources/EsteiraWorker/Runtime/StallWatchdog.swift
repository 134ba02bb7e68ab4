import Foundation
import EsteiraPipeline

/// Abandons a file that stopped moving: no byte read and no row passed on for `stallTimeout` seconds,
/// or the route's `max_duration` passed. The heartbeat alone would keep such a file claimed for ever.
struct StallWatchdog: Sendable {
    var stallTimeout: Double
    var maxDuration: Double?

    /// Why the load must be abandoned now, or nil.
    func verdict(_ s: LoadProgress.Snapshot, now: ContinuousClock.Instant) -> PipelineError? {
        let idle = Self.seconds(now - s.lastProgress)
        let running = Self.seconds(now - s.started)
        let at = "in stage \(s.stage.rawValue) (\(s.bytesRead) bytes read, \(s.rowsPassed) rows passed on)"
        if let maxDuration, running >= maxDuration {
            return PipelineError(.stalled, "the file took longer than the route's max_duration of \(Self.text(maxDuration)) \(at); abandoned and rolled back. Split the file or raise max_duration")
        }
        if idle >= stallTimeout {
            return PipelineError(.stalled, "no progress for \(Self.text(idle)) \(at), over the \(Self.text(stallTimeout)) stall timeout (--stall-timeout); abandoned and rolled back. Check the source and the database, then replay it")
        }
        return nil
    }

    /// Watches until a verdict (returned) or cancellation (nil).
    func watch(_ progress: LoadProgress) async -> PipelineError? {
        let tick = max(0.05, min(1, stallTimeout / 4, (maxDuration ?? .infinity) / 4))
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(tick * 1e9))
            if Task.isCancelled { return nil }
            if let stalled = verdict(progress.snapshot, now: .now) { return stalled }
        }
        return nil
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func text(_ seconds: Double) -> String {
        seconds >= 120 ? "\(Int(seconds / 60)) min" : String(format: "%.1f s", seconds)
    }
}
