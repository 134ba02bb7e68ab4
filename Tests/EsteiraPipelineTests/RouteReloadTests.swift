import Testing

@testable import EsteiraPipeline

@Suite("reload and unload need the rows to say which load wrote them")
struct RouteReloadTests {
    @Test(
        "a replace-by-file route can reload; any other says exactly what to add",
        arguments: [
            (nil as String?, nil as String?, false),
            ("upsert", nil, false),
            ("replace-by-file", "loaded_by", true),
        ])
    func refusal(loadMode: String?, sourceColumn: String?, allowed: Bool) {
        let route = Route(
            name: "acme-orders", tenant: "acme", table: "acme_orders", loadMode: loadMode, sourceColumn: sourceColumn)
        #expect((route.reloadRefusal == nil) == allowed)
        #expect(route.reloadSourceColumn == sourceColumn)
        if let refusal = route.reloadRefusal {
            #expect(refusal.contains("route 'acme-orders' cannot reload or unload a file"))
            #expect(refusal.contains("    load_mode: replace-by-file\n    source_column: esteira_ledger_id\n"))
            #expect(
                refusal.contains(
                    "ALTER TABLE `acme_orders` ADD COLUMN `esteira_ledger_id` BIGINT UNSIGNED NULL, ADD KEY (`esteira_ledger_id`);"
                ))
            #expect(refusal.contains("instead of load_mode: upsert") == (loadMode == "upsert"))
        }
    }
}
