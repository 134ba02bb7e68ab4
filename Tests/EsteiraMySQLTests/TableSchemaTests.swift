import Foundation
import Testing

@testable import EsteiraMySQL

@Suite("TableSchema: create when absent, check when present")
struct TableSchemaTests {
    static let orders = TableSchema(
        name: "orders",
        columns: [
            .init("order_no", .varchar(32), nullable: false),
            .init("amount", .decimal(precision: 12, scale: 2)),
            .init("placed_at", .datetime(fractionalDigits: 3), nullable: false),
            .init("qty", .int),
            .init("note", .text),
            .init("loaded_by", .unsignedBigint),
        ],
        primaryKey: ["order_no"],
        indexes: [["loaded_by"]])

    @Test func createStatementQuotesEverythingAndIsInnoDB() throws {
        let sql = try Self.orders.createStatement()
        #expect(sql.hasPrefix("CREATE TABLE IF NOT EXISTS `orders` ("))
        #expect(sql.contains("`order_no` VARCHAR(32) NOT NULL"))
        #expect(sql.contains("`amount` DECIMAL(12,2) NULL"))
        #expect(sql.contains("`placed_at` DATETIME(3) NOT NULL"))
        #expect(sql.contains("PRIMARY KEY (`order_no`)"))
        #expect(sql.contains("KEY `ix_1` (`loaded_by`)"))
        #expect(sql.hasSuffix("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"))
    }

    @Test(arguments: hostileIdentifiers)
    func hostileNamesAreRefusedBeforeAnySQL(name: String) async throws {
        let schemas = [
            TableSchema(name: name, columns: [.init("a", .int)]),
            TableSchema(name: "t", columns: [.init(name, .int)]),
            TableSchema(name: "t", columns: [.init("a", .int, nullable: false)], primaryKey: [name]),
        ]
        for schema in schemas {
            #expect(throws: MySQLError.self) { try schema.createStatement() }
        }
    }

    @Test func badSchemasAreRefused() {
        let bad = [
            TableSchema(name: "t", columns: []),
            TableSchema(name: "t", columns: [.init("a", .int), .init("A", .int)]),
            TableSchema(name: "t", columns: [.init("a", .int)], primaryKey: ["b"]),
            TableSchema(name: "t", columns: [.init("a", .int, nullable: true)], primaryKey: ["a"]),
            TableSchema(name: "t", columns: [.init("a", .decimal(precision: 5, scale: 6))]),
            TableSchema(name: "t", columns: [.init("a", .varchar(0))]),
        ]
        for schema in bad {
            #expect(throws: MySQLError.self, "\(schema)") { try schema.createStatement() }
        }
    }

    @Test(.tags(.mysql)) func createsAnAbsentTableOnlyWhenAskedAndThenFindsItCompatible() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            await #expect {
                try await connection.prepareTable(Self.orders, createIfMissing: false)
            } throws: { error in
                let error = try #require(error as? MySQLError)
                return error.code == .noSuchTable && error.message.contains("create-table")
            }
            #expect(try await connection.prepareTable(Self.orders, createIfMissing: true) == .created)
            #expect(try await connection.prepareTable(Self.orders, createIfMissing: true) == .compatible)
            // The created table takes a load in every mode the key allows.
            let load = try await connection.beginFileLoad(
                table: "orders", columns: ["order_no", "amount", "placed_at", "note"],
                ledger: LedgerRecord(bucket: "b", key: "k", version: "1", fencingToken: 1), mode: .upsert)
            try await load.append([["A-1", "1.50", "2024-01-02 03:04:05.678", "ação"]])
            #expect(try await load.commit() == .loaded(rows: 1))
            await connection.close()
        }
    }

    @Test(.tags(.mysql)) func aWiderTableIsCompatible() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(
                """
                CREATE TABLE orders (
                  id BIGINT NOT NULL AUTO_INCREMENT, order_no VARCHAR(64) NOT NULL, amount DECIMAL(14,4) NULL,
                  placed_at DATETIME(6) NOT NULL, qty BIGINT NULL, note LONGTEXT NULL, loaded_by BIGINT UNSIGNED NULL,
                  extra VARCHAR(5) NOT NULL DEFAULT 'x', PRIMARY KEY (order_no), UNIQUE KEY (id)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
                """)
            #expect(try await connection.prepareTable(Self.orders, createIfMissing: false) == .compatible)
            await connection.close()
        }
    }

    @Test(.tags(.mysql)) func anIncompatibleTableFailsWithEveryDifference() async throws {
        try await withTestDatabase { config in
            let connection = try await MySQLConnection.connect(config)
            try await connection.execute(
                """
                CREATE TABLE orders (
                  id INT NOT NULL PRIMARY KEY, order_no VARCHAR(16) NOT NULL, amount DECIMAL(12,1) NULL,
                  placed_at DATE NOT NULL, qty INT UNSIGNED NOT NULL, note TEXT CHARACTER SET latin1 NULL,
                  mandatory INT NOT NULL
                ) ENGINE=InnoDB
                """)
            var failure: MySQLError?
            do {
                try await connection.prepareTable(Self.orders, createIfMissing: true)
            } catch let error as MySQLError {
                failure = error
            }
            let error = try #require(failure)
            #expect(error.code == .incompatibleTable)
            #expect(error.isPermanent)
            for expected in [
                "column `order_no` is VARCHAR(16), the contract has VARCHAR(32): shorter",
                "column `amount` is DECIMAL(12,1), the contract has DECIMAL(12,2): fewer decimal places",
                "column `placed_at` is DATE, the contract has DATETIME(3): not DATETIME or TIMESTAMP",
                "column `qty` is INT(10) UNSIGNED, the contract has INT: unsigned, so negative values do not fit",
                "column `qty` is NOT NULL, but the contract allows empty values (NULL)",
                "column `note` is TEXT, the contract has MEDIUMTEXT: smaller than MEDIUMTEXT",
                "column `loaded_by` is missing (the contract has BIGINT UNSIGNED NULL)",
                "column `mandatory` is NOT NULL without a default and not in the contract",
                "the primary key is (id), the contract's is (order_no)",
            ] {
                #expect(error.message.contains(expected), "missing «\(expected)» in: \(error.message)")
            }
            await connection.close()
        }
    }

    @Test func typeRules() {
        func info(_ dataType: String, _ columnType: String, charset: String? = nil) -> TableColumnInfo {
            TableColumnInfo(
                name: "c", dataType: dataType, columnType: columnType, isNullable: true, charset: charset,
                collation: nil, defaultValue: nil, extra: "", ordinal: 1)
        }
        #expect(TableCheck.typeProblem(.int, info("bigint", "bigint(20)")) == nil)
        #expect(TableCheck.typeProblem(.bigint, info("int", "int(11)")) != nil)
        #expect(TableCheck.typeProblem(.unsignedInt, info("bigint", "bigint(20)")) == nil)
        #expect(TableCheck.typeProblem(.unsignedInt, info("int", "int(11)")) != nil)
        #expect(TableCheck.typeProblem(.varchar(100), info("text", "text", charset: "utf8mb4")) == nil)
        #expect(TableCheck.typeProblem(.varchar(20000), info("text", "text", charset: "utf8mb4")) != nil)
        #expect(TableCheck.typeProblem(.varchar(10), info("varchar", "varchar(10)", charset: "latin1")) != nil)
        #expect(TableCheck.typeProblem(.decimal(precision: 10, scale: 2), info("decimal", "decimal(11,3)")) == nil)
        #expect(TableCheck.typeProblem(.decimal(precision: 10, scale: 2), info("decimal", "decimal(10,3)")) != nil)
        #expect(TableCheck.typeProblem(.json, info("longtext", "longtext", charset: "utf8mb4")) == nil)
        #expect(TableCheck.typeProblem(.boolean, info("tinyint", "tinyint(1)")) == nil)
    }
}
