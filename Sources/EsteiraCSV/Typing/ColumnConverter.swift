#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One column's conversion from field bytes to the canonical text MySQL parses, compiled once per file
/// from the contract so the per-field work is byte comparisons and arithmetic. A class so the per-field
/// call passes one reference instead of copying (and retaining) every array inside.
///
/// Two entry points: `fast.convert` (`FastConversion`) settles the values that make up nearly every real file (plain
/// digits, canonical decimals and dates, ISO datetimes, short tokens compared as one word) and answers
/// `.slow` for anything else, having written nothing; `convert` handles every value and says why one is
/// refused. The fast path only ever accepts what `convert` would accept, with the same bytes out
/// (ColumnConverterFastPathTests checks this on tables of values).
///
/// `@unchecked Sendable`: the packed token words are raw memory written once in `init`, then only read.
final class ColumnConverter: @unchecked Sendable {
    enum Outcome {
        /// The canonical value was appended to the output buffer.
        case value
        case null
        /// Why the value does not fit, for the rejects file.
        case invalid(String)
    }

    /// `type` without payloads, so the per-field switch compares a byte instead of matching an enum
    /// that carries arrays.
    enum Kind: UInt8 { case int, bigint, decimal, double, boolean, date, datetime, text, enumeration }

    let name: String
    let type: ColumnType
    let kind: Kind
    let precision: Int
    let scale: Int
    let maxLength: Int?
    let isText: Bool
    let required: Bool
    let trim: Bool
    /// Non-empty null tokens (empty fields are handled before these are compared).
    let nullTokens: [[UInt8]]
    /// Whether `""` is among the null tokens: an unquoted empty text field is then NULL, not empty.
    let emptyIsNull: Bool
    let longestNullToken: Int
    let number: NumberFormat
    let dateFormats: ContiguousArray<DateFormat>
    let defaultOffset: Int
    /// Fraction digits a datetime column keeps (`datetime(3)`), 6 unless the contract says fewer.
    let fractionDigits: Int
    let trueTokens: [[UInt8]]
    let falseTokens: [[UInt8]]
    /// Case-folded spelling → the value as listed in the contract.
    let enumValues: [([UInt8], String)]
    /// The listed values' bytes, same order, for the exact-match fast path.
    let enumSpellings: [[UInt8]]

    /// What the fast path needs, in a plain struct the cleaner keeps in a table of its own.
    let fast: FastConversion

    init(
        name: String, type: ColumnType, required: Bool, trim: Bool, nullTokens: [String], number: NumberFormat,
        dateFormats: [DateFormat], defaultOffset: Int, trueValues: [String], falseValues: [String],
        fractionDigits: Int = 6
    ) {
        self.name = name
        self.type = type
        switch type {
        case .int: kind = .int
        case .bigint: kind = .bigint
        case .decimal: kind = .decimal
        case .double: kind = .double
        case .boolean: kind = .boolean
        case .date: kind = .date
        case .datetime: kind = .datetime
        case .text: kind = .text
        case .enumeration: kind = .enumeration
        }
        if case .decimal(let p, let s) = type { (precision, scale) = (p, s) } else { (precision, scale) = (0, 0) }
        if case .text(let max) = type { maxLength = max } else { maxLength = nil }
        isText = kind == .text || kind == .enumeration
        self.required = required
        self.trim = trim
        self.nullTokens = nullTokens.filter { !$0.isEmpty }.map { Array($0.utf8) }
        emptyIsNull = nullTokens.contains("")
        longestNullToken = self.nullTokens.map(\.count).max() ?? 0
        self.number = number
        self.dateFormats = ContiguousArray(dateFormats)
        self.defaultOffset = defaultOffset
        self.fractionDigits = fractionDigits
        trueTokens = trueValues.map { Self.fold(Array($0.utf8)) }
        falseTokens = falseValues.map { Self.fold(Array($0.utf8)) }
        if case .enumeration(let values) = type {
            enumValues = values.map { (Self.fold(Array($0.utf8)), $0) }
            enumSpellings = values.map { Array($0.utf8) }
        } else {
            enumValues = []
            enumSpellings = []
        }
        let booleans = trueTokens.map { ($0, UInt8(ascii: "1")) } + falseTokens.map { ($0, UInt8(ascii: "0")) }
        fast = FastConversion(
            kind: kind, trim: trim, isText: isText, emptyIsNull: emptyIsNull, required: required,
            longestNullToken: longestNullToken, precision: precision, scale: scale,
            pointIsDecimalSeparator: number.decimalSeparator == UInt8(ascii: "."), maxLength: maxLength ?? Int.max,
            defaultOffset: defaultOffset,
            firstFormatIsCanonicalDate: dateFormats.first?.fixedLayout == 0,
            firstFormatIsISO: dateFormats.first?.isISO ?? false,
            packedNulls: PackedTokens(self.nullTokens.map { ($0, 0) }),
            packedBooleans: PackedTokens(booleans.filter { token, _ in token.allSatisfy { $0 < 0x80 } }),
            packedEnum: PackedTokens(enumSpellings.map { ($0, 0) }))
    }

    deinit {
        fast.packedNulls.deallocate()
        fast.packedBooleans.deallocate()
        fast.packedEnum.deallocate()
    }

    @inline(__always)
    func convert(_ raw: UnsafeRawBufferPointer, quoted: Bool, into out: inout RowBytes) -> Outcome {
        let field = trim ? Self.trimmed(raw) : raw
        if field.isEmpty {
            // `""` in a text column is an empty string; an empty field is otherwise a missing value.
            return isText && (quoted || !emptyIsNull) ? .value : .null
        }
        if field.count <= longestNullToken {
            for token in nullTokens
            where token.count == field.count && token[0] == field[0]
                && token.withUnsafeBytes({ memcmp($0.baseAddress!, field.baseAddress!, field.count) == 0 })
            {
                return .null
            }
        }
        switch kind {
        case .int, .bigint:
            // Up to 9 plain digits fit either type: no need to compute the number.
            if field.count <= 9 && Self.isPlainInteger(field) {
                out.append(field)
                return .value
            }
            let (min, max): (Int64, Int64) =
                kind == .int ? (Int64(Int32.min), Int64(Int32.max)) : (Int64.min, Int64.max)
            guard let value = NumberParsing.integer(field, format: number, min: min, max: max) else {
                return .invalid(
                    "\(Self.shown(field)) is not \(kind == .int ? "an int" : "a bigint")\(NumberParsing.scanDecimal(field, format: number, allowExponent: false) != nil ? " (out of range or has decimals)" : "")"
                )
            }
            // Plain digits are already canonical: keep the text instead of printing the number again.
            if Self.isPlainInteger(field) { out.append(field) } else { out.append(decimal: value) }
            return .value
        case .decimal:
            if number.decimalSeparator == UInt8(ascii: "."),
                Self.isPlainDecimal(field, precision: precision, scale: scale)
            {
                out.append(field)
                return .value
            }
            switch NumberParsing.canonicalDecimal(field, format: number, precision: precision, scale: scale, into: &out)
            {
            case nil: return .value
            case .notANumber:
                return .invalid(
                    "\(Self.shown(field)) is not a number with '\(Character(Unicode.Scalar(number.decimalSeparator)))' as decimal separator"
                )
            case .tooManyDecimals(let s):
                return .invalid("\(Self.shown(field)) has more than \(s) decimal places; it would have to be rounded")
            case .tooLarge(let digits):
                return .invalid(
                    "\(Self.shown(field)) has more than \(digits) digits before the decimal separator (decimal(\(precision),\(scale)))"
                )
            }
        case .double:
            guard let text = NumberParsing.canonicalDouble(field, format: number) else {
                return .invalid("\(Self.shown(field)) is not a number")
            }
            out.append(text)
            return .value
        case .boolean:
            for token in trueTokens where Self.foldedEquals(field, token) {
                out.append(byte: UInt8(ascii: "1"))
                return .value
            }
            for token in falseTokens where Self.foldedEquals(field, token) {
                out.append(byte: UInt8(ascii: "0"))
                return .value
            }
            return .invalid(
                "\(Self.shown(field)) is not a boolean (true: \(trueTokens.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")); false: \(falseTokens.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")))"
            )
        case .date, .datetime:
            let parsed: DateTimeValue? = dateFormats.withUnsafeBufferPointer { formats in
                for k in 0..<formats.count { if let v = formats[k].parse(field) { return v } }
                return nil
            }
            guard let parsed else {
                // The value may have a format's shape and a value MySQL cannot hold: say which.
                for format in dateFormats {
                    if let problem = format.scan(field)?.problem { return .invalid("\(Self.shown(field)) \(problem)") }
                }
                return .invalid(
                    "\(Self.shown(field)) is not a \(type) in \(dateFormats.map(\.pattern).joined(separator: " or "))")
            }
            if kind == .date {
                // Already yyyy-MM-dd: the text is the canonical value.
                if field.count == 10 && field[4] == 0x2D && field[7] == 0x2D {
                    out.append(field)
                } else {
                    parsed.writeDate(into: &out)
                }
                return .value
            }
            if fractionDigits < 6 && parsed.microsecond % Self.microsecondUnits[fractionDigits] != 0 {
                return .invalid(
                    "\(Self.shown(field)) has \(parsed.fractionDigits) fractional-second digits and the column is datetime(\(fractionDigits)); the rest are not zeros, so it would have to be rounded"
                )
            }
            let utc = parsed.utc(defaultOffset: defaultOffset)
            guard utc.year >= 1 && utc.year <= 9999 else {
                return .invalid("\(Self.shown(field)) falls outside 0001-01-01…9999-12-31 in UTC, where it is stored")
            }
            utc.writeDateTime(into: &out)
            return .value
        case .text:
            if let maxLength, field.count > maxLength {
                // Bytes over the limit may still be few enough characters: count scalars.
                let characters = field.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
                if characters > maxLength {
                    return .invalid("the value has \(characters) characters; at most \(maxLength) fit")
                }
            }
            out.append(field)
            return .value
        case .enumeration:
            // Exact spelling first (the usual case), then any case.
            for k in 0..<enumSpellings.count
            where enumSpellings[k].count == field.count && enumSpellings[k][0] == field[0]
                && enumSpellings[k].withUnsafeBytes({ memcmp($0.baseAddress!, field.baseAddress!, field.count) == 0 })
            {
                out.append(field)
                return .value
            }
            for k in 0..<enumValues.count where Self.foldedEquals(field, enumValues[k].0) {
                out.append(enumSpellings[k])
                return .value
            }
            return .invalid(
                "\(Self.shown(field)) is not one of \(enumValues.prefix(20).map(\.1).joined(separator: ", "))")
        }
    }

    /// Microseconds per unit of the last fraction digit kept, by digits kept (0...5).
    static let microsecondUnits = [1_000_000, 100_000, 10_000, 1000, 100, 10]

    /// `-?[1-9][0-9]*` or `0`, short enough to fit: already what MySQL reads.
    @inline(__always)
    static func isPlainInteger(_ field: UnsafeRawBufferPointer) -> Bool {
        let start = field[0] == UInt8(ascii: "-") ? 1 : 0
        guard field.count > start, field.count <= 18 else { return false }
        if field[start] == UInt8(ascii: "0") && field.count > start + 1 { return false }
        for i in start..<field.count where field[i] &- 0x30 > 9 { return false }
        return true
    }

    /// `-?digits[.digits]` within DECIMAL(precision, scale), no leading zeros to strip: kept as written.
    @inline(__always)
    static func isPlainDecimal(_ field: UnsafeRawBufferPointer, precision: Int, scale: Int) -> Bool {
        let start = field[0] == UInt8(ascii: "-") ? 1 : 0
        var i = start
        while i < field.count && field[i] &- 0x30 <= 9 { i += 1 }
        let integerDigits = i - start
        guard integerDigits >= 1, integerDigits <= precision - scale else { return false }
        if field[start] == UInt8(ascii: "0") && integerDigits > 1 { return false }
        guard i < field.count else { return true }
        guard field[i] == UInt8(ascii: "."), field.count - i - 1 >= 1, field.count - i - 1 <= scale else {
            return false
        }
        i += 1
        while i < field.count {
            if field[i] &- 0x30 > 9 { return false }
            i += 1
        }
        return true
    }

    /// Without spaces, tabs and no-break spaces (U+00A0, which spreadsheets love) at either end.
    @inline(__always)
    static func trimmed(_ field: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = field.count
        guard end > 0, field[0] <= 0x20 || field[0] == 0xC2 || field[end - 1] <= 0x20 || field[end - 1] == 0xA0 else {
            return field
        }
        while start < end {
            let b = field[start]
            if b == 0x20 || b == 0x09 {
                start += 1
            } else if b == 0xC2 && start + 1 < end && field[start + 1] == 0xA0 {
                start += 2
            } else {
                break
            }
        }
        while end > start {
            let b = field[end - 1]
            if b == 0x20 || b == 0x09 {
                end -= 1
            } else if b == 0xA0 && end - 2 >= start && field[end - 2] == 0xC2 {
                end -= 2
            } else {
                break
            }
        }
        return UnsafeRawBufferPointer(rebasing: field[start..<end])
    }

    /// Lower case for ASCII and for Latin-1 letters in UTF-8 (`NÃO` → `não`), enough to compare the
    /// boolean and enum spellings partners use.
    static func fold<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var afterC3 = false
        for b in bytes {
            if b >= 0x41 && b <= 0x5A {
                out.append(b + 0x20)
            } else if afterC3 && b >= 0x80 && b <= 0x9E && b != 0x97 {
                out.append(b + 0x20)
            } else {
                out.append(b)
            }
            afterC3 = b == 0xC3
        }
        return out
    }

    /// Whether `field`, case-folded as `fold` does, equals `token` (already folded); allocates nothing.
    @inline(__always)
    static func foldedEquals(_ field: UnsafeRawBufferPointer, _ token: [UInt8]) -> Bool {
        guard field.count == token.count else { return false }
        var afterC3 = false
        for i in 0..<field.count {
            var b = field[i]
            if b >= 0x41 && b <= 0x5A { b += 0x20 } else if afterC3 && b >= 0x80 && b <= 0x9E && b != 0x97 { b += 0x20 }
            if b != token[i] { return false }
            afterC3 = field[i] == 0xC3
        }
        return true
    }

    /// A value quoted for a message, cut to keep rejects files readable.
    static func shown(_ field: UnsafeRawBufferPointer) -> String {
        let text = String(decoding: field.prefix(60), as: UTF8.self)
        return "'" + text + (field.count > 60 ? "…" : "") + "'"
    }
}

/// A contract checked and compiled: converters per column, parsed formats and separators.
struct CompiledContract: Sendable {
    let contract: CSVContract
    let converters: [ColumnConverter]
    let keyIndexes: [Int]

    init(_ contract: CSVContract) throws(CSVContractError) {
        self.contract = contract
        guard !contract.columns.isEmpty else { throw CSVContractError("the contract has no columns") }
        let defaultOffset = try Self.offset(contract.timezone)
        let dateFormats = try contract.dateFormats.map { (f) throws(CSVContractError) in try DateFormat(f) }
        let datetimeFormats = try contract.datetimeFormats.map { (f) throws(CSVContractError) in try DateFormat(f) }
        var converters: [ColumnConverter] = []
        var names = Set<String>()
        for column in contract.columns {
            let id = HeaderNormalizer.identifier(column.name, position: converters.count)
            guard id == column.name else {
                throw CSVContractError(
                    "column name '\(column.name)' is not a plain identifier; write it as '\(id)' (lower case letters, digits, '_')"
                )
            }
            guard names.insert(id).inserted else {
                throw CSVContractError("column '\(id)' is listed twice in the contract")
            }
            let type = try ColumnType(parsing: column.type, values: column.values, maxLength: column.maxLength)
            let number = try Self.numberFormat(
                decimal: column.decimalSeparator ?? contract.decimalSeparator,
                thousands: column.thousandsSeparator ?? contract.thousandsSeparator, column: id)
            var formats = type == .datetime ? datetimeFormats : dateFormats
            if let own = column.formats { formats = try own.map { (f) throws(CSVContractError) in try DateFormat(f) } }
            converters.append(
                ColumnConverter(
                    name: id, type: type, required: column.required, trim: column.trim ?? contract.trim,
                    nullTokens: column.nullTokens ?? contract.nullTokens, number: number, dateFormats: formats,
                    defaultOffset: defaultOffset, trueValues: contract.trueValues, falseValues: contract.falseValues,
                    fractionDigits: try ColumnType.fractionalDigits(in: column.type)))
        }
        var keyIndexes: [Int] = []
        for key in contract.key {
            guard let index = converters.firstIndex(where: { $0.name == key }) else {
                throw CSVContractError("key column '\(key)' is not among the contract's columns")
            }
            keyIndexes.append(index)
        }
        if let problem = contract.dedupe.problem { throw CSVContractError(problem) }
        self.converters = converters
        self.keyIndexes = keyIndexes
    }

    static func numberFormat(decimal: String, thousands: String?, column: String) throws(CSVContractError)
        -> NumberFormat
    {
        guard decimal == "." || decimal == "," else {
            throw CSVContractError("column '\(column)': decimal_separator must be '.' or ','")
        }
        let d = decimal.utf8.first!
        guard let thousands else {
            return NumberFormat(
                decimalSeparator: d, thousandsSeparator: d == UInt8(ascii: ".") ? UInt8(ascii: ",") : UInt8(ascii: "."))
        }
        if thousands.isEmpty || thousands.lowercased() == "none" {
            return NumberFormat(decimalSeparator: d, thousandsSeparator: nil)
        }
        guard [",", ".", " ", "'", "_"].contains(thousands), thousands != decimal else {
            throw CSVContractError(
                "column '\(column)': thousands_separator must be one of , . space ' _ (or empty for none), and differ from the decimal separator"
            )
        }
        return NumberFormat(decimalSeparator: d, thousandsSeparator: thousands.utf8.first!)
    }

    /// `Z`, `UTC`, `+00:00`, `-03:00`, `-0300`.
    static func offset(_ text: String) throws(CSVContractError) -> Int {
        let t = text.uppercased()
        if t == "Z" || t == "UTC" || t == "GMT" { return 0 }
        let bytes = Array(text.utf8)
        let parsed: Int? = bytes.withUnsafeBytes { raw in
            var i = 0
            guard let o = DateFormat.offset(raw, &i), i == raw.count else { return nil }
            return o
        }
        guard let parsed else {
            throw CSVContractError(
                "timezone '\(text)' is not a fixed UTC offset such as -03:00 or Z (named zones are not supported: write the offset)"
            )
        }
        return parsed
    }
}

/// The part of a `ColumnConverter` that the fast path reads: plain values, so the cleaner can keep one
/// per column in raw memory and convert a field without a call through a class reference.
struct FastConversion {
    enum Outcome { case value, null, slow }

    let kind: ColumnConverter.Kind
    let trim: Bool
    let isText: Bool
    let emptyIsNull: Bool
    let required: Bool
    let longestNullToken: Int
    let precision: Int
    let scale: Int
    let pointIsDecimalSeparator: Bool
    /// Int.max without a limit.
    let maxLength: Int
    let defaultOffset: Int
    /// The first date format is `yyyy-MM-dd`, or ISO 8601 for a datetime column.
    let firstFormatIsCanonicalDate: Bool
    let firstFormatIsISO: Bool
    /// Null tokens of up to 16 bytes; a field that short is a null token iff it is one of these.
    let packedNulls: PackedTokens
    /// Case-folded true tokens then false tokens, the ASCII ones; the payload is `1` or `0`.
    let packedBooleans: PackedTokens
    /// The enum values as listed.
    let packedEnum: PackedTokens

    /// The common cases of `ColumnConverter.convert`, without building any message: `.value` (appended
    /// to `out`) and `.null` exactly as `convert` would say them; `.slow` when the value needs `convert`,
    /// in which case nothing was appended.
    @_transparent
    func convert(_ raw: UnsafeRawBufferPointer, quoted: Bool, into out: inout RowBytes) -> Outcome {
        let field = trim ? ColumnConverter.trimmed(raw) : raw
        let n = field.count
        if n == 0 { return isText && (quoted || !emptyIsNull) ? .value : .null }
        let base = field.baseAddress.unsafelyUnwrapped
        let short = n <= PackedTokens.maxLength
        if n <= longestNullToken {
            // A null token longer than the packed ones: the general path compares it.
            guard short else { return .slow }
            if packedNulls.find(PackedTokens.pack16(base, n), length: n) != nil { return .null }
        }
        switch kind {
        case .int, .bigint:
            guard n <= 9, ColumnConverter.isPlainInteger(field) else { return .slow }
            out.appendField(field)
            return .value
        case .decimal:
            guard pointIsDecimalSeparator, ColumnConverter.isPlainDecimal(field, precision: precision, scale: scale)
            else { return .slow }
            out.appendField(field)
            return .value
        case .boolean:
            guard short else { return .slow }
            let word = PackedTokens.pack16(base, n)
            guard (word.0 | word.1) & 0x8080_8080_8080_8080 == 0,
                let bit = packedBooleans.find(
                    (PackedTokens.asciiLowercased(word.0), PackedTokens.asciiLowercased(word.1)), length: n)
            else { return .slow }
            out.append(byte: bit)
            return .value
        case .enumeration:
            guard short, packedEnum.find(PackedTokens.pack16(base, n), length: n) != nil else { return .slow }
            out.appendField(field)
            return .value
        case .text:
            if n > maxLength { return .slow }
            out.appendField(field)
            return .value
        case .date:
            guard firstFormatIsCanonicalDate, n == 10, DateTimeValue.isCanonicalDate(base) else { return .slow }
            out.appendField(field)
            return .value
        case .datetime:
            guard firstFormatIsISO, let value = DateTimeValue.fixedISO(base, n) else { return .slow }
            // Most instants stay on their calendar day in UTC: keep the date's bytes, shift the clock.
            let secondOfDay =
                value.hour * 3600 + value.minute * 60 + value.second - (value.offsetSeconds ?? defaultOffset)
            if secondOfDay >= 0 && secondOfDay < 86_400 {
                DateTimeValue.writeSameDay(date: base, secondOfDay: secondOfDay, into: &out)
            } else {
                // Another day in UTC, possibly outside the calendar MySQL keeps: the full path says so.
                let utc = value.utc(defaultOffset: defaultOffset)
                guard utc.year >= 1 && utc.year <= 9999 else { return .slow }
                utc.writeDateTime(into: &out)
            }
            return .value
        case .double:
            return .slow
        }
    }
}

/// Short tokens (null tokens, booleans, enum values) as two little-endian words each, with their
/// lengths, so a field of up to 16 bytes is compared with each in two instructions instead of a loop
/// over an array of arrays. Longer tokens are left out; a field that long never matches here. Raw memory
/// owned by the converter, freed in its deinit.
struct PackedTokens {
    static let maxLength = 16
    private let words: UnsafeMutablePointer<(UInt64, UInt64)>
    private let lengths: UnsafeMutablePointer<Int>
    private let payloads: UnsafeMutablePointer<UInt8>
    private let count: Int

    init(_ tokens: [([UInt8], UInt8)]) {
        let short = tokens.filter { !$0.0.isEmpty && $0.0.count <= Self.maxLength }
        count = short.count
        words = .allocate(capacity: max(1, count))
        lengths = .allocate(capacity: max(1, count))
        payloads = .allocate(capacity: max(1, count))
        for (k, (token, payload)) in short.enumerated() {
            words[k] = token.withUnsafeBytes { Self.pack16($0.baseAddress!, $0.count) }
            lengths[k] = token.count
            payloads[k] = payload
        }
    }

    func deallocate() {
        words.deallocate()
        lengths.deallocate()
        payloads.deallocate()
    }

    /// The payload of the first token equal to the `length` bytes packed in `word`, or nil.
    @inline(__always)
    func find(_ word: (UInt64, UInt64), length: Int) -> UInt8? {
        for k in 0..<count where words[k].0 == word.0 && words[k].1 == word.1 && lengths[k] == length {
            return payloads[k]
        }
        return nil
    }

    /// `n` (1...16) bytes at `p` as two little-endian words, zero above them. Reads only those bytes.
    @inline(__always)
    static func pack16(_ p: UnsafeRawPointer, _ n: Int) -> (UInt64, UInt64) {
        n <= 8 ? (pack(p, n), 0) : (UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)), pack(p + 8, n - 8))
    }

    /// `n` (1...8) bytes at `p` as a little-endian word, zero above them. Reads only those bytes.
    @inline(__always)
    static func pack(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
        if n >= 4 {
            // Two 4-byte loads that overlap when n < 8; the shared bytes are the same either way.
            let low = UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            let high = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
            return low | high &<< UInt64(8 * (n - 4))
        }
        let a = UInt64(p.load(as: UInt8.self))
        let b = UInt64(p.load(fromByteOffset: n >> 1, as: UInt8.self))
        let c = UInt64(p.load(fromByteOffset: n - 1, as: UInt8.self))
        return a | b &<< UInt64(8 * (n >> 1)) | c &<< UInt64(8 * (n - 1))
    }

    /// ASCII letters A–Z of an ASCII word made lower case, as `ColumnConverter.fold` does.
    @inline(__always)
    static func asciiLowercased(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        // Per byte (all below 0x80, so nothing carries): high bit set iff byte >= 'A', and iff byte > 'Z'.
        let atLeastA = word &+ ones &* (0x80 - 0x41)
        let aboveZ = word &+ ones &* (0x80 - 0x5B)
        let upper = atLeastA & ~aboveZ & (ones &* 0x80)
        return word | upper &>> 2
    }
}
