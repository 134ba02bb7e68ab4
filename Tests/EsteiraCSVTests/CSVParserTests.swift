import EsteiraCSV
import Testing

/// What the parser reports besides fields, and how it is driven.
@Suite("parser")
struct CSVParserTests {
    @Test func statisticsCountLinesAndBlankLines() {
        let result = parse("a\n\n\"b\nc\"\r\n\r\nd\"e\nf")
        #expect(result.statistics.lineCount == 7)
        #expect(result.statistics.blankLineCount == 2)
        #expect(result.statistics.recordCount == 3)
        #expect(result.statistics.malformedCount == 1)
        #expect(result.statistics.byteCount == 17)
        #expect(parse("a\n").statistics.lineCount == 1)
        #expect(parse("").statistics.lineCount == 0)
    }

    @Test func quotedAndUnquotedEmptyFieldsDiffer() {
        let row = parse("\"\",,\"x\"").rows[0]
        #expect(row.fields == ["", "", "x"])
        #expect(row.quoted == [true, false, true])
    }

    @Test func rawTextIsTheRecordAsWritten() {
        let rows = parse("1,\"a\"\"b\"\r\n2,\"x\ny\"").rows
        #expect(rows.map(\.raw) == ["1,\"a\"\"b\"", "2,\"x\ny\""])
        #expect(rows.map(\.endLine) == [1, 3])
    }

    @Test func partialByteOrderMarkIsData() {
        var parser = CSVParser()
        var fields: [[UInt8]] = []
        let collect = { (event: CSVEvent) in
            if case .record(let record) = event { fields = record.indices.map(record.bytes(at:)) }
        }
        parser.consume([0xEF], collect)
        parser.consume([0xBB, 0x41, UInt8.comma], collect)
        parser.finish(collect)
        #expect(fields == [[0xEF, 0xBB, 0x41], []])
    }

    @Test func parserIsReusableAfterFinish() {
        var parser = CSVParser()
        var lines: [Int] = []
        let collect = { (event: CSVEvent) in if case .record(let record) = event { lines.append(record.line) } }
        parser.consume(Array("a\nb".utf8), collect)
        let first = parser.finish(collect)
        parser.consume(Array("\u{FEFF}c\n".utf8), collect)
        let second = parser.finish(collect)
        #expect(lines == [1, 2, 1])
        #expect(first.recordCount == 2 && second.recordCount == 1)
    }

    @Test func parseAllConvenience() {
        let result = CSVParser.parseAll(Array("a;b\nc;\"d\"x\ne;f".utf8), dialect: CSVDialect(delimiter: .semicolon))
        #expect(result.records == [["a", "b"], ["e", "f"]])
        #expect(result.malformed.map(\.line) == [2])
    }

    @Test func rawFieldKeepsEscapesAndDoubledQuotes() {
        var parser = CSVParser(dialect: CSVDialect(escape: .backslash))
        var content: [String] = []
        var written: [String] = []
        parser.consume(Array("\\N,\"a\"\"b\\\"\",plain\n".utf8)) { event in
            guard case .record(let record) = event else { return }
            content = record.strings
            written = record.indices.map { String(decoding: record.rawField(at: $0), as: UTF8.self) }
        }
        #expect(content == ["N", "a\"b\"", "plain"])
        #expect(written == ["\\N", "a\"\"b\\\"", "plain"])
    }

    struct SinkFailure: Error {}

    @Test func anErrorFromTheSinkPropagates() {
        var parser = CSVParser()
        var seen = 0
        do {
            try parser.consume(Array("a\nb\nc\n".utf8)) { _ in
                seen += 1
                if seen == 2 { throw SinkFailure() }
            }
            Issue.record("the error did not propagate")
        } catch {
            #expect(error is SinkFailure)
        }
        #expect(seen == 2)
    }

    @Test func aRecordSpanningChunksIsHandedOverWhole() {
        var parser = CSVParser()
        var raws: [String] = []
        let collect = { (event: CSVEvent) in
            if case .record(let record) = event { raws.append(String(decoding: record.raw, as: UTF8.self)) }
        }
        for piece in ["id,na", "me\r", "\n1,\"x", "\"\"y\"", "\r\n"] { parser.consume(Array(piece.utf8), collect) }
        let statistics = parser.finish(collect)
        #expect(raws == ["id,name", "1,\"x\"\"y\""])
        #expect(statistics.lineCount == 2 && statistics.recordCount == 2)
    }
}
