import EsteiraCSV
import Foundation
import Testing

/// Generated inputs, from a fixed seed so a failure repeats: what a correct writer produces must read
/// back unchanged, and any bytes at all, cut anywhere, must give what the uncut bytes give.
@Suite("generated inputs")
struct CSVPropertyTests {
    /// SplitMix64: small, and the same sequence on every platform.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let alphabet: [String] = ["a", "b", "1", " ", ",", ";", "\"", "'", "\\", "\r", "\n", "é", "😀"]

    /// Writes records as RFC 4180 asks: quote a field that needs it, double its quotes.
    static func write(_ records: [[String]], dialect: CSVDialect, lineEnd: String) -> [UInt8] {
        let delimiter = String(UnicodeScalar(dialect.delimiter))
        var out = ""
        for record in records {
            let fields = record.map { field -> String in
                let needsQuotes =
                    field.isEmpty && record.count == 1  // else the line would be blank
                    || field.contains(delimiter) || field.contains("\"") || field.contains("\r") || field.contains("\n")
                return needsQuotes ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
            }
            out += fields.joined(separator: delimiter) + lineEnd
        }
        return Array(out.utf8)
    }

    @Test(arguments: [UInt8.comma, .semicolon, .tab])
    func writtenRecordsReadBack(delimiter: UInt8) {
        var random = Generator(state: UInt64(delimiter))
        let dialect = CSVDialect(delimiter: delimiter)
        for round in 0..<300 {
            let records = (0..<Int.random(in: 1...6, using: &random)).map { _ in
                (0..<Int.random(in: 1...5, using: &random)).map { _ in
                    (0..<Int.random(in: 0...6, using: &random)).map { _ in Self.alphabet.randomElement(using: &random)!
                    }
                    .joined()
                }
            }
            let lineEnd = ["\n", "\r\n", "\r"].randomElement(using: &random)!
            var bytes = Self.write(records, dialect: dialect, lineEnd: lineEnd)
            if Bool.random(using: &random) { bytes.removeLast(lineEnd.utf8.count) }  // no final line break
            let cuts = (0..<3).map { _ in Int.random(in: 0...bytes.count, using: &random) }.sorted()
            let result = parse(bytes, dialect: dialect, cuts: cuts)
            #expect(result.refused.isEmpty, "round \(round)")
            #expect(
                result.fields == records, "round \(round): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            if result.fields != records { return }
        }
    }

    @Test(arguments: [
        CSVDialect.rfc4180,
        CSVDialect(escape: .backslash),
        CSVDialect(quote: .apostrophe, bareQuote: .keepAsText),
        CSVDialect(delimiter: .semicolon, quote: nil, escape: .backslash),
    ])
    func anyBytesCutAnywhereGiveTheSameEvents(dialect: CSVDialect) {
        var random = Generator(state: 7)
        let limits = CSVLimits(maxFieldBytes: 9, maxRecordBytes: 24, maxFields: 5, maxRejectedRawBytes: 7)
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(Self.alphabet.joined().utf8)
        for round in 0..<400 {
            let input = (0..<Int.random(in: 0...60, using: &random)).map { _ in bytes.randomElement(using: &random)! }
            let whole = parse(input, dialect: dialect, limits: limits)
            var cutsToTry = (0...input.count).map { [$0] }
            cutsToTry.append((0..<4).map { _ in Int.random(in: 0...input.count, using: &random) }.sorted())
            for cuts in cutsToTry {
                let split = parse(input, dialect: dialect, limits: limits, cuts: cuts)
                #expect(split == whole, "round \(round): \(input) cut at \(cuts)")
                if split != whole { return }
            }
            // Records and refusals come out in the order of their lines.
            let lines = whole.events.map { event -> Int in
                switch event {
                case .row(let row): row.endLine
                case .refused(let refused): refused.endLine
                }
            }
            #expect(lines == lines.sorted(), "round \(round)")
        }
    }
}
