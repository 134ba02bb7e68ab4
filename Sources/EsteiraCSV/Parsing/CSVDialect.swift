/// How a file spells its records: which byte separates fields, which byte quotes them, how a quote is
/// written inside a quoted field, and what to do with a quote that shows up in the middle of a field.
///
/// A value type so that dialect sniffing can produce one and hand it to the parser unchanged.
/// All special bytes are ASCII: the parser works on UTF-8 (or any ASCII-compatible charset, which the
/// charset layer transcodes before parsing), where an ASCII byte never occurs inside a multi-byte
/// character, so a field or row may be split anywhere without confusing a delimiter.
public struct CSVDialect: Sendable, Hashable {
    /// What to do with a quote byte inside a field that did not start with a quote, as in `5'10"`.
    public enum BareQuotePolicy: Sendable, Hashable {
        /// RFC 4180 forbids it; the record is refused with `CSVIssue.bareQuote`. The safe default: a
        /// bare quote usually means the writer's quoting went wrong, and guessing may shift columns.
        case refuseRecord
        /// Keep the quote as an ordinary character (what Python's csv and most spreadsheets do).
        /// A quote still opens a quoted field when it is the first byte of a field, and text after a
        /// closing quote (`"a"b`) is still refused: there the writer did mean to quote.
        case keepAsText
    }

    /// Separates fields; `,` `;` tab `|` in practice.
    public var delimiter: UInt8
    /// Encloses a field that holds delimiters, quotes or line breaks; `nil` means the file has no quoting
    /// and a quote byte is an ordinary character.
    public var quote: UInt8?
    /// Makes the next byte literal, inside quoted fields and out (`\"`, `\,`, `\\`, or a backslash before a
    /// line break), as Python's csv reads it; C-style sequences such as `\t` or MySQL's `\N` are left to
    /// the layer above, which finds them in `CSVRecord.rawField(at:)`. `nil` means quotes are escaped
    /// only by doubling them. Doubling is accepted in either case, since a closing quote directly
    /// followed by a quote has no other valid reading.
    public var escape: UInt8?
    public var bareQuote: BareQuotePolicy
    /// A line that starts with this byte, where a record would start, is a comment and skipped (`#` lines
    /// exporters write above the header); nil: no comments. Inside a record it is an ordinary byte.
    public var comment: UInt8?
    /// Physical lines skipped at the start of the input, whatever they hold: a report's title and the
    /// blank line under it, above the header.
    public var skipRows: Int

    public init(
        delimiter: UInt8 = UInt8(ascii: ","),
        quote: UInt8? = UInt8(ascii: "\""),
        escape: UInt8? = nil,
        bareQuote: BareQuotePolicy = .refuseRecord,
        comment: UInt8? = nil,
        skipRows: Int = 0
    ) {
        self.delimiter = delimiter
        self.quote = quote
        // An escape equal to the quote is the doubling convention, which is always on.
        self.escape = escape == quote ? nil : escape
        self.bareQuote = bareQuote
        self.comment = comment
        self.skipRows = skipRows
    }

    /// Comma, double quote, quotes escaped by doubling: RFC 4180.
    public static let rfc4180 = CSVDialect()

    /// Why this dialect cannot be parsed, or `nil` when it can. For configuration code that builds a
    /// dialect from user input; `CSVParser.init` traps on an invalid dialect.
    public var invalidReason: String? {
        func name(_ byte: UInt8) -> String { "byte 0x" + String(byte, radix: 16) }
        if skipRows < 0 { return "skip_rows cannot be negative" }
        let roles: [(String, UInt8?)] = [
            ("delimiter", delimiter), ("quote", quote), ("escape", escape), ("comment", comment),
        ]
        var seen: [UInt8: String] = [:]
        for case (let role, let byte?) in roles {
            if byte >= 0x80 { return "the \(role) must be an ASCII byte, not \(name(byte))" }
            if byte == 0x0A || byte == 0x0D { return "the \(role) cannot be a line break" }
            if let other = seen[byte] { return "the \(role) and the \(other) are both \(name(byte))" }
            seen[byte] = role
        }
        return nil
    }
}
