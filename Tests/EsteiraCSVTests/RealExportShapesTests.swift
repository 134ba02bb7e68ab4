import EsteiraCSV
import Testing

/// Shapes real exports have, beyond RFC 4180: report titles and `#` lines above the header, one huge
/// line, trailing delimiters with blank or repeated header names, NUL padding, mixed line ends.
@Suite("real export shapes")
struct RealExportShapesTests {
    static func options(_ settings: DialectSettings) throws -> CSVReadOptions {
        CSVReadOptions(dialect: try settings.overrides())
    }

    @Test("`#` lines above the header and between rows are skipped with `comment: \"#\"`", arguments: [1, 3, 64 << 10])
    func commentLines(chunkSize: Int) throws {
        let text = "# exported by SAP ECC\n# 2026-11-02 13:04\nid,nome\n1,ana\n# a note in the middle\n2,bia\n"
        let result = try read(Array(text.utf8), try Self.options(DialectSettings(comment: "#")), chunkSize: chunkSize)
        #expect(result.columns == ["id", "nome"])
        #expect(result.rows == [["1", "ana"], ["2", "bia"]])
        #expect(result.rejected.isEmpty)
    }

    @Test("`#` preamble lines are sniffed as comments when that is unambiguous")
    func commentSniffed() throws {
        let text =
            "# Relatório de pedidos\n# gerado em 02/11/2026\nid;nome;valor\n1;ana;2,50\n2;bia;3,00\n3;caio;4,00\n"
        let result = try read(text)
        #expect(result.columns == ["id", "nome", "valor"])
        #expect(result.rows.count == 3)
        #expect(result.rejected.isEmpty)
        #expect(result.summary.dialect.comment == UInt8(ascii: "#"))
    }

    @Test("a header whose first name is '#' is a header, not a comment")
    func hashColumn() throws {
        let result = try read("#,nome\n1,ana\n2,bia\n3,caio\n")
        #expect(result.columns.count == 2)
        #expect(result.rows.count == 3)
        #expect(result.summary.dialect.comment == nil)
    }

    @Test("`skip_rows: N` skips a report title above the header")
    func skipRows() throws {
        let text = "Relatório de vendas, loja 1\r\nGerado em 02/11/2026\r\nid;valor\r\n1;2,50\r\n"
        let result = try read(Array(text.utf8), try Self.options(DialectSettings(skipRows: 2)))
        #expect(result.columns == ["id", "valor"])
        #expect(result.rows.count == 1)
        #expect(result.rejected.isEmpty)
    }

    @Test("a title line above a consistent table is sniffed as a preamble")
    func skipRowsSniffed() throws {
        let text = "Relatório de vendas - Loja 1\n\nid;nome;valor\n1;ana;2,50\n2;bia;3,00\n3;caio;4,00\n4;duda;5,00\n"
        let result = try read(text)
        #expect(result.columns == ["id", "nome", "valor"])
        #expect(result.rows.count == 4)
        #expect(result.rejected.isEmpty)
        #expect(result.summary.dialect.skipRows == 2)
    }

    @Test("bad comment and skip_rows settings are refused with a reason")
    func badSettings() {
        #expect(throws: CSVContractError.self) { try DialectSettings(comment: "##").overrides() }
        #expect(throws: CSVContractError.self) { try DialectSettings(delimiter: "#", comment: "#").overrides() }
        #expect(throws: CSVContractError.self) { try DialectSettings(skipRows: -1).overrides() }
    }

    @Test("a file whose only line is longer than the row limit says so", arguments: [false, true])
    func onlyLineTooLong(withLineBreak: Bool) throws {
        // 80 fields of 64 KiB: each within the field limit, the line over the row limit.
        let line = Array(repeating: String(repeating: "x", count: 64 << 10), count: 80).joined(separator: ",")
        do {
            _ = try read(line + (withLineBreak ? "\n" : ""), chunkSize: 1 << 20)
            Issue.record("read a 5 MiB line")
        } catch let e as CSVReadError {
            #expect(e.message.contains("line 1 is longer than the 4 MiB row limit"), "\(e.message)")
            #expect(!e.message.contains("empty"), "\(e.message)")
        }
    }

    @Test("a trailing delimiter on every line with blank and repeated header names: header and rows agree")
    func trailingDelimiterWithBlankNames() throws {
        let text = "nome,,nome,cidade,\nana,x,ana2,rio,\nbia,y,bia2,natal,\n"
        let result = try read(text)
        #expect(result.columns == ["nome", "column_2", "nome_2", "cidade"])
        #expect(result.rows == [["ana", "x", "ana2", "rio"], ["bia", "y", "bia2", "natal"]])
        #expect(result.rejected.isEmpty)
        let typed = try read("id,,id,valor,\n1,a,2,3.5,\n2,b,3,4.5,\n")
        #expect(typed.columns == ["id", "column_2", "id_2", "valor"])
        #expect(typed.rows.count == 2)
        #expect(typed.rejected.isEmpty)
    }

    @Test("NUL padding at the end of lines, and lines of NULs only, are not data", arguments: [1, 7, 64 << 10])
    func nulPadding(chunkSize: Int) throws {
        let nuls = String(repeating: "\0", count: 6)
        let text = "id,nome\(nuls)\n1,ana\(nuls)\(nuls)\r\n2,bia\n\(nuls)\(nuls)\n\(nuls)"
        let result = try read(Array(text.utf8), chunkSize: chunkSize)
        #expect(result.columns == ["id", "nome"])
        #expect(result.rows == [["1", "ana"], ["2", "bia"]])
        #expect(result.rejected.isEmpty)
        // A NUL inside a line is data, and typing says so.
        var options = CSVReadOptions()
        options.contract = CSVContract(columns: [
            ColumnContract(name: "id", type: "int"), ColumnContract(name: "nome", type: "text"),
        ])
        let inside = try read("id,nome\n1\0,ana\n", options)
        #expect(inside.rejected.count == 1)
    }

    @Test("CR, LF and CRLF mixed in one file, quoted line breaks included", arguments: [1, 2, 64 << 10])
    func mixedLineEnds(chunkSize: Int) throws {
        let text = "id,nome,obs\r\n1,ana,\"a\r\nb\"\n2,bia,\"c\rd\"\r3,caio,x\r\n4,duda,\"e\nf\"\r"
        let result = try read(Array(text.utf8), chunkSize: chunkSize)
        #expect(result.columns == ["id", "nome", "obs"])
        #expect(
            result.rows == [
                ["1", "ana", "a\r\nb"], ["2", "bia", "c\rd"], ["3", "caio", "x"], ["4", "duda", "e\nf"],
            ])
        #expect(result.rejected.isEmpty)
    }
}
