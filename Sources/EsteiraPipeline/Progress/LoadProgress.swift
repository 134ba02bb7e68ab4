import Foundation
import Synchronization

/// How far one load got: the stage it is in, and the bytes read and rows passed on so far.
///
/// The pipeline moves it forward; the worker reads it to record the stage in the job's item (so a file
/// whose worker died says where) and to notice a file that stopped making progress (`Stalled`).
public final class LoadProgress: Sendable {

    /// Where a load is. Stored in the job item as text, so the names are part of the DLQ contract.
    public enum Stage: String, Sendable, CaseIterable {
        /// Claimed, nothing opened yet.
        case claimed
        /// Opening the object (the GET).
        case fetch
        /// Reading bytes: decompressing, detecting the charset, sniffing, header, typing, before any row was sent.
        case read
        /// Rows going to MySQL inside the file's transaction.
        case load
        /// The end of the file: rejects file, lease check, COMMIT.
        case commit
    }

    public struct Snapshot: Sendable, Equatable {
        public var stage: Stage
        public var bytesRead: Int64
        public var rowsPassed: Int64
        /// When bytes or rows last moved, or the stage last changed.
        public var lastProgress: ContinuousClock.Instant
        public var started: ContinuousClock.Instant

        public init(
            stage: Stage, bytesRead: Int64, rowsPassed: Int64, lastProgress: ContinuousClock.Instant,
            started: ContinuousClock.Instant
        ) {
            self.stage = stage
            self.bytesRead = bytesRead
            self.rowsPassed = rowsPassed
            self.lastProgress = lastProgress
            self.started = started
        }
    }

    private let state: Mutex<Snapshot>
    private let recorder: (@Sendable (Stage) async -> Void)?

    /// - Parameter recorder: called (and awaited) at each stage change; the worker writes the stage to the
    ///   job's item there, so it is on record before the stage's work starts. It must not throw or hang.
    public init(recorder: (@Sendable (Stage) async -> Void)? = nil) {
        let now = ContinuousClock.now
        state = Mutex(Snapshot(stage: .claimed, bytesRead: 0, rowsPassed: 0, lastProgress: now, started: now))
        self.recorder = recorder
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Enters a stage (recorded before returning); entering the stage it is in does nothing.
    public func enter(_ stage: Stage) async {
        let changed = state.withLock { state -> Bool in
            guard state.stage != stage else { return false }
            state.stage = stage
            state.lastProgress = .now
            return true
        }
        if changed, let recorder { await recorder(stage) }
    }

    /// Total bytes read so far (moves the progress clock when it grew).
    public func read(totalBytes: Int64) {
        state.withLock { state in
            if totalBytes > state.bytesRead {
                state.bytesRead = totalBytes
                state.lastProgress = .now
            }
        }
    }

    /// Rows handed on to MySQL.
    public func passed(rows: Int) {
        guard rows > 0 else { return }
        state.withLock { state in
            state.rowsPassed += Int64(rows)
            state.lastProgress = .now
        }
    }
}
