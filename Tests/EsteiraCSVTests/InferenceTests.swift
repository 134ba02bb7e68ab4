import EsteiraCSV
import Foundation
import Testing

@Suite("schema inference")
struct InferenceTests {
    @Test("a Brazilian export gets types, nullability, a key, a contract and DDL")
    func brazilian() throws {
        let schema = try SchemaInference.infer(
            windows1252(
                "Código;Cliente;Valor;Data;Emitida em;Ativo;CEP;Obs\r\n"
                    + "1;Ana;1.234,56;02/11/2026;02/11/2026 10:00:00;sim;01310-100;\r\n"
                    + "2;José;10,5;13/11/2026;13/11/2026 23:59:59;não;04538-132;frágil\r\n"
                    + "3;Lúcia;-3,00;30/11/2026;30/11/2026 08:15:00;sim;01001-000;\r\n"),
            options: SchemaInferenceOptions(table: "pedidos"))
        #expect(schema.charset == .windows1252)
        #expect(schema.dialect.delimiter == UInt8(ascii: ";"))
        #expect(schema.hasHeader)
        let types = Dictionary(uniqueKeysWithValues: schema.columns.map { ($0.name, $0.type) })
        #expect(types["codigo"] == .bigint)
        #expect(types["cliente"] == .text(maxLength: 16))
        #expect(types["valor"] == .decimal(precision: 18, scale: 2))
        #expect(types["data"] == .date)
        #expect(types["emitida_em"] == .datetime)
        #expect(types["ativo"] == .boolean)
        #expect(types["cep"] == .text(maxLength: 32), "codes with leading zeros and dashes stay text")
        #expect(types["obs"] == .text(maxLength: 16))
        #expect(schema.columns.first { $0.name == "obs" }?.nullable == true)
        #expect(schema.columns.first { $0.name == "valor" }?.nullable == false)
        #expect(schema.key == ["codigo"])
        #expect(schema.columns.first { $0.name == "data" }?.format == "dd/MM/yyyy")
        #expect(schema.ddl.contains("`valor` DECIMAL(18,2) NOT NULL"))
        #expect(schema.ddl.contains("PRIMARY KEY (`codigo`)"))
        #expect(schema.routeYAML.contains("encoding: windows-1252"))
        #expect(schema.routeYAML.contains(#"{name: "data", type: "date", required: true, formats: ["dd/MM/yyyy"]}"#))

        // The proposed contract reads the same file: every row loads.
        let loaded = try read(
            windows1252(
                "Código;Cliente;Valor;Data;Emitida em;Ativo;CEP;Obs\r\n1;Ana;1.234,56;02/11/2026;02/11/2026 10:00:00;sim;01310-100;\r\n"
            ),
            CSVReadOptions(contract: schema.contract))
        #expect(loaded.rejected.isEmpty, "\(loaded.rejected)")
        #expect(loaded.rows == [["1", "Ana", "1234.56", "2026-11-02", "2026-11-02 10:00:00", "1", "01310-100", nil]])
    }

    @Test(
        "types follow DuckDB's order, widening as values demand",
        arguments: [
            (["true", "false", ""], ColumnType.boolean),
            (["1", "-20", "300"], .bigint),
            (["1", "2.5", "3"], .decimal(precision: 18, scale: 2)),
            (["1.5e10", "2"], .double),
            (["2026-01-02", "2026-12-31"], .date),
            (["2026-01-02T10:00:00Z", "2026-01-02 11:00"], .datetime),
            (["2026-01-02", "x"], .text(maxLength: 32)),
            (["007", "008"], .text(maxLength: 16)),
            (["", "NULL"], .text(maxLength: nil)),
        ])
    func lattice(values: [String], expected: ColumnType) throws {
        let csv = "v,id\n" + values.enumerated().map { "\($0.element),\($0.offset)" }.joined(separator: "\n") + "\n"
        let schema = try SchemaInference.infer(Array(csv.utf8), options: SchemaInferenceOptions(table: "t"))
        #expect(schema.columns.first?.type == expected)
    }

    @Test("a stream is sampled, not read whole, and the cut last row is ignored")
    func stream() async throws {
        var text = "id,amount\n"
        for i in 0..<20_000 { text += "\(i),\(i).25\n" }
        let bytes = Array(text.utf8)
        let chunks = AsyncStream<[UInt8]> { continuation in
            var start = 0
            while start < bytes.count {
                continuation.yield(Array(bytes[start..<min(bytes.count, start + 1000)]))
                start += 1000
            }
            continuation.finish()
        }
        let schema = try await SchemaInference.infer(
            chunks, options: SchemaInferenceOptions(table: "t", sampleBytes: 50_000))
        #expect(schema.sampledRows > 3000 && schema.sampledRows < 6000)
        #expect(schema.columns.map(\.type) == [.bigint, .decimal(precision: 18, scale: 2)])
        #expect(schema.key == ["id"])
    }

    @Test("gzip input is inferred through the same decoders")
    func gzipped() throws {
        let packed = try gzip(Array("a;b\n1;x\n2;y\n".utf8))
        let schema = try SchemaInference.infer(packed, options: SchemaInferenceOptions(table: "t"))
        #expect(schema.compression == .gzip)
        #expect(schema.columns.map(\.name) == ["a", "b"])
    }
}
