import Foundation
import Synchronization

/// Output for people (aligned tables) or scripts (`--json`), the same data either way.
enum Output {
    static func table(_ header: [String], _ rows: [[String]]) {
        guard !rows.isEmpty else { return }
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ")
        }
        print(line(header))
        for r in rows { print(line(r)) }
    }

    static func json(_ value: Any) {
        let data =
            (try? JSONSerialization.data(
                withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    }

    static func age(_ date: Date?) -> String {
        guard let date else { return "-" }
        let s = Int(-date.timeIntervalSinceNow)
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }

    static func truncate(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    /// A one-line running count, only on a terminal (scripts and logs get the summary alone).
    static func progress(_ done: Int, _ label: String) {
        guard isatty(2) == 1 else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(done) done  \(truncate(label, 60))".utf8))
    }

    /// A byte-count bar for one file, redrawn at most once per percent (or per MiB when the size is unknown).
    static func progress(_ bytes: Int64, _ total: Int64?, _ label: String) {
        guard isatty(2) == 1 else { return }
        let step: Int64 = total.map { max($0 / 100, 1) } ?? (1 << 20)
        let mark = bytes / step
        guard
            lastMark.withLock({ last in
                defer { last = mark }
                return last != mark
            })
        else { return }
        let mib = String(format: "%.1f", Double(bytes) / 1_048_576)
        var line = "\r\u{1B}[2K"
        if let total, total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            let filled = Int(fraction * 30)
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
            line += "\(Int(fraction * 100))%  \(mib) of \(String(format: "%.1f", Double(total) / 1_048_576)) MiB"
        } else {
            line += "\(mib) MiB"
        }
        FileHandle.standardError.write(Data((line + "  " + truncate(label, 50)).utf8))
    }

    private static let lastMark = Mutex<Int64>(-1)

    static func endProgress() {
        guard isatty(2) == 1 else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
