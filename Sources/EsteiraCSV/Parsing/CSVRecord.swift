/// What the parser hands to its sink, in input order.
public enum CSVEvent {
    /// A complete, well-formed record. A borrowed view: valid only during the sink call.
    case record(CSVRecord)
    /// A refused record; an owned value that can be kept and written to the rejects file.
    case malformed(MalformedRecord)
}

/// A borrowed view of one record: its fields are byte ranges in the parser's buffers (or directly in
/// the caller's chunk), so reading a record allocates nothing. Valid only during the sink call that
/// received it; copy out what you keep (`string(at:)`, `bytes(at:)`).
///
/// A field's bytes are its content: outer quotes removed, doubled quotes and escapes resolved. The
/// parser does not check field counts against a header; `count` is there for the layer that does.
public struct CSVRecord: RandomAccessCollection {
    /// The physical line (1-based) where the record starts; a quoted line break advances it.
    public let line: Int
    /// The physical line where the record ends; larger than `line` when a field holds line breaks.
    public let endLine: Int
    /// The record exactly as it appears in the file, without its line break: what a rejects file
    /// should show when a later stage (typing, cleaning) refuses the row.
    public let raw: UnsafeRawBufferPointer

    // Inlinable, so that reading a field from another module is a few instructions, not a call.
    @usableFromInline let spans: UnsafePointer<FieldSpan>
    @usableFromInline let decoded: UnsafeRawPointer?
    @usableFromInline let decodedSpans: UnsafePointer<FieldSpan>

    init(
        line: Int, endLine: Int, raw: UnsafeRawBufferPointer, spans: UnsafePointer<FieldSpan>, count: Int,
        decoded: UnsafeRawPointer?, decodedSpans: UnsafePointer<FieldSpan>
    ) {
        self.line = line
        self.endLine = endLine
        self.raw = raw
        self.spans = spans
        self.endIndex = count
        self.decoded = decoded
        self.decodedSpans = decodedSpans
    }

    @inlinable public var startIndex: Int { 0 }
    public let endIndex: Int

    /// The content of field `index` (0-based).
    @inlinable
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < endIndex, "CSVRecord field index out of range")
        let span = spans[index]
        if span.isDecoded {
            let content = decodedSpans[index]
            return UnsafeRawBufferPointer(
                start: decoded.unsafelyUnwrapped + Int(content.start),
                count: Int(content.end &- content.start))
        }
        return UnsafeRawBufferPointer(
            start: raw.baseAddress.unsafelyUnwrapped + Int(span.start),
            count: Int(span.end &- span.start))
    }

    /// Field `index` and whether it was quoted, without the index check: for the cleaner, which has
    /// checked the record's field count once.
    @inline(__always)
    func uncheckedField(_ index: Int) -> (bytes: UnsafeRawBufferPointer, quoted: Bool) {
        let span = spans[index]
        if span.isDecoded {
            let content = decodedSpans[index]
            return (
                UnsafeRawBufferPointer(
                    start: decoded.unsafelyUnwrapped + Int(content.start),
                    count: Int(content.end &- content.start)), span.isQuoted
            )
        }
        return (
            UnsafeRawBufferPointer(
                start: raw.baseAddress.unsafelyUnwrapped + Int(span.start),
                count: Int(span.end &- span.start)), span.isQuoted
        )
    }

    /// Field `index` as written between its quotes, doubled quotes and escapes left in. For a layer
    /// that gives escape sequences a meaning the parser does not, such as `\N` for NULL in MySQL dumps
    /// (the parser reads an escape as "the next byte is literal", so `\N` is `N` in `self[index]`).
    public func rawField(at index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < endIndex, "CSVRecord field index out of range")
        let span = spans[index]
        return UnsafeRawBufferPointer(
            start: raw.baseAddress.unsafelyUnwrapped + Int(span.start),
            count: Int(span.end &- span.start))
    }

    /// Whether field `index` was enclosed in quotes. Lets a later stage tell `""` (an empty string)
    /// from an empty unquoted field (often meant as NULL).
    @inlinable
    public func isQuoted(_ index: Int) -> Bool {
        precondition(index >= 0 && index < endIndex, "CSVRecord field index out of range")
        return spans[index].isQuoted
    }

    /// Field `index` as a String; invalid UTF-8 is replaced with U+FFFD.
    @inlinable
    public func string(at index: Int) -> String {
        String(decoding: self[index], as: UTF8.self)
    }

    /// Field `index` copied into an array.
    public func bytes(at index: Int) -> [UInt8] {
        Array(self[index])
    }

    /// Every field as a String: convenient, but allocates per field.
    public var strings: [String] {
        map { String(decoding: $0, as: UTF8.self) }
    }
}

/// A record the parser refused, with everything a rejects file needs.
public struct MalformedRecord: Sendable, Hashable, CustomStringConvertible {
    /// The physical line (1-based) where the refused record starts.
    public var line: Int
    /// The physical line where it ends; far from `line` when an unbalanced quote swallowed lines,
    /// which is how a reader sees how much of the file went with it.
    public var endLine: Int
    /// The record's raw bytes without its line break, cut at `CSVLimits.maxRejectedRawBytes`.
    public var raw: [UInt8]
    /// The full raw length; larger than `raw.count` when `raw` was cut.
    public var rawByteCount: Int
    public var reason: CSVIssue

    public init(line: Int, endLine: Int, raw: [UInt8], rawByteCount: Int, reason: CSVIssue) {
        self.line = line
        self.endLine = endLine
        self.raw = raw
        self.rawByteCount = rawByteCount
        self.reason = reason
    }

    public var isRawTruncated: Bool { rawByteCount > raw.count }

    /// The raw bytes as text; invalid UTF-8 is replaced with U+FFFD.
    public var rawText: String { String(decoding: raw, as: UTF8.self) }

    public var description: String {
        let lines = endLine == line ? "line \(line)" : "lines \(line)-\(endLine)"
        return "\(lines): \(reason)"
    }
}

/// Why a record was refused. Field indexes are 0-based; the descriptions count fields from 1, as a
/// person reading the file would.
public enum CSVIssue: Sendable, Hashable, CustomStringConvertible {
    /// `4 MiB`, `64 KiB`, `1000 bytes`: a limit as a person reads it.
    static func bytes(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
    }

    /// For a record refused for its size: which limit, as in "line 1 is longer than the 4 MiB row limit".
    var limitText: String {
        switch self {
        case .fieldTooLarge(let field, let limit): "the \(Self.bytes(limit)) field limit (field \(field + 1))"
        case .recordTooLarge(let limit): "the \(Self.bytes(limit)) row limit"
        case .tooManyFields(let limit): "the \(limit)-field limit"
        default: "a limit"
        }
    }

    /// A quote inside a field that did not start with one (see `CSVDialect.BareQuotePolicy`).
    case bareQuote(field: Int)
    /// Something other than a delimiter or line break right after a closing quote, as in `"a"b`.
    case textAfterClosingQuote(field: Int)
    /// The input ended inside a quoted field.
    case unterminatedQuote(field: Int)
    /// The input ended right after an escape byte.
    case danglingEscape(field: Int)
    case fieldTooLarge(field: Int, limit: Int)
    case recordTooLarge(limit: Int)
    case tooManyFields(limit: Int)
    /// A byte the charset layer could not decode (shown as U+FFFD in the raw text).
    case invalidEncoding(field: Int, byte: UInt8, charset: String)

    public var description: String {
        switch self {
        case .bareQuote(let field): "quote inside unquoted field \(field + 1)"
        case .textAfterClosingQuote(let field): "text after the closing quote of field \(field + 1)"
        case .unterminatedQuote(let field): "input ends inside quoted field \(field + 1)"
        case .danglingEscape(let field): "input ends with an escape in field \(field + 1)"
        case .fieldTooLarge(let field, let limit):
            "field \(field + 1) is longer than the \(Self.bytes(limit)) field limit"
        case .recordTooLarge(let limit): "the row is longer than the \(Self.bytes(limit)) row limit"
        case .tooManyFields(let limit): "record has more than \(limit) fields"
        case .invalidEncoding(let field, let byte, let charset):
            "byte 0x\(String(byte, radix: 16, uppercase: true)) in field \(field + 1) is not valid \(charset)"
                + (charset == "utf-8"
                    ? "; if the file is an Excel/Windows export, set `encoding: windows-1252` on its route" : "")
        }
    }
}

/// Where one field lies: offsets into the record's raw bytes (outer quotes excluded), or, for the
/// decoded copy of a field whose quotes or escapes had to be resolved, into the decoded buffer.
@usableFromInline
struct FieldSpan {
    @usableFromInline var start: UInt32
    @usableFromInline var end: UInt32
    @usableFromInline var flags: UInt8

    init(start: UInt32, end: UInt32, flags: UInt8) {
        self.start = start
        self.end = end
        self.flags = flags
    }

    @usableFromInline static let quoted: UInt8 = 1
    /// Holds doubled quotes or escapes: the content differs from the raw bytes.
    static let needsDecoding: UInt8 = 2
    /// The content is in the decoded buffer, at the same index in the decoded spans.
    @usableFromInline static let decoded: UInt8 = 4

    @inlinable var isQuoted: Bool { flags & Self.quoted != 0 }
    @inlinable var isDecoded: Bool { flags & Self.decoded != 0 }
}
