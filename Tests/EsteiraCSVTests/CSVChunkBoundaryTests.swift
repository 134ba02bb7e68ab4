import EsteiraCSV
import Testing

/// A field, a row, a CRLF, a BOM or a UTF-8 character may be cut by any chunk boundary: every way of
/// cutting an input must give exactly what the uncut input gives, refusals and line numbers included.
@Suite("chunk boundaries")
struct CSVChunkBoundaryTests {
    struct Input: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var dialect = CSVDialect.rfc4180
        var limits = CSVLimits()
        var testDescription: String { name }
    }

    static let inputs: [Input] = [
        Input(
            name: "quotes, CRLF, BOM, UTF-8, quoted newlines, empty fields, no final newline",
            bytes: Array(
                ("\u{FEFF}id,name,note\r\n"
                    + "1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n"
                    + "2,Zoë 😀 ação,\"multi\r\nline\nnote\"\r\n"
                    + "\r\n"
                    + "3,,\"\"\n"
                    + "4,\"x\"\"\",\r"
                    + "\"\"\"\",\"\",\n"
                    + "5,日本語,last").utf8)),
        Input(
            name: "refused records between good ones",
            bytes: Array(
                ("a,b\"c,d\r\n"
                    + "ok,1\r\n"
                    + "\"x\"y,z\n"
                    + "\"long quoted\nfield over the limit\",2\r\n"
                    + "waytoolongfield,3\n"
                    + "ok,4\n"
                    + "1,2,3,4,5,6\n"
                    + "\"open\nq,end").utf8),
            limits: CSVLimits(maxFieldBytes: 12, maxRecordBytes: 30, maxFields: 5, maxRejectedRawBytes: 10)),
        Input(
            name: "backslash escapes",
            bytes: Array(
                ("\"a\\\"b\",c\\,d\r\n"
                    + "e\\\r\\\nf,\"g\\\\\"\n"
                    + "h,i\\").utf8),
            dialect: CSVDialect(escape: .backslash)),
        Input(
            name: "a record and field over the limits across many chunks",
            bytes: Array(
                ("short,1\n"
                    + String(repeating: "x", count: 40) + ",2\n"
                    + "\"" + String(repeating: "y", count: 15) + "\"\"\"\n"
                    + String(repeating: "z,", count: 12) + "\n"
                    + "last,3").utf8),
            limits: CSVLimits(maxFieldBytes: 16, maxRecordBytes: 20, maxFields: 8, maxRejectedRawBytes: 6)),
        Input(name: "only a partial byte order mark", bytes: [0xEF, 0xBB]),
        Input(name: "a BOM and a lone CR", bytes: [0xEF, 0xBB, 0xBF, 0x0D]),
    ]

    @Test("every cut into two chunks gives the same events as one chunk", arguments: inputs)
    func everyTwoChunkSplit(input: Input) {
        let whole = parse(input.bytes, dialect: input.dialect, limits: input.limits)
        #expect(!whole.events.isEmpty || input.bytes.count < 5)
        for cut in 0...input.bytes.count {
            let split = parse(input.bytes, dialect: input.dialect, limits: input.limits, cuts: [cut])
            #expect(split == whole, "cut at byte \(cut)")
        }
    }

    @Test("one-byte chunks give the same events as one chunk", arguments: inputs)
    func oneByteChunks(input: Input) {
        let whole = parse(input.bytes, dialect: input.dialect, limits: input.limits)
        let bytewise = parse(
            input.bytes, dialect: input.dialect, limits: input.limits,
            cuts: Array(input.bytes.indices.dropFirst()))
        #expect(bytewise == whole)
    }

    @Test("every cut into three chunks gives the same events (first input)")
    func everyThreeChunkSplit() {
        let input = Self.inputs[0]
        let whole = parse(input.bytes)
        for first in 0...input.bytes.count {
            for second in first...input.bytes.count {
                let split = parse(input.bytes, cuts: [first, second])
                if split != whole {
                    Issue.record("cuts at \(first) and \(second)")
                    return
                }
            }
        }
    }

    @Test("the uncut inputs parse as intended")
    func uncutInputs() {
        let tricky = parse(Self.inputs[0].bytes)
        #expect(
            tricky.fields == [
                ["id", "name", "note"],
                ["1", "Smith, J", "said \"hi\""],
                ["2", "Zoë 😀 ação", "multi\r\nline\nnote"],
                ["3", "", ""],
                ["4", "x\"", ""],
                ["\"", "", ""],
                ["5", "日本語", "last"],
            ])
        #expect(tricky.rows.map(\.line) == [1, 2, 3, 7, 8, 9, 10])
        #expect(tricky.rows[2].endLine == 5)
        #expect(tricky.refused.isEmpty)

        let refusing = parse(Self.inputs[1].bytes, limits: Self.inputs[1].limits)
        #expect(refusing.fields == [["ok", "1"], ["ok", "4"]])
        #expect(
            refusing.refused.map(\.reason) == [
                .bareQuote(field: 1), .textAfterClosingQuote(field: 0), .fieldTooLarge(field: 0, limit: 12),
                .fieldTooLarge(field: 0, limit: 12), .tooManyFields(limit: 5), .unterminatedQuote(field: 0),
            ])
        #expect(refusing.refused.map(\.line) == [1, 3, 4, 6, 8, 9])
        #expect(refusing.refused.map(\.endLine) == [1, 3, 5, 6, 8, 10])

        let escaped = parse(Self.inputs[2].bytes, dialect: Self.inputs[2].dialect)
        #expect(escaped.fields == [["a\"b", "c,d"], ["e\r\nf", "g\\"]])
        #expect(escaped.refused.map(\.reason) == [.danglingEscape(field: 1)])

        let oversized = parse(Self.inputs[3].bytes, limits: Self.inputs[3].limits)
        #expect(oversized.fields == [["short", "1"], ["last", "3"]])
        #expect(
            oversized.refused.map(\.reason) == [
                .fieldTooLarge(field: 0, limit: 16), .fieldTooLarge(field: 0, limit: 16), .tooManyFields(limit: 8),
            ])
        #expect(oversized.refused.allSatisfy { $0.raw.count == 6 && $0.isRawTruncated })
    }
}
