import EsteiraCSV
import Testing

@Suite("dialects and what real files do")
struct CSVDialectTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: String
        var dialect = CSVDialect.rfc4180
        var fields: [[String]]
        var lines: [Int]? = nil
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "LF", input: "a,b\nc,d\n", fields: [["a", "b"], ["c", "d"]], lines: [1, 2]),
        Case(name: "CRLF", input: "a,b\r\nc,d\r\n", fields: [["a", "b"], ["c", "d"]], lines: [1, 2]),
        Case(
            name: "CR only", input: "a,b\rc,d\re,f", fields: [["a", "b"], ["c", "d"], ["e", "f"]], lines: [1, 2, 3]),
        Case(
            name: "mixed line ends", input: "a\nb\r\nc\rd", fields: [["a"], ["b"], ["c"], ["d"]], lines: [1, 2, 3, 4]),
        Case(
            name: "blank lines are skipped but counted", input: "\na\n\n\r\n\rb\n\n",
            fields: [["a"], ["b"]], lines: [2, 6]),
        Case(name: "empty input", input: "", fields: []),
        Case(name: "only blank lines", input: "\r\n\n\r", fields: []),
        Case(name: "no final line break", input: "a,b\nc,d", fields: [["a", "b"], ["c", "d"]]),
        Case(name: "trailing delimiter", input: "a,b,\n1,2,\n", fields: [["a", "b", ""], ["1", "2", ""]]),
        Case(name: "empty fields", input: ",\n,,\n\"\",", fields: [["", ""], ["", "", ""], ["", ""]]),
        Case(
            name: "spaces are data", input: " a , \" b\" \n", dialect: CSVDialect(bareQuote: .keepAsText),
            fields: [[" a ", " \" b\" "]]),
        Case(
            name: "quoted delimiters, quotes and line breaks", input: "\"a,b\",\"c\"\"d\",\"e\r\nf\"\ng",
            fields: [["a,b", "c\"d", "e\r\nf"], ["g"]], lines: [1, 3]),
        Case(name: "BOM at the start only", input: "\u{FEFF}a,b\n\u{FEFF}c\n", fields: [["a", "b"], ["\u{FEFF}c"]]),
        Case(name: "multi-byte UTF-8", input: "ação,日本,😀\n", fields: [["ação", "日本", "😀"]]),
        Case(
            name: "ragged rows are reported as they are", input: "a,b,c\n1,2\n1,2,3,4\n",
            fields: [["a", "b", "c"], ["1", "2"], ["1", "2", "3", "4"]]),
        Case(
            name: "semicolon", input: "a;\"b;c\";d,e\n", dialect: CSVDialect(delimiter: .semicolon),
            fields: [["a", "b;c", "d,e"]]),
        Case(
            name: "tab", input: "a\t\"b\tc\"\td e\n", dialect: CSVDialect(delimiter: .tab),
            fields: [["a", "b\tc", "d e"]]),
        Case(
            name: "pipe", input: "a|\"b|c\"||d\n", dialect: CSVDialect(delimiter: .pipe),
            fields: [["a", "b|c", "", "d"]]),
        Case(
            name: "apostrophe as quote", input: "'it''s',\"x\",'a,b'\n", dialect: CSVDialect(quote: .apostrophe),
            fields: [["it's", "\"x\"", "a,b"]]),
        Case(
            name: "no quoting", input: "\"a\",b\"c,\"d\n", dialect: CSVDialect(quote: nil),
            fields: [["\"a\"", "b\"c", "\"d"]]),
        Case(
            name: "tab without quoting, as from a database dump", input: "5'10\"\t\"x\n",
            dialect: CSVDialect(delimiter: .tab, quote: nil), fields: [["5'10\"", "\"x"]]),
        Case(
            name: "backslash escape", input: "\"a\\\"b\",c\\,d,e\\\\f,\"g\"\"h\"\n",
            dialect: CSVDialect(escape: .backslash), fields: [["a\"b", "c,d", "e\\f", "g\"h"]]),
        Case(
            name: "backslash before a line break continues the field", input: "a\\\nb,c\nd",
            dialect: CSVDialect(escape: .backslash), fields: [["a\nb", "c"], ["d"]], lines: [1, 3]),
        Case(
            name: "backslash escape without quoting", input: "a\\tb\\|c|d\n",
            dialect: CSVDialect(delimiter: .pipe, quote: nil, escape: .backslash), fields: [["atb|c", "d"]]),
        Case(
            name: "escape equal to the quote means doubling", input: "\"a\"\"b\"\n",
            dialect: CSVDialect(escape: .doubleQuote), fields: [["a\"b"]]),
        Case(
            name: "bare quotes kept as text", input: "5'10\",\"q\"\n", dialect: CSVDialect(bareQuote: .keepAsText),
            fields: [["5'10\"", "q"]]),
    ]

    @Test(arguments: cases)
    func parses(_ example: Case) {
        let result = parse(example.input, dialect: example.dialect)
        #expect(result.refused.isEmpty, "refused: \(result.refused)")
        #expect(result.fields == example.fields)
        if let lines = example.lines { #expect(result.rows.map(\.line) == lines) }
    }

    @Test(arguments: [
        (CSVDialect(delimiter: .doubleQuote), "the quote and the delimiter"),
        (CSVDialect(delimiter: 0x0A), "line break"),
        (CSVDialect(quote: 0x0D), "line break"),
        (CSVDialect(delimiter: 0xA7), "ASCII"),
        (CSVDialect(escape: .comma), "the escape and the delimiter"),
    ])
    func invalidDialectsAreExplained(dialect: CSVDialect, mentions: String) {
        #expect(dialect.invalidReason?.contains(mentions) == true, "\(dialect.invalidReason ?? "valid")")
    }

    @Test func commonDialectsAreValid() {
        for delimiter in [UInt8.comma, .semicolon, .tab, .pipe] {
            for quote in [UInt8.doubleQuote, .apostrophe, nil] {
                #expect(CSVDialect(delimiter: delimiter, quote: quote, escape: .backslash).invalidReason == nil)
            }
        }
    }
}
