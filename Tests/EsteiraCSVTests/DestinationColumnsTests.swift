import EsteiraCSV
import Testing

/// The file and the table disagree: the reader names the column and the table's columns at the header,
/// before a row is sent, and says how to fix it.
@Suite("file columns against the table")
struct DestinationColumnsTests {
    static let acme = DestinationColumns(
        table: "acme_orders", columns: ["order_id", "customer", "amount", "ordered_at", "notes"])
    static let csv = "order_id,customer,amount,order_date\n1,Ana,10.50,2026-11-01\n"

    @Test("a header column the table lacks refuses the file as BadHeader, in words")
    func missingColumn() throws {
        var options = CSVReadOptions()
        options.destination = Self.acme
        do {
            _ = try read(Self.csv, options)
            Issue.record("read a file whose column the table lacks")
        } catch let e as CSVReadError {
            #expect(e.code == .badHeader)
            #expect(
                e.message
                    == "the file's column 'order_date' is not in table acme_orders (its columns: order_id, customer, amount, ordered_at, notes): add it to the table, map it with `source:` in the contract, or set `extra_columns: ignore`. columns compared with table acme_orders: added (in the file, not the table) 'order_date'; missing (in the table, not the file) 'ordered_at', 'notes'"
            )
        }
    }

    @Test("`extra_columns: ignore` loads the columns the table has and leaves the rest out")
    func ignored() throws {
        var options = CSVReadOptions()
        options.destination = Self.acme
        options.extraColumns = .ignore
        let result = try read(Self.csv, options)
        #expect(result.columns == ["order_id", "customer", "amount"])
        #expect(result.rows == [["1", "Ana", "10.50"]])
    }

    @Test("a headerless file's positional names are checked too, and ignore keeps the right fields")
    func headerless() throws {
        var options = CSVReadOptions()
        options.dialect.header = false
        options.destination = DestinationColumns(table: "t", columns: ["column_1", "column_3"])
        do {
            _ = try read("a,b,c\nd,e,f\n", options)
            Issue.record("read a headerless file into a table without column_2")
        } catch let e as CSVReadError {
            #expect(e.code == .badHeader)
            #expect(e.message.contains("its column 'column_2' is not in table t"), "\(e.message)")
        }
        options.extraColumns = .ignore
        let result = try read("a,b,c\nd,e,f\n", options)
        #expect(result.columns == ["column_1", "column_3"])
        #expect(result.rows == [["a", "c"], ["d", "f"]])
    }

    @Test("column names match the table's whatever their case")
    func caseInsensitive() throws {
        var options = CSVReadOptions()
        options.destination = DestinationColumns(table: "t", columns: ["Order_ID", "CUSTOMER"])
        #expect(try read("order_id,customer\n1,a\n", options).rows == [["1", "a"]])
    }

    @Test("a contract column the table lacks is named too")
    func contractColumn() throws {
        var options = CSVReadOptions()
        options.destination = Self.acme
        options.contract = CSVContract(columns: [
            ColumnContract(name: "order_id", type: "bigint"), ColumnContract(name: "order_date", type: "date"),
        ])
        do {
            _ = try read(
                Self.csv.replacingOccurrences(of: "customer,amount,", with: "").replacingOccurrences(
                    of: "Ana,10.50,", with: ""), options)
            Issue.record("read a file whose contract column the table lacks")
        } catch let e as CSVReadError {
            #expect(e.code == .badHeader)
            #expect(
                e.message.hasPrefix("the contract's column 'order_date' is not in table acme_orders"), "\(e.message)")
        }
    }
}

@Suite("table names from file names")
struct ProposedTableNameTests {
    @Test(
        "dates, numbers, folders and extensions go; the rest becomes an identifier",
        arguments: [
            ("orders-2026-11-01.csv", "orders"),
            ("orders-2026-11-01.csv.gz", "orders"),
            ("/tmp/x/Relatório Vendas 2026-11.CSV", "relatorio_vendas"),
            ("acme/data/20261101_pedidos_v2.txt", "pedidos_v2"),
            ("customers.csv", "customers"),
            ("2026-11-01.csv", "imported"),
            ("заказы.csv", "imported"),
            (".csv", "imported"),
            (String(repeating: "a", count: 100) + ".csv", String(repeating: "a", count: 64)),
        ])
    func names(_ file: String, _ table: String) {
        #expect(SchemaInference.proposedTableName(forFile: file) == table)
    }
}
