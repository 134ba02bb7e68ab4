import EsteiraCSV
import Foundation
import Testing

/// The csv-spectrum conformance cases: csvs/NAME.csv must parse to json/NAME.json (objects keyed by
/// the header). The cases are found by listing the folder, so new ones are picked up as they land.
@Suite("csv-spectrum")
struct CSVSpectrumTests {
    static var folder: URL { TestData.root.appendingPathComponent("csv-spectrum", isDirectory: true) }

    static var caseNames: [String] {
        let csvs = folder.appendingPathComponent("csvs", isDirectory: true)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: csvs.path)) ?? []
        return files.filter { $0.hasSuffix(".csv") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// Mistakes in the fixture itself, not in parsers, applied only while the fixture still has them.
    /// Upstream (max-mapper/csv-spectrum) fixed this expectation later, with the CSV changed to match.
    static let errata: [(name: String, column: String, wrong: String, right: String)] = [
        ("location_coordinates", "Contact Phone Number", "1234567890", "2095257564")
    ]

    /// The spectrum keeps a bare quote as text (`37°36'37.8"N`), which the default dialect refuses.
    static let spectrumDialect = CSVDialect(bareQuote: .keepAsText)

    @Test("the folder is there and every case has its expected JSON")
    func folderIsComplete() throws {
        try #require(
            FileManager.default.fileExists(atPath: Self.folder.path),
            "csv-spectrum not found at \(Self.folder.path); set ESTEIRA_TESTDATA")
        #expect(Self.caseNames.count >= 12)
        for name in Self.caseNames {
            let json = Self.folder.appendingPathComponent("json/\(name).json")
            #expect(FileManager.default.fileExists(atPath: json.path), "no json/\(name).json")
        }
    }

    @Test("parses to the expected records", arguments: caseNames)
    func matchesExpectedRecords(name: String) throws {
        let csv = try Data(contentsOf: Self.folder.appendingPathComponent("csvs/\(name).csv"))
        let result = parse([UInt8](csv), dialect: Self.spectrumDialect)
        #expect(result.refused.isEmpty, "refused: \(result.refused)")
        let header = try #require(result.fields.first, "no header")
        let actual = Array(result.fields.dropFirst())

        var expected = try Self.expectedObjects(name)
        for erratum in Self.errata where erratum.name == name {
            for index in expected.indices where expected[index][erratum.column] == erratum.wrong {
                expected[index][erratum.column] = erratum.right
            }
        }
        #expect(actual.count == expected.count)
        for (row, object) in zip(actual, expected) {
            #expect(Set(header) == Set(object.keys), "header \(header) against keys \(object.keys.sorted())")
            #expect(row == header.map { object[$0] ?? "<missing>" })
        }
    }

    @Test("the default dialect agrees, except that it refuses bare quotes", arguments: caseNames)
    func defaultDialectRefusesOnlyBareQuotes(name: String) throws {
        let csv = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent("csvs/\(name).csv")))
        let lenient = parse(csv, dialect: Self.spectrumDialect)
        let strict = parse(csv)
        for refused in strict.refused {
            guard case .bareQuote = refused.reason else {
                Issue.record("refused for another reason: \(refused)")
                continue
            }
        }
        let refusedLines = Set(strict.refused.map(\.line))
        #expect(strict.rows == lenient.rows.filter { !refusedLines.contains($0.line) })
    }

    /// The JSON is an array of objects, or (in one case) a single object.
    static func expectedObjects(_ name: String) throws -> [[String: String]] {
        let data = try Data(contentsOf: folder.appendingPathComponent("json/\(name).json"))
        let json = try JSONSerialization.jsonObject(with: data)
        if let object = json as? [String: String] { return [object] }
        return try #require(json as? [[String: String]], "json/\(name).json is not a list of objects of strings")
    }
}
