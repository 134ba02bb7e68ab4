import Testing

@testable import EsteiraMySQL

/// Names that must never reach SQL.
let hostileIdentifiers = [
    "x`; DROP TABLE y; --",
    "orders; DROP TABLE y",
    "orders`",
    "`orders`",
    "a b",
    "a-b",
    "db.table",
    "",
    String(repeating: "a", count: 65),
    "naïve",
    "tab\u{0}le",
    "t'able",
    "t\"able",
    "t\\able",
    "t\nable",
    "\u{FF40}orders",  // full-width backquote
]

@Suite("SQL identifiers")
struct IdentifierTests {
    @Test(
        "valid names are backquoted",
        arguments: ["orders", "Orders_2024", "_x", "9lives", String(repeating: "a", count: 64)])
    func valid(name: String) throws {
        let id = try SQLIdentifier(name)
        #expect(id.quoted == "`\(name)`")
    }

    @Test("hostile names are refused", arguments: hostileIdentifiers)
    func hostile(name: String) {
        #expect(throws: MySQLError.self) { try SQLIdentifier(name) }
        do {
            _ = try SQLIdentifier(name)
        } catch {
            #expect(error.code == .invalidIdentifier)
            #expect(error.message.contains("invalid identifier"))
            #expect(error.isPermanent)
        }
    }
}
