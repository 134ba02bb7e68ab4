import Foundation

/// TEST ONLY. Fault switches for the fleet tests, read once from the environment and inert unless set.
///
/// `ESTEIRA_TEST_ABORT_ON_MARKER=<text>`: the process calls `abort()` when a file it reads contains those
/// bytes, to prove that a file which crashes its worker is dead-lettered as `Crashed` after a few attempts
/// instead of taking down worker after worker. Never set it in production: any file holding the marker
/// kills the process.
enum TestFaults {
    static let abortMarker: [UInt8]? = {
        guard let text = ProcessInfo.processInfo.environment["ESTEIRA_TEST_ABORT_ON_MARKER"], !text.isEmpty else { return nil }
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
        let line = "ESTEIRA_TEST_ABORT_ON_MARKER: marker found in \(uri); aborting the process (test-only fault switch)\n"
        FileHandle.standardError.write(Data(line.utf8))
        abort()
    }
}
