/// A route's `dialect:` block as written in YAML; every key optional, the rest is sniffed.
///
/// ```yaml
/// dialect:
///   delimiter: ";"        # , ; | tab, or any ASCII character
///   quote: '"'            # '"', "'", or none
///   escape: none          # '\' or none (quotes are escaped by doubling either way)
///   header: true
///   bare_quotes: keep     # refuse (default) or keep: a quote inside an unquoted field is text
///   comment: "#"          # lines starting with it are skipped (sniffed when unambiguous), or none
///   skip_rows: 2          # physical lines above the header to skip (a report title; sniffed when unambiguous)
/// ```
public struct DialectSettings: Sendable, Hashable, Codable {
    public var delimiter: String?
    public var quote: String?
    public var escape: String?
    public var header: Bool?
    public var bareQuotes: String?
    public var comment: String?
    public var skipRows: Int?

    public init(
        delimiter: String? = nil, quote: String? = nil, escape: String? = nil, header: Bool? = nil,
        bareQuotes: String? = nil,
        comment: String? = nil, skipRows: Int? = nil
    ) {
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        self.header = header
        self.bareQuotes = bareQuotes
        self.comment = comment
        self.skipRows = skipRows
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case delimiter, quote, escape, header
        case bareQuotes = "bare_quotes"
        case comment
        case skipRows = "skip_rows"
    }

    public init(from decoder: any Decoder) throws {
        try MappingKeys.refuseUnknown(
            in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "dialect: ")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        delimiter = try c.decodeIfPresent(String.self, forKey: .delimiter)
        quote = try c.decodeIfPresent(String.self, forKey: .quote)
        escape = try c.decodeIfPresent(String.self, forKey: .escape)
        header = try c.decodeIfPresent(Bool.self, forKey: .header)
        bareQuotes = try c.decodeIfPresent(String.self, forKey: .bareQuotes)
        comment = try c.decodeIfPresent(String.self, forKey: .comment)
        skipRows = try c.decodeIfPresent(Int.self, forKey: .skipRows)
    }

    /// The overrides for the reader, or what is wrong with the block.
    public func overrides() throws(CSVContractError) -> DialectOverrides {
        func byte(_ text: String, _ role: String) throws(CSVContractError) -> UInt8 {
            switch text.lowercased() {
            case "tab", "\\t", "\t": return 0x09
            case "comma": return UInt8(ascii: ",")
            case "semicolon": return UInt8(ascii: ";")
            case "pipe": return UInt8(ascii: "|")
            default:
                guard text.utf8.count == 1, let b = text.utf8.first, b < 0x80, b != 0x0A, b != 0x0D else {
                    throw CSVContractError("dialect \(role) '\(text)' must be one ASCII character (or tab / none)")
                }
                return b
            }
        }
        func optionalByte(_ text: String?, _ role: String) throws(CSVContractError) -> UInt8?? {
            guard let text else { return nil }
            if text.lowercased() == "none" || text.isEmpty { return .some(nil) }
            return .some(try byte(text, role))
        }
        var o = DialectOverrides()
        if let delimiter { o.delimiter = try byte(delimiter, "delimiter") }
        o.quote = try optionalByte(quote, "quote")
        o.escape = try optionalByte(escape, "escape")
        o.header = header
        o.comment = try optionalByte(comment, "comment")
        if let skipRows {
            guard (0...100_000).contains(skipRows) else {
                throw CSVContractError("dialect skip_rows must be a number of lines from 0 to 100000, not \(skipRows)")
            }
            o.skipRows = skipRows
        }
        switch bareQuotes?.lowercased() {
        case nil: break
        case "refuse": o.bareQuote = .refuseRecord
        case "keep": o.bareQuote = .keepAsText
        default: throw CSVContractError("dialect bare_quotes must be refuse or keep, not '\(bareQuotes!)'")
        }
        let probe = CSVDialect(
            delimiter: o.delimiter ?? UInt8(ascii: ","), quote: o.quote ?? UInt8(ascii: "\""), escape: o.escape ?? nil,
            comment: o.comment ?? nil)
        if o.delimiter != nil || o.quote != nil || o.escape != nil || o.comment != nil, let reason = probe.invalidReason
        {
            throw CSVContractError("dialect: \(reason)")
        }
        return o
    }

    /// The settings that reproduce `dialect` and `header` exactly.
    public init(_ dialect: CSVDialect, header: Bool) {
        func text(_ b: UInt8?) -> String { b.map { $0 == 0x09 ? "tab" : String(UnicodeScalar($0)) } ?? "none" }
        self.init(
            delimiter: text(dialect.delimiter), quote: text(dialect.quote), escape: text(dialect.escape),
            header: header,
            bareQuotes: dialect.bareQuote == .keepAsText ? "keep" : nil, comment: dialect.comment.map { text($0) },
            skipRows: dialect.skipRows > 0 ? dialect.skipRows : nil)
    }
}
