import Foundation

/// TEST ONLY. Fault switches for the fleet tests, read once from the environment and inert unless set.
///
/// `ESTEIRA_TEST_ABORT_ON_MARKER=<text>`: the process calls `abort()` when a file it reads contains those
/// bytes, to prove that a file which crashes its worker is dead-lettered as `Crashed` after a few attempts
/// instead of taking down worker after worker. Never set it in production: any file holding the marker
/// kills the process.
///
/// `ESTEIRA_TEST_BATCH_DELAY_MS=<ms>`: a pause after every batch sent to MySQL, so a fleet test can kill,
/// stop or stall a worker in the middle of a file.
enum TestFaults {
    static let batchDelay: Duration? = {
        guard let text = ProcessInfo.processInfo.environment["ESTEIRA_TEST_BATCH_DELAY_MS"],
            let ms = Int(text), ms > 0
        else { return nil }
        return .milliseconds(ms)
    }()

    /// The pause after a batch when the switch is on; nothing otherwise.
    static func afterBatch() async throws {
        if let batchDelay { try await Task.sleep(for: batchDelay) }
    }

    static let abortMarker: [UInt8]? = {
        guard let text = ProcessInfo.processInfo.environment["ESTEIRA_TEST_ABORT_ON_MARKER"], !text.isEmpty else {
            return nil
        }
        return Array(text.utf8)
    }()

    /// Scans a file's bytes for the abort marker, across chunk boundaries (`carry` holds the last bytes).
    struct MarkerScan {
        let marker: [UInt8]
        var carry: [UInt8] = []

        /// True when the marker appears in the bytes seen so far.
        mutating func found(in chunk: [UInt8]) -> Bool {
            let window = carry + chunk.prefix(marker.count)
            if window.count >= marker.count, window.firstRange(of: marker) != nil { return true }
            if chunk.firstRange(of: marker) != nil { return true }
            carry = Array((carry + chunk.suffix(marker.count)).suffix(marker.count - 1))
            return false
        }
    }

    /// A scanner when the switch is on, nil (no cost) otherwise.
    static func abortScan() -> MarkerScan? { abortMarker.map { MarkerScan(marker: $0) } }

    static func abortForTest(_ uri: String) -> Never {
        let line =
            "ESTEIRA_TEST_ABORT_ON_MARKER: marker found in \(uri); aborting the process (test-only fault switch)\n"
        FileHandle.standardError.write(Data(line.utf8))
        abort()
    }
}
