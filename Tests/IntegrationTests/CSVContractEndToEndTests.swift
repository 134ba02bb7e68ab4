import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL
import EsteiraPipeline
import EsteiraWorker
import Foundation
import Testing

/// Real partner files on the real local stack: a gzip of a Windows-1252, ';'-separated, decimal-comma
/// export goes through S3 → SQS → worker and lands typed in MariaDB, its refused rows in S3 beside it.
@Suite("End to end: contracts, charsets and gzip")
struct CSVContractEndToEndTests {
    static let table = """
        CREATE TABLE vendas (pedido BIGINT PRIMARY KEY, cliente VARCHAR(120) NOT NULL, valor DECIMAL(12,2) NOT NULL,
        data_venda DATE NOT NULL, emitida_em DATETIME(6) NULL, pago BOOLEAN NOT NULL, obs TEXT NULL) CHARACTER SET utf8mb4
        """

    static func routes(threshold: Double? = nil) throws -> RouteTable {
        let contract = CSVContract(
            columns: [
                ColumnContract(name: "pedido", type: "bigint", required: true, source: "Nº Pedido"),
                ColumnContract(name: "cliente", type: "varchar(120)", required: true),
                ColumnContract(name: "valor", type: "decimal(12,2)", required: true, source: "Valor (R$)"),
                ColumnContract(name: "data_venda", type: "date", required: true, source: "Data"),
                ColumnContract(name: "emitida_em", type: "datetime", source: "Emitida em"),
                ColumnContract(name: "pago", type: "boolean", required: true),
                ColumnContract(name: "obs", type: "text", source: "Observação"),
            ],
            key: ["pedido"], nullTokens: ["", "-"], decimalSeparator: ",", dateFormats: ["dd/MM/yyyy"],
            datetimeFormats: ["dd/MM/yyyy HH:mm:ss"], timezone: "-03:00")
        return try RouteTable(routes: [
            Route(
                name: "lojas-vendas", tenant: "lojas", pattern: "vendas*.csv", table: "vendas",
                contract: contract, rejectThreshold: threshold)
        ])
    }

    static func windows1252(_ text: String) -> [UInt8] {
        let high: [Unicode.Scalar: UInt8] = ["€": 0x80, "“": 0x93, "”": 0x94, "–": 0x96]
        return text.unicodeScalars.map { high[$0] ?? UInt8($0.value) }
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-c"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }

    static let export = windows1252(
        "Nº Pedido;Cliente;Valor (R$);Data;Emitida em;Pago;Observação\r\n"
            + "7001;José da Conceição;1.234,56;03/11/2026;03/11/2026 22:30:00;Sim;\"após 18h; “frágil”\"\r\n"
            + "7002;Ana Lúcia;89,90;03/11/2026;-;Não;\r\n"
            + "7003;Érico;12,345;03/11/2026;;Sim;três casas decimais\r\n"
            + "7001;José da Conceição;1.234,56;03/11/2026;;Sim;repetida\r\n"
            + "7004;Zé;10,00;31/11/2026;;S;data impossível\r\n"
            + ";;;;;;\r\n")

    @Test("a gzip of a Windows-1252 ';' export lands typed, with its rejects beside it")
    func brazilianGzip() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            // A .csv name on gzip bytes: the magic bytes decide, not the extension.
            let key = "lojas/data/vendas-2026-11-03.csv"
            try await stack.s3.putObject(bucket: stack.bucket, key: key, body: try Self.gzip(Self.export))

            let summary = try await stack.drain(routes: try Self.routes())
            #expect(summary.succeeded == 1)
            #expect(summary.rowsLoaded == 2)
            #expect(summary.rowsRejected == 2)
            let rows = try await stack.sql(
                "SELECT pedido, cliente, valor, data_venda, emitida_em, pago, obs FROM vendas ORDER BY pedido")
            #expect(rows.rows.count == 2)
            #expect(
                rows.rows.first == [
                    "7001", "José da Conceição", "1234.56", "2026-11-03", "2026-11-04 01:30:00.000000", "1",
                    "após 18h; “frágil”",
                ])
            #expect(rows.rows.last == ["7002", "Ana Lúcia", "89.90", "2026-11-03", nil, "0", nil])

            let rejects = String(
                decoding: try await stack.s3.getObject(bucket: stack.bucket, key: "esteira-rejects/\(key).rejects.csv"),
                as: UTF8.self)
            #expect(rejects.contains("4,\"column 'valor' (field 3): '12,345' has more than 2 decimal places"))
            #expect(
                rejects.contains(
                    "6,\"column 'data_venda' (field 4): '31/11/2026' is not a date in dd/MM/yyyy\",\"7004;Zé;10,00;31/11/2026;;S;data impossível\""
                ))
            #expect(try await stack.deadLetters().isEmpty)
        }
    }

    @Test("a file refusing more rows than the route's reject threshold fails permanently and loads nothing")
    func tooManyRejects() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(Self.table)
            let key = "lojas/data/vendas-ruim.csv.gz"
            try await stack.s3.putObject(bucket: stack.bucket, key: key, body: try Self.gzip(Self.export))

            let summary = try await stack.drain(routes: try Self.routes(threshold: 0.25))
            #expect(summary.failed == 1)
            #expect(try await stack.count("vendas") == 0)
            let letter = try #require(try await stack.deadLetters().first)
            #expect(letter.messageAttributes["esteira.error-code"] == "TooManyRejects")
            #expect(
                letter.messageAttributes["esteira.error-message"]?.contains("2 of 4 rows (50.0%) were refused") == true)
            // The partner still gets the reasons.
            let rejects = try await stack.s3.getObject(bucket: stack.bucket, key: "esteira-rejects/\(key).rejects.csv")
            #expect(!rejects.isEmpty)
        }
    }
}
