/// A table or column name that is safe to put in SQL: ASCII letters, digits and underscores, 1–64
/// characters (MySQL's identifier limit). Anything else is refused before any SQL is sent, rather than
/// escaped: destination names come from route files and CSV headers, and a name that needs quoting rules
/// is a mistake worth surfacing.
public struct SQLIdentifier: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) throws(MySQLError) {
        guard Self.isValid(name) else {
            throw MySQLError(
                code: .invalidIdentifier,
                message: "invalid identifier \(Self.shown(name)): use 1–64 ASCII letters, digits or underscores",
                operation: "validate identifier")
        }
        self.name = name
    }

    /// The name in backquotes, ready for SQL.
    public var quoted: String { "`\(name)`" }

    public var description: String { name }

    public static func isValid(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 64 else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_")
        }
    }

    /// The rejected name for an error message: Swift-escaped so control characters stay visible, and cut
    /// short so a pasted CSV line does not flood the log.
    static func shown(_ name: String) -> String {
        let limit = 80
        let head = name.count > limit ? String(name.prefix(limit)) + "…" : name
        return head.debugDescription
    }
}
