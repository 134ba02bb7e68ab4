import EsteiraCSV
import Testing

@Suite("cleaning under a contract")
struct CleaningTests {
    /// A Brazilian ERP export as Excel saves it: Windows-1252, ';', decimal comma, dd/MM/yyyy, CRLF,
    /// a header with accents and spaces, an empty line of ';' at the end.
    static let brazilianExport = windows1252(
        "Nº Pedido;Cliente;Valor Total;Data do Pedido;Pago?;Observação\r\n"
            + "1001;José da Silva;1.234,56;02/11/2026;Sim;\"entregar após 18h; portão azul\"\r\n"
            + "1002;Ana Lúcia;89,90;03/11/2026;Não;\r\n"
            + "1003;Conceição;-;31/11/2026;Sim;data impossível\r\n"
            + "1001;José da Silva;1.234,56;02/11/2026;Sim;repetido\r\n"
            + "1004;;10,00;04/11/2026;S;sem cliente\r\n"
            + "1005;Érico;12,345;05/11/2026;N;três casas\r\n"
            + ";;;;;\r\n")

    static let brazilianContract = CSVContract(
        columns: [
            ColumnContract(name: "pedido", type: "bigint", required: true, source: "Nº Pedido"),
            ColumnContract(name: "cliente", type: "varchar(100)", required: true),
            ColumnContract(name: "valor_total", type: "decimal(12,2)"),
            ColumnContract(name: "data_do_pedido", type: "date", required: true),
            ColumnContract(name: "pago", type: "boolean"),
            ColumnContract(name: "observacao", type: "text"),
        ],
        key: ["pedido"], nullTokens: ["", "-"], decimalSeparator: ",", dateFormats: ["dd/MM/yyyy"])

    @Test(
        "a Brazilian Windows-1252 export loads typed, with every refused row explained", arguments: [1, 3, 64, 1 << 20])
    func brazilianExport(chunk: Int) throws {
        let result = try read(Self.brazilianExport, CSVReadOptions(contract: Self.brazilianContract), chunkSize: chunk)
        #expect(result.summary.charset == .windows1252)
        #expect(result.summary.dialect.delimiter == UInt8(ascii: ";"))
        #expect(result.summary.hasHeader)
        #expect(result.columns == ["pedido", "cliente", "valor_total", "data_do_pedido", "pago", "observacao"])
        #expect(
            result.rows == [
                ["1001", "José da Silva", "1234.56", "2026-11-02", "1", "entregar após 18h; portão azul"],
                ["1002", "Ana Lúcia", "89.9", "2026-11-03", "0", nil],
            ])
        #expect(result.rejected.map(\.line) == [4, 6, 7])
        #expect(
            result.rejected.map(\.reason) == [
                "column 'data_do_pedido' (field 4): '31/11/2026' is not a date in dd/MM/yyyy",
                "column 'cliente' (field 2) is required but empty",
                "column 'valor_total' (field 3): '12,345' has more than 2 decimal places; it would have to be rounded",
            ])
        #expect(result.rejected.first?.raw == "1003;Conceição;-;31/11/2026;Sim;data impossível")
        #expect(result.summary.duplicates == 1)
        #expect(result.summary.emptyRows == 1)
    }

    @Test(
        "where the sniff sample ends (mid-row, mid-character, or after an invalid byte) changes nothing",
        arguments: [1, 8, 50, 100, 1 << 20])
    func sniffSampleSize(sniffBytes: Int) throws {
        var options = CSVReadOptions(contract: Self.brazilianContract)
        options.sniffBytes = sniffBytes
        let result = try read(Self.brazilianExport, options, chunkSize: 7)
        let reference = try read(Self.brazilianExport, CSVReadOptions(contract: Self.brazilianContract))
        #expect(result.rows == reference.rows)
        #expect(result.rejected == reference.rejected)
        // Invalid UTF-8 held in the sample, and after it.
        let bytes =
            Array("id,nome\n1,ação e coração\n2,caf".utf8) + [0xE9] + Array("\n3,ok\n4,x".utf8) + [0xFF]
            + Array("\n5,fim\n".utf8)
        var plain = CSVReadOptions()
        plain.sniffBytes = sniffBytes
        let mixed = try read(bytes, plain, chunkSize: 3)
        #expect(mixed.rows == [["1", "ação e coração"], ["3", "ok"], ["5", "fim"]])
        #expect(mixed.rejected.map(\.line) == [3, 5])
    }

    @Test(
        "header names become safe identifiers",
        arguments: [
            ("Nº do Pedido", "no_do_pedido"), ("Valor (R$)", "valor_r"), ("AÇÃO", "acao"), ("  Order ID ", "order_id"),
            ("customer-name", "customer_name"), ("2024", "col_2024"), ("", "column_1"), ("💰", "column_1"),
            ("x`; DROP TABLE t; --", "x_drop_table_t"), ("Straße", "strasse"), ("camelCase", "camelcase"),
            (String(repeating: "a", count: 70), String(repeating: "a", count: 64)),
        ])
    func headerNames(raw: String, expected: String) {
        #expect(HeaderNormalizer.identifier(raw, position: 0) == expected)
    }

    @Test("colliding header names are renamed, or refused on request")
    func collisions() throws {
        #expect(
            try HeaderNormalizer.normalize(["Valor", "valor", "VALOR ", "valor_2"]) == [
                "valor", "valor_2", "valor_3", "valor_2_2",
            ])
        #expect {
            try HeaderNormalizer.normalize(["Preço", "preco"], collisions: .refuse)
        } throws: { error in
            "\(error)".contains("header columns 1 and 2 both become 'preco'")
        }
    }

    @Test("without a contract every column is text and an empty unquoted field is NULL")
    func untyped() throws {
        let result = try read("Order ID,Note\r\n1,\r\n2,\"\"\r\n3,x\r\n")
        #expect(result.columns == ["order_id", "note"])
        #expect(result.rows == [["1", nil], ["2", ""], ["3", "x"]])
    }

    @Test("ragged rows are refused, a trailing delimiter is not ragged")
    func ragged() throws {
        let result = try read("a,b,\n1,2,\n3\n4,5,6,7\n8,9\n")
        #expect(result.columns == ["a", "b"])
        #expect(result.rows == [["1", "2"], ["8", "9"]])
        #expect(
            result.rejected.map(\.reason) == [
                "row has 1 fields, the header has 2", "row has 4 fields, the header has 2",
            ])
    }

    @Test(
        "the contract and the header must agree, with messages that say how to fix it",
        arguments: [
            ("id,extra\n1,2\n", "columns the contract does not name: 'extra'"),
            ("name\nx\n", "no column 'id', which the contract requires"),
        ])
    func headerMismatch(csv: String, message: String) throws {
        let contract = CSVContract(columns: [ColumnContract(name: "id", type: "int", required: true)])
        #expect {
            _ = try read(csv, CSVReadOptions(contract: contract))
        } throws: { error in
            (error as? CSVReadError)?.code == .badHeader && "\(error)".contains(message)
        }
    }

    @Test("extra columns can be ignored; missing optional columns are left to the table default")
    func lenientHeader() throws {
        var contract = CSVContract(columns: [
            ColumnContract(name: "id", type: "int"), ColumnContract(name: "note", type: "text"),
        ])
        contract.extraColumns = .ignore
        let result = try read("x,id\n9,1\n", CSVReadOptions(contract: contract))
        #expect(result.columns == ["id"])
        #expect(result.rows == [["1"]])
    }

    @Test("a headerless file takes the contract's columns in order")
    func headerless() throws {
        let contract = CSVContract(columns: [
            ColumnContract(name: "id", type: "int"), ColumnContract(name: "amount", type: "decimal(8,2)"),
        ])
        let result = try read(
            "1,2.5\n2,3\n", CSVReadOptions(dialect: DialectOverrides(header: false), contract: contract))
        #expect(result.rows == [["1", "2.5"], ["2", "3"]])
    }

    @Test("dedupe keeps the first occurrence of each typed key and has a hard cap")
    func dedupe() throws {
        var contract = CSVContract(
            columns: [ColumnContract(name: "id", type: "int"), ColumnContract(name: "v", type: "text")], key: ["id"])
        // "01" and "1" are the same int key.
        let csv = "id,v\n1,a\n2,b\n01,c\n3,d\n2,e\n"
        #expect(try read(csv, CSVReadOptions(contract: contract)).rows == [["1", "a"], ["2", "b"], ["3", "d"]])
        contract.dedupe.maxKeys = 2
        #expect {
            _ = try read(csv, CSVReadOptions(contract: contract))
        } throws: { error in
            (error as? CSVReadError)?.code == .dedupeFull && "\(error)".contains("more than 2 distinct keys")
        }
        contract.dedupe.whenFull = .pass
        // Past the cap, keys already held are still caught (2), new ones pass unchecked (3).
        #expect(try read(csv, CSVReadOptions(contract: contract)).rows == [["1", "a"], ["2", "b"], ["3", "d"]])
        contract.dedupe.enabled = false
        #expect(try read(csv, CSVReadOptions(contract: contract)).rows.count == 5)
    }

    @Test("dedupe stays exact over many keys (no false duplicates from the 128-bit hashes)")
    func dedupeMany() throws {
        let contract = CSVContract(columns: [ColumnContract(name: "k", type: "text")], key: ["k"])
        var csv = "k\n"
        for i in 0..<20_000 { csv += "key-\(i)\n" }
        for i in stride(from: 0, to: 20_000, by: 7) { csv += "key-\(i)\n" }
        let result = try read(csv, CSVReadOptions(contract: contract))
        #expect(result.rows.count == 20_000)
        #expect(result.summary.duplicates == (20_000 + 6) / 7)
    }
}
