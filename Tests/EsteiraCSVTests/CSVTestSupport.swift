import EsteiraCSV
import Foundation

/// The shared test data folder: `$ESTEIRA_TESTDATA`, or `shared/testdata` beside the package root.
enum TestData {
    static var root: URL {
        if let path = ProcessInfo.processInfo.environment["ESTEIRA_TESTDATA"], !path.isEmpty {
            return URL(fileURLWithPath: path, isDirectory: true)
        }
        // This file is <package>/Tests/EsteiraCSVTests/CSVTestSupport.swift.
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // EsteiraCSVTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .deletingLastPathComponent()
            .appendingPathComponent("shared/testdata", isDirectory: true)
    }
}

/// Everything the parser told its sink, copied out, so runs can be compared as values.
enum ParsedEvent: Equatable, CustomStringConvertible {
    case row(ParsedRow)
    case refused(MalformedRecord)

    var description: String {
        switch self {
        case .row(let row): "row \(row)"
        case .refused(let refused): "refused \(refused) raw=\(refused.rawText.debugDescription)"
        }
    }
}

struct ParsedRow: Equatable, CustomStringConvertible {
    var line: Int
    var endLine: Int
    var fields: [String]
    var quoted: [Bool]
    var raw: String

    var description: String { "\(line)-\(endLine) \(fields)" }
}

struct ParseResult: Equatable {
    var events: [ParsedEvent] = []
    var statistics = CSVParseStatistics()

    var rows: [ParsedRow] {
        events.compactMap { if case .row(let row) = $0 { row } else { nil } }
    }
    var fields: [[String]] { rows.map(\.fields) }
    var refused: [MalformedRecord] {
        events.compactMap { if case .refused(let refused) = $0 { refused } else { nil } }
    }
}

/// Parses `input` cut into chunks at `cuts` (ascending offsets), the whole input at once by default.
func parse(
    _ input: [UInt8], dialect: CSVDialect = .rfc4180, limits: CSVLimits = CSVLimits(),
    cuts: [Int] = []
) -> ParseResult {
    var result = ParseResult()
    var parser = CSVParser(dialect: dialect, limits: limits)
    let collect = { (event: CSVEvent) in
        switch event {
        case .record(let record):
            result.events.append(
                .row(
                    ParsedRow(
                        line: record.line, endLine: record.endLine, fields: record.strings,
                        quoted: record.indices.map(record.isQuoted), raw: String(decoding: record.raw, as: UTF8.self))))
        case .malformed(let refused):
            result.events.append(.refused(refused))
        }
    }
    var start = 0
    for end in cuts + [input.count] {
        // Each chunk gets its own allocation, so nothing can read past a chunk into the next one.
        parser.consume(Array(input[start..<end]), collect)
        start = end
    }
    result.statistics = parser.finish(collect)
    return result
}

func parse(_ text: String, dialect: CSVDialect = .rfc4180, limits: CSVLimits = CSVLimits()) -> ParseResult {
    parse(Array(text.utf8), dialect: dialect, limits: limits)
}

extension UInt8 {
    static let comma = UInt8(ascii: ","), semicolon = UInt8(ascii: ";"), tab = UInt8(ascii: "\t")
    static let pipe = UInt8(ascii: "|"), doubleQuote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'")
    static let backslash = UInt8(ascii: "\\")
}
