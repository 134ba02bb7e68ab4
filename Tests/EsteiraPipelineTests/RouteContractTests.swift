import EsteiraCSV
import Foundation
import Testing

@testable import EsteiraPipeline

@Suite("Routes with contracts")
struct RouteContractTests {
    static let yaml = """
        routes:
          - name: plain
            tenant: acme
            pattern: "orders*.csv"
            table: acme_orders
          - name: vendas
            tenant: lojas
            pattern: "vendas*.csv"
            table: vendas
            encoding: windows-1252
            dialect: {delimiter: ";", quote: '"', header: true}
            reject_threshold: 0.05
            max_rejects: 1000
            load_mode: insert-ignore
            contract:
              key: [pedido]
              decimal_separator: ","
              date_formats: [dd/MM/yyyy]
              timezone: "-03:00"
              null_tokens: ["", "-", "N/A"]
              dedupe: {max_keys: 2000000, when_full: pass}
              columns:
                - {name: pedido, type: bigint, required: true, source: "Nº Pedido"}
                - {name: valor, type: "decimal(12,2)"}
                - {name: emitida_em, type: datetime, formats: ["dd/MM/yyyy HH:mm:ss"]}
                - {name: status, type: enum, values: [novo, pago]}
                - {name: obs, type: text, max_length: 500, nullable: true}
        """

    @Test("routes without the new keys still load; the new keys decode")
    func decodes() throws {
        let table = try RouteTable.parse(yaml: Self.yaml)
        let plain = try table.route(forKey: "acme/data/orders-1.csv")
        #expect(plain.contract == nil && plain.encoding == nil && plain.rejectThreshold == nil)
        let vendas = try table.route(forKey: "lojas/data/vendas-2026.csv.gz")
        let options = try vendas.readOptions()
        #expect(options.encoding == .windows1252)
        #expect(options.dialect.delimiter == UInt8(ascii: ";"))
        #expect(options.dialect.header == true)
        #expect(options.dialect.escape == nil, "escape not given: sniffed")
        let contract = try #require(options.contract)
        #expect(contract.key == ["pedido"])
        #expect(contract.columns.map(\.name) == ["pedido", "valor", "emitida_em", "status", "obs"])
        #expect(contract.columns[0].required && !contract.columns[4].required)
        #expect(contract.columns[4].maxLength == 500)
        #expect(contract.dedupe == DedupeSettings(enabled: true, maxKeys: 2_000_000, whenFull: .pass))
        #expect(vendas.rejectThreshold == 0.05 && vendas.maxRejects == 1000)
        #expect(try vendas.mode() == .insertIgnore)
        #expect(try plain.mode() == .append)
    }

    @Test("the example routes file is valid")
    func example() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/routes.yaml").path
        let table = try RouteTable.load(path: path)
        #expect(table.routes.contains { $0.contract != nil })
    }

    @Test(
        "bad settings fail at start-up with the route's name and a way out",
        arguments: [
            ("encoding: klingon", "encoding 'klingon' is not known"),
            ("reject_threshold: 5", "between 0 and 1"),
            ("dialect: {delimiter: ';;'}", "one ASCII character"),
            ("dialect: {delimiter: ',', quote: ','}", "both byte 0x2c"),
            ("contract: {columns: [{name: v, type: money}]}", "unknown type 'money'"),
            ("contract: {key: [nope], columns: [{name: v, type: int}]}", "key column 'nope'"),
            ("contract: {timezone: America/Sao_Paulo, columns: [{name: v, type: datetime}]}", "fixed UTC offset"),
            ("load_mode: merge", "unknown load mode"),
            ("load_mode: replace-by-file", "needs a source column"),
        ])
    func refused(extra: String, message: String) {
        let yaml = "routes:\n  - name: r1\n    tenant: t\n    table: t\n    \(extra)\n"
        #expect {
            _ = try RouteTable.parse(yaml: yaml)
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("r1")
        }
    }

    @Test("the example Brazilian files (Windows-1252, ';', decimal comma, one gzip) read typed with their route")
    func exampleFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples")
        let route = try RouteTable.load(path: root.appendingPathComponent("routes.yaml").path)
            .route(forKey: "lojas/data/vendas-2026-11-04.csv.gz")
        var rows: [[String?]] = []
        var rejected: [RejectedRow] = []
        for name in ["vendas-2026-11-03.csv", "vendas-2026-11-04.csv.gz"] {
            let bytes = try Data(contentsOf: root.appendingPathComponent("files/lojas/data/\(name)"))
            let reader = try CSVReader(options: route.readOptions())
            let sink = { (event: CSVReadEvent) in
                switch event {
                case .row(let values): rows.append(values.strings)
                case .rejected(let row): rejected.append(row)
                case .columns(let names):
                    #expect(
                        names == [
                            "pedido", "loja", "cliente", "valor_total", "data_venda", "emitida_em", "pago",
                            "observacao",
                        ])
                }
            }
            try reader.consume([UInt8](bytes), sink)
            let summary = try reader.finish(sink)
            #expect(summary.charset == .windows1252)
            #expect(summary.compression == (name.hasSuffix(".gz") ? .gzip : CSVCompression.none))
        }
        #expect(rows.map { $0[0] } == ["50001", "50002", "50005", "50101", "50102"])
        #expect(
            rows[0] == [
                "50001", "São Paulo - Paulista", "José da Conceição", "1234.56", "2026-11-03", "2026-11-03 12:15:00",
                "1", "entregar após 18h; portão azul",
            ])
        #expect(rows[2][7] == "“VIP” – cliente antigo")
        #expect(rows[4][7] == "observação com\r\nduas linhas")
        #expect(rejected.map(\.line) == [4, 5, 5], "the quoted line break puts 50103 on line 5")
    }
}
