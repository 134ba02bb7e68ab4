import ArgumentParser
import EsteiraAWS
import EsteiraCSV
import Foundation

struct InferCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Propose a route contract (YAML) and MySQL DDL from a sample of a file.",
        discussion: """
            Reads the first --sample-bytes of the file (gzip, charset and dialect detected as the worker
            does) and prints a route to paste into the routes file and a CREATE TABLE to review.

            Examples:
              esteira infer examples/files/lojas/data/vendas-2026-11-03.csv --table lojas_vendas --tenant lojas
              esteira infer "s3://esteira-landing/acme/data/orders 2026-11-02.csv" --table acme_orders --ddl-only
            """)

    @Argument(help: "A local file or s3://bucket/key.") var source: String
    @Option(help: "Destination table name (default: proposed from the file name, e.g. orders-2026-11-01.csv → orders).")
    var table: String?
    @Option(help: "Tenant of the proposed route (default: the key's first segment for s3:// sources).") var tenant:
        String?
    @Option(help: "File-name pattern of the proposed route.") var pattern: String?
    @Option(name: .customLong("sample-bytes"), help: "How much of the file to read.") var sampleBytes: Int = 4 << 20
    @Flag(name: .customLong("yaml-only"), help: "Print only the route YAML.") var yamlOnly = false
    @Flag(name: .customLong("ddl-only"), help: "Print only the MySQL DDL.") var ddlOnly = false
    @Flag(help: "Print JSON for scripts: the columns, the key, the route YAML and the DDL.") var json = false

    func validate() throws {
        guard sampleBytes >= 1024 else { throw ValidationError("--sample-bytes must be at least 1024") }
        guard !(yamlOnly && ddlOnly) else { throw ValidationError("--yaml-only and --ddl-only exclude each other") }
    }

    func run() async throws {
        var bytes: [UInt8]
        var inferredTenant = tenant
        if let uri = S3URI(source) {
            let aws = try makeAWSClient(logger: bootstrapLogging())
            let (_, body) = try await S3Client(client: aws).getObjectStream(bucket: uri.bucket, key: uri.key)
            bytes = []
            for try await chunk in body {
                bytes += chunk
                if bytes.count >= sampleBytes { break }
            }
            if inferredTenant == nil { inferredTenant = uri.key.split(separator: "/").first.map(String.init) }
        } else {
            guard let handle = FileHandle(forReadingAtPath: source) else {
                throw UserFacingError("cannot read \(source): give a readable local file or an s3://bucket/key address")
            }
            bytes = Array(handle.readData(ofLength: sampleBytes))
            try? handle.close()
        }
        let tableName: String
        if let table {
            tableName = table
        } else {
            tableName = SchemaInference.proposedTableName(forFile: S3URI(source)?.key ?? source)
            // On stderr, so --yaml-only and --json output stays what it says.
            FileHandle.standardError.write(
                Data(
                    "esteira infer: no --table given; proposing table '\(tableName)' from the file name (give --table NAME to choose another)\n"
                        .utf8))
        }
        let options = SchemaInferenceOptions(
            table: tableName, tenant: inferredTenant, pattern: pattern, sampleBytes: sampleBytes)
        let schema: InferredSchema
        do {
            schema = try SchemaInference.infer(bytes, options: options)
        } catch {
            throw UserFacingError("cannot infer a schema from \(source): \(error)")
        }
        if json {
            return Output.json(
                [
                    "table": schema.table, "charset": "\(schema.charset)", "compression": "\(schema.compression)",
                    "delimiter": String(UnicodeScalar(schema.dialect.delimiter)), "header": schema.hasHeader,
                    "sampled_rows": schema.sampledRows, "rejected_rows": schema.rejectedRows, "key": schema.key,
                    "columns": schema.columns.map { c -> [String: Any] in
                        var o: [String: Any] = ["name": c.name, "type": "\(c.type)", "nullable": c.nullable]
                        if let f = c.format { o["format"] = f }
                        if let d = c.decimalSeparator { o["decimal_separator"] = d }
                        return o
                    },
                    "route_yaml": schema.routeYAML, "ddl": schema.ddl,
                ] as [String: Any])
        }
        if !ddlOnly {
            print(
                "# Proposed route: \(schema.sampledRows) sampled row(s), \(schema.rejectedRows) refused; review before use."
            )
            print(schema.routeYAML)
        }
        if !yamlOnly { print(schema.ddl) }
    }
}
