import EsteiraCSV
import Testing

/// A refused record is reported with its line, raw text and reason, and the next record still parses.
@Suite("refused records")
struct CSVMalformedRecordTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: String
        var dialect = CSVDialect.rfc4180
        var limits = CSVLimits()
        /// The refusals, as (first line, last line, reason, raw text).
        var refused: [(Int, Int, CSVIssue, String)]
        /// The records that still parse, with their lines.
        var good: [(Int, [String])]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "bare quote", input: "h1,h2\na,b\"c\nd,e\n",
            refused: [(2, 2, .bareQuote(field: 1), "a,b\"c")], good: [(1, ["h1", "h2"]), (3, ["d", "e"])]),
        Case(
            name: "bare quote in a CRLF file keeps the CR out of the raw text", input: "a\"b\r\nc\r\n",
            refused: [(1, 1, .bareQuote(field: 0), "a\"b")], good: [(2, ["c"])]),
        Case(
            name: "text after the closing quote", input: "x\n\"a\"b,c\n\"d\" ,e\nf\n",
            refused: [
                (2, 2, .textAfterClosingQuote(field: 0), "\"a\"b,c"),
                (3, 3, .textAfterClosingQuote(field: 0), "\"d\" ,e"),
            ],
            good: [(1, ["x"]), (4, ["f"])]),
        Case(
            name: "a refused record may span lines inside quotes", input: "a,\"b\nc\"x,\"d\ne\"\nf\n",
            refused: [(1, 3, .textAfterClosingQuote(field: 1), "a,\"b\nc\"x,\"d\ne\"")], good: [(4, ["f"])]),
        Case(
            name: "unterminated quote at end of input", input: "a\n\"b,c\nd",
            refused: [(2, 3, .unterminatedQuote(field: 0), "\"b,c\nd")], good: [(1, ["a"])]),
        Case(
            name: "an unbalanced quote takes lines with it, and says which", input: "a,\"b\nc,d\ne,\"f\"\ng\n",
            refused: [(1, 3, .textAfterClosingQuote(field: 1), "a,\"b\nc,d\ne,\"f\"")], good: [(4, ["g"])]),
        Case(
            name: "dangling escape at end of input", input: "a\nb\\", dialect: CSVDialect(escape: .backslash),
            refused: [(2, 2, .danglingEscape(field: 0), "b\\")], good: [(1, ["a"])]),
        Case(
            name: "field over the limit", input: "a,b\n123456,x\nc,d\n", limits: CSVLimits(maxFieldBytes: 5),
            refused: [(2, 2, .fieldTooLarge(field: 0, limit: 5), "123456,x")],
            good: [(1, ["a", "b"]), (3, ["c", "d"])]),
        Case(
            name: "a field exactly at the limit passes", input: "12345,\"123\"\n", limits: CSVLimits(maxFieldBytes: 5),
            refused: [], good: [(1, ["12345", "123"])]),
        Case(
            name: "quotes count towards the field size", input: "\"1234\"\n", limits: CSVLimits(maxFieldBytes: 5),
            refused: [(1, 1, .fieldTooLarge(field: 0, limit: 5), "\"1234\"")], good: []),
        Case(
            name: "quoted field over the limit spanning lines", input: "\"line1\nline2\nline3\",x\nnext\n",
            limits: CSVLimits(maxFieldBytes: 10),
            refused: [(1, 3, .fieldTooLarge(field: 0, limit: 10), "\"line1\nline2\nline3\",x")],
            good: [(4, ["next"])]),
        Case(
            name: "record over the limit", input: "aaaa,bbbb,cccc\nx\n",
            limits: CSVLimits(maxFieldBytes: 5, maxRecordBytes: 10),
            refused: [(1, 1, .recordTooLarge(limit: 10), "aaaa,bbbb,cccc")], good: [(2, ["x"])]),
        Case(
            name: "a record exactly at the limit passes", input: "aaaa,bbbbb\n",
            limits: CSVLimits(maxFieldBytes: 5, maxRecordBytes: 10), refused: [], good: [(1, ["aaaa", "bbbbb"])]),
        Case(
            name: "too many fields", input: "a,b,c,d\n,,,\nx,y,z\n", limits: CSVLimits(maxFields: 3),
            refused: [(1, 1, .tooManyFields(limit: 3), "a,b,c,d"), (2, 2, .tooManyFields(limit: 3), ",,,")],
            good: [(3, ["x", "y", "z"])]),
        Case(
            name: "the limit crossed first is the reason", input: "ab,cdefgh\"\n",
            limits: CSVLimits(maxFieldBytes: 5, maxRecordBytes: 6),
            refused: [(1, 1, .recordTooLarge(limit: 6), "ab,cdefgh\"")], good: []),
        Case(
            name: "a size limit crossed before a bare quote wins", input: "abcdefg\"\n",
            limits: CSVLimits(maxFieldBytes: 5),
            refused: [(1, 1, .fieldTooLarge(field: 0, limit: 5), "abcdefg\"")], good: []),
        Case(
            name: "raw text is cut, its full length kept", input: "a\"bcdefghij\nk\n",
            limits: CSVLimits(maxRejectedRawBytes: 4),
            refused: [(1, 1, .bareQuote(field: 0), "a\"bc")], good: [(2, ["k"])]),
    ]

    @Test(arguments: cases)
    func refuses(_ example: Case) {
        let result = parse(example.input, dialect: example.dialect, limits: example.limits)
        #expect(result.refused.count == example.refused.count, "refused: \(result.refused)")
        for (actual, expected) in zip(result.refused, example.refused) {
            #expect(actual.line == expected.0)
            #expect(actual.endLine == expected.1)
            #expect(actual.reason == expected.2)
            #expect(actual.rawText == expected.3)
        }
        #expect(result.rows.map(\.line) == example.good.map(\.0))
        #expect(result.fields == example.good.map(\.1))
    }

    @Test func truncatedRawTextKeepsTheFullLength() {
        let refused = parse("a\"bcdefghij\n", limits: CSVLimits(maxRejectedRawBytes: 4)).refused
        #expect(refused.first?.rawByteCount == 11)
        #expect(refused.first?.isRawTruncated == true)
        #expect(refused.first?.description == "line 1: quote inside unquoted field 1")
    }

    @Test func aHugeRecordNeverGrowsTheBuffersPastTheLimit() {
        // 64 MiB of one unterminated field, fed in 64 KiB chunks, against a 1 MiB record limit: the
        // record is refused and the next line parses. (Memory itself is asserted by design, not here.)
        var parser = CSVParser(limits: CSVLimits(maxFieldBytes: 1 << 20, maxRecordBytes: 1 << 20))
        var refused: [MalformedRecord] = []
        var rows: [[String]] = []
        let collect = { (event: CSVEvent) in
            switch event {
            case .record(let record): rows.append(record.strings)
            case .malformed(let malformed): refused.append(malformed)
            }
        }
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 10)
        for _ in 0..<1024 { parser.consume(chunk, collect) }
        parser.consume(Array("\nnext,1\n".utf8), collect)
        parser.finish(collect)
        #expect(refused.map(\.reason) == [.fieldTooLarge(field: 0, limit: 1 << 20)])
        #expect(refused.first?.rawByteCount == 64 << 20)
        #expect(refused.first?.raw.count == CSVLimits().maxRejectedRawBytes)
        #expect(rows == [["next", "1"]])
    }
}
