import EsteiraCSV
import Testing

@Suite("dialect sniffing")
struct SnifferTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var text: String
        var delimiter: Character
        var quote: Character?
        var escape: Character? = nil
        var header: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "RFC 4180 with a header", text: "id,name,amount\n1,\"Smith, J\",10.5\n2,Ana,3\n", delimiter: ",",
            quote: "\"", header: true),
        Case(
            name: "Brazilian: ';' and decimal commas",
            text: "id;valor;data\n1;2,50;01/02/2026\n2;3,75;02/02/2026\n3;1.234,00;03/02/2026\n",
            delimiter: ";", quote: "\"", header: true),
        Case(
            name: "Brazilian without a header", text: "1;2,50;01/02/2026\n2;3,75;02/02/2026\n3;10,00;03/02/2026\n",
            delimiter: ";", quote: "\"", header: false),
        Case(name: "tabs", text: "a\tb\tc\nx\ty\tz\n1\t2\t3\n", delimiter: "\t", quote: "\"", header: true),
        Case(
            name: "pipes with commas in text", text: "id|desc|n\n1|a, b, c|2\n2|d, e|3\n", delimiter: "|", quote: "\"",
            header: true),
        Case(name: "single quotes", text: "id,txt\n1,'a,b'\n2,'c,d'\n3,e\n", delimiter: ",", quote: "'", header: true),
        Case(
            name: "apostrophes in text are not quotes", text: "id,name\n1,O'Brien\n2,D'Ávila\n3,Ana\n", delimiter: ",",
            quote: "\"", header: true),
        Case(
            name: "backslash-escaped quotes", text: "id,txt\n1,\"say \\\"hi\\\", ok\"\n2,\"x\"\n", delimiter: ",",
            quote: "\"", escape: "\\", header: true),
        Case(
            name: "no header: numbers and dates in the first row", text: "1,2026-01-01,9.5\n2,2026-01-02,3\n",
            delimiter: ",", quote: "\"", header: false),
        Case(
            name: "header over all-text columns", text: "nome,cidade\nAna,Recife\nBruno,Natal\n", delimiter: ",",
            quote: "\"", header: true),
        Case(name: "one column", text: "email\na@x.com\nb@y.com\n", delimiter: ",", quote: "\"", header: true),
        Case(
            name: "a ragged row does not change the verdict", text: "a;b;c\n1;2;3\n4;5\n6;7;8\n9;10;11\n",
            delimiter: ";", quote: "\"", header: true),
    ]

    @Test("delimiter, quote, escape and header are guessed from a sample", arguments: cases)
    func sniff(_ c: Case) {
        let sniffed = Array(c.text.utf8).withUnsafeBytes { DialectSniffer.sniff($0, isWholeFile: true) }
        #expect(sniffed.dialect.delimiter == c.delimiter.asciiValue)
        #expect(sniffed.dialect.quote == c.quote?.asciiValue)
        #expect(sniffed.dialect.escape == c.escape?.asciiValue)
        #expect(sniffed.hasHeader == c.header)
    }

    @Test("a route's overrides win over the guess")
    func overrides() {
        let text = Array("a;b\n1;2\n".utf8)
        let sniffed = text.withUnsafeBytes {
            DialectSniffer.sniff(
                $0, isWholeFile: true,
                overrides: DialectOverrides(delimiter: UInt8(ascii: ","), quote: .some(nil), header: false))
        }
        #expect(sniffed.dialect.delimiter == UInt8(ascii: ","))
        #expect(sniffed.dialect.quote == nil)
        #expect(sniffed.hasHeader == false)
    }

    @Test("a sample cut mid-line ignores the cut line")
    func cutSample() {
        let text = Array("a;b;c\n1;2;3\n4;5;6\n7;8".utf8)
        let sniffed = text.withUnsafeBytes { DialectSniffer.sniff($0) }
        #expect(sniffed.dialect.delimiter == UInt8(ascii: ";"))
        #expect(sniffed.consistentRows == sniffed.sampleRows)
    }
}
