import EsteiraAWS
import EsteiraMySQL
import EsteiraPipeline
import Foundation
import Testing

/// How the pipeline meets MySQL, on the real stack: tables created or checked per route (`create_table`),
/// connections reused between files and replaced when lost or left in doubt, and credentials from a
/// Secrets Manager secret that is fetched again after a rotation.
@Suite("MySQL operations: create_table, the connection pool, secret rotation")
struct MySQLOperationsTests {
    static let contractRoutes = """
        routes:
          - name: vendas
            tenant: lojas
            pattern: "vendas*.csv"
            table: vendas
            create_table: true
            load_mode: upsert
            contract:
              key: [pedido]
              columns:
                - {name: pedido, type: bigint, required: true}
                - {name: cliente, type: "varchar(60)", required: true}
                - {name: valor, type: "decimal(12,2)"}
                - {name: quando, type: datetime}
                - {name: obs, type: text}
        """

    static func put(_ stack: TestStack, _ key: String, _ csv: String) async throws -> SourceObject {
        let put = try await stack.s3.putObject(bucket: stack.bucket, key: key, body: Array(csv.utf8))
        return SourceObject(bucket: stack.bucket, key: key, eTag: put.eTag)
    }

    static func pipeline(_ stack: TestStack, routes: RouteTable, connections: PipelineConnectionPool? = nil)
        -> FilePipeline
    {
        FilePipeline(
            s3: stack.s3, connections: connections ?? PipelineConnectionPool(config: stack.mysql), routes: routes,
            logger: TestStack.quietLogger)
    }

    static func load(_ pipeline: FilePipeline, _ source: SourceObject) async throws -> FileOutcome {
        try await pipeline.load(source, route: try pipeline.route(forKey: source.key), fencingToken: 1)
    }

    @Test("create_table: two files at once into an absent table; it is made from the contract and both load")
    func createdFromTheContract() async throws {
        try await TestStack.with { stack in
            let pipeline = Self.pipeline(stack, routes: try RouteTable.parse(yaml: Self.contractRoutes))
            let a = try await Self.put(
                stack, "lojas/data/vendas-a.csv",
                "pedido,cliente,valor,quando,obs\n1,Ana,10.50,2026-11-02T13:04:05.25Z,\n2,Bia,,,nota\n")
            let b = try await Self.put(
                stack, "lojas/data/vendas-b.csv", "pedido,cliente,valor\n3,Caio,1.00\n1,Ana Maria,11.00\n")
            // Two workers racing to create the same table: CREATE TABLE IF NOT EXISTS, then the check.
            async let first = Self.load(pipeline, a)
            async let second = Self.load(pipeline, b)
            let (x, y) = try await (first, second)
            #expect(x.rowsLoaded + y.rowsLoaded == 4)
            #expect(try await stack.count("vendas") == 3, "upsert on the created primary key")

            let columns = try await stack.sql(
                """
                SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'vendas' ORDER BY ORDINAL_POSITION
                """)
            #expect(
                columns.rows.map { $0.compactMap { $0 }.joined(separator: " ") } == [
                    "pedido bigint(20) NO", "cliente varchar(60) NO", "valor decimal(12,2) YES",
                    "quando datetime(6) YES",
                    "obs mediumtext YES",
                ])
            let key = try await stack.sql(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'vendas' AND INDEX_NAME = 'PRIMARY'"
            )
            #expect(key.rows == [["pedido"]])
            let when = try await stack.sql("SELECT quando FROM vendas WHERE pedido = 1")
            #expect(when.scalar == "2026-11-02 13:04:05.250000")
        }
    }

    @Test("create_table: an existing table that cannot take the contract's rows fails the file, naming each column")
    func incompatibleTable() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql(
                """
                CREATE TABLE vendas (pedido BIGINT NOT NULL PRIMARY KEY, cliente VARCHAR(20) NOT NULL, valor INT NULL,
                quando DATETIME(6) NULL, obs MEDIUMTEXT NULL) ENGINE=InnoDB CHARACTER SET utf8mb4
                """)
            let pipeline = Self.pipeline(stack, routes: try RouteTable.parse(yaml: Self.contractRoutes))
            let source = try await Self.put(stack, "lojas/data/vendas-1.csv", "pedido,cliente,valor\n1,Ana,10.50\n")
            var failure: PipelineError?
            do { _ = try await Self.load(pipeline, source) } catch { failure = error as? PipelineError }
            let error = try #require(failure)
            #expect(error.code == .incompatibleTable)
            #expect(!error.isTransient)
            #expect(
                error.message.contains("column `cliente` is VARCHAR(20), the contract has VARCHAR(60): shorter"),
                "\(error)")
            #expect(
                error.message.contains("column `valor` is INT(11), the contract has DECIMAL(12,2): not DECIMAL"),
                "\(error)")
            #expect(try await stack.count("vendas") == 0)

            // Widened to fit, the same file loads.
            _ = try await stack.sql(
                "ALTER TABLE vendas MODIFY cliente VARCHAR(80) NOT NULL, MODIFY valor DECIMAL(14,2) NULL")
            #expect(try await Self.load(pipeline, source).rowsLoaded == 1)
        }
    }

    @Test("create_table without a contract: the header's columns as text, and the next file goes into that table")
    func createdFromTheHeader() async throws {
        try await TestStack.with { stack in
            let routes = try RouteTable(routes: [
                Route(
                    name: "raw", tenant: "acme", pattern: "raw*.csv", table: "acme_raw",
                    createTable: true)
            ])
            let pipeline = Self.pipeline(stack, routes: routes)
            #expect(
                try await Self.load(pipeline, try await Self.put(stack, "acme/data/raw-1.csv", "Código,Nome\n7,Ana\n"))
                    .rowsLoaded == 1)
            #expect(
                try await Self.load(pipeline, try await Self.put(stack, "acme/data/raw-2.csv", "codigo,nome\n8,Bia\n"))
                    .rowsLoaded == 1)
            let columns = try await stack.sql(
                """
                SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'acme_raw' ORDER BY ORDINAL_POSITION
                """)
            #expect(columns.rows == [["codigo", "mediumtext"], ["nome", "mediumtext"]])
            #expect(try await stack.sql("SELECT GROUP_CONCAT(nome ORDER BY codigo) FROM acme_raw").scalar == "Ana,Bia")
        }
    }

    @Test("the pool: a connection is reused, replaced when lost while idle, and closed after a failed load")
    func pool() async throws {
        try await TestStack.with { stack in
            _ = try await stack.sql("CREATE TABLE nums (v INT NOT NULL) ENGINE=InnoDB")
            let connections = PipelineConnectionPool(config: stack.mysql, maxIdle: 2)
            let pipeline = Self.pipeline(
                stack, routes: try RouteTable(routes: [Route(name: "n", tenant: "acme", table: "nums")]),
                connections: connections)
            func idleConnectionID() async throws -> UInt64 {
                let c = try await connections.pool.checkout()
                await connections.pool.checkin(c)
                return c.connectionID
            }
            #expect(
                try await Self.load(pipeline, try await Self.put(stack, "acme/data/1.csv", "v\n1\n")).rowsLoaded == 1)
            #expect(await connections.pool.idleCount == 1)
            let first = try await idleConnectionID()
            #expect(
                try await Self.load(pipeline, try await Self.put(stack, "acme/data/2.csv", "v\n2\n")).rowsLoaded == 1)
            #expect(try await idleConnectionID() == first, "the connection is reused between files")

            // Lost while idle (KILL, restart, failover, wait_timeout): the next file gets a new connection.
            _ = try await stack.sql("KILL CONNECTION \(first)")
            #expect(
                try await Self.load(pipeline, try await Self.put(stack, "acme/data/3.csv", "v\n3\n")).rowsLoaded == 1)
            let second = try await idleConnectionID()
            #expect(second != first)

            // A load that fails part-way: its connection is closed, never handed to the next file.
            let bad = try await Self.put(stack, "acme/data/4.csv", "v\n4\nfour\n")
            await #expect(throws: PipelineError.self) { _ = try await Self.load(pipeline, bad) }
            #expect(await connections.pool.idleCount == 0)
            #expect(
                try await stack.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = \(second)").scalar
                    == "0")
            #expect(
                try await Self.load(pipeline, try await Self.put(stack, "acme/data/5.csv", "v\n5\n")).rowsLoaded == 1)
            #expect(try await stack.sql("SELECT GROUP_CONCAT(v ORDER BY v) FROM nums").scalar == "1,2,3,5")
            await connections.close()
        }
    }

    @Test("a rotated password: the secret is fetched again on access denied and the next file loads")
    func secretRotation() async throws {
        try await TestStack.with { stack in
            // Changing a password needs an administrator: root over the local server's socket (make services-up).
            let root = try await MySQLConnection.connect(
                MySQLConfig(
                    user: "root", password: "",
                    unixSocket: try requireEnv("ESTEIRA_MYSQL_SOCKET")))
            let database = try #require(stack.mysql.database)
            let user = "rot_" + database.suffix(12)
            let host = stack.mysql.host
            try await root.execute("CREATE USER '\(user)'@'\(host)' IDENTIFIED BY 'first-password'")
            try await root.execute("GRANT ALL PRIVILEGES ON `\(database)`.* TO '\(user)'@'\(host)'")
            func secret(_ password: String) -> String {
                #"{"username":"\#(user)","password":"\#(password)","host":"\#(host)","port":\#(stack.mysql.port),"dbname":"\#(database)","engine":"mariadb"}"#
            }
            let secrets = SecretsManagerClient(client: stack.aws)
            let arn = try await secrets.createSecret(name: "esteira-test/\(database)", string: secret("first-password"))
            do {
                _ = try await stack.sql("CREATE TABLE nums (v INT NOT NULL) ENGINE=InnoDB")
                let connections = PipelineConnectionPool.secret(
                    arn, secretsManager: secrets, maxIdle: 2, logger: TestStack.quietLogger)
                let pipeline = Self.pipeline(
                    stack, routes: try RouteTable(routes: [Route(name: "n", tenant: "acme", table: "nums")]),
                    connections: connections)
                #expect(
                    try await Self.load(pipeline, try await Self.put(stack, "acme/data/1.csv", "v\n1\n")).rowsLoaded
                        == 1)

                // Rotation: the database first, then the secret (as a single-user rotation does).
                try await root.execute("ALTER USER '\(user)'@'\(host)' IDENTIFIED BY 'second-password'")
                try await secrets.putSecretValue(secretID: arn, string: secret("second-password"))
                // A connection opened before the rotation keeps working.
                #expect(
                    try await Self.load(pipeline, try await Self.put(stack, "acme/data/2.csv", "v\n2\n")).rowsLoaded
                        == 1)

                // Once it is gone, a new one is refused the cached password (1045): the secret is fetched
                // again and the connect retried.
                let ids = try await root.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '\(user)'")
                #expect(!ids.rows.isEmpty)
                for row in ids.rows { try await root.execute("KILL CONNECTION \(row[0] ?? "0")") }
                #expect(
                    try await Self.load(pipeline, try await Self.put(stack, "acme/data/3.csv", "v\n3\n")).rowsLoaded
                        == 1)
                #expect(try await stack.sql("SELECT GROUP_CONCAT(v ORDER BY v) FROM nums").scalar == "1,2,3")
                await connections.close()
            } catch {
                _ = try? await root.execute("DROP USER IF EXISTS '\(user)'@'\(host)'")
                await root.close()
                throw error
            }
            _ = try? await root.execute("DROP USER IF EXISTS '\(user)'@'\(host)'")
            await root.close()
        }
    }

    @Test("the worker logs the batched-INSERT fallback once, as a notice in its own log")
    func fallbackNoticeInTheLog() async throws {
        try await TestStack.with { stack in
            let url = try requireEnv("ESTEIRA_MYSQL_NOINFILE_URL")
            let database = try #require(stack.mysql.database)
            let admin = try await MySQLConnection.connect(try MySQLConfig(url: url))
            try await admin.execute("CREATE DATABASE `\(database)` CHARACTER SET utf8mb4")
            var config = try MySQLConfig(url: url)
            config.database = database
            let noInfile = try await MySQLConnection.connect(config)
            do {
                try await noInfile.execute(EndToEndTests.ordersTable)
                try await stack.s3.putObject(
                    bucket: stack.bucket, key: "acme/data/orders-1.csv", body: ordersCSV(from: 0, count: 4))
                try await stack.s3.putObject(
                    bucket: stack.bucket, key: "acme/data/orders-2.csv", body: ordersCSV(from: 10, count: 4))
                let worker = try WorkerProcess(
                    ["worker", "--until-idle", "--no-http", "--concurrency", "1"], stack: stack,
                    routes: try writeRoutes(),
                    extraEnv: ["ESTEIRA_MYSQL_URL": TestStack.replacingDatabase(in: url, with: database)])
                #expect(await worker.wait(timeout: 60) == 0, "\(worker.log.suffix(1500))")
                #expect(try await noInfile.query("SELECT COUNT(*) FROM orders").scalar == "8")
                let notices = worker.log.split(separator: "\n").filter { $0.contains("refuses LOAD DATA LOCAL INFILE") }
                #expect(notices.count == 1, "\(worker.log.suffix(1500))")
                #expect(notices.first?.contains(#""level":"notice""#) == true, "\(notices)")
            } catch {
                _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
                throw error
            }
            await noInfile.close()
            _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
            await admin.close()
        }
    }
}
