/// What a sample says about one column: which types every non-null value fits, tried in DuckDB's order
/// (NULL, BOOLEAN, BIGINT, DECIMAL, DOUBLE, DATE, TIMESTAMP, VARCHAR), plus what DDL needs (digits,
/// scale, length) and whether the values could be a key.
struct ColumnGuess {
    /// Candidate bits; a value that does not fit a candidate clears it for good.
    private(set) var candidates: UInt32 = ColumnGuess.all
    private(set) var values = 0
    private(set) var nulls = 0
    private(set) var maxCharacters = 0
    /// Integer digits and scale seen, per decimal separator.
    private var dotDigits = (integer: 0, scale: 0)
    private var commaDigits = (integer: 0, scale: 0)
    private var distinct = Set<String>()
    private(set) var hasDuplicates = false

    static let boolean: UInt32 = 1 << 0
    static let bigint: UInt32 = 1 << 1
    static let decimalDot: UInt32 = 1 << 2
    static let decimalComma: UInt32 = 1 << 3
    static let double: UInt32 = 1 << 4
    static let dateShift: UInt32 = 8
    static let datetimeShift: UInt32 = 16
    static let all: UInt32 = 0x00FF_FF1F

    /// Date layouts in preference order: day-first before month-first, since the partners this was
    /// built for are Brazilian; a column where both fit (every day ≤ 12) takes the first.
    static let datePatterns = ["yyyy-MM-dd", "dd/MM/yyyy", "MM/dd/yyyy", "dd-MM-yyyy", "dd.MM.yyyy", "yyyy/MM/dd"]
    static let datetimePatterns = [
        "iso", "dd/MM/yyyy HH:mm:ss", "dd/MM/yyyy HH:mm", "MM/dd/yyyy HH:mm:ss",
        "MM/dd/yyyy HH:mm", "yyyy/MM/dd HH:mm:ss", "dd-MM-yyyy HH:mm:ss",
    ]
    static let dateFormats = datePatterns.map { try! DateFormat($0) }
    static let datetimeFormats = datetimePatterns.map { try! DateFormat($0) }
    static let trueWords: [[UInt8]] = ["true", "yes", "sim", "verdadeiro"].map { Array($0.utf8) }
    static let falseWords: [[UInt8]] = ["false", "no", "não", "nao", "falso"].map { Array($0.utf8) }
    static let nullWords: [[UInt8]] = ["", "null", "n/a", "na", "-", "\\n", "none", "nil"].map { Array($0.utf8) }

    static func isNull(_ field: UnsafeRawBufferPointer) -> Bool {
        field.isEmpty || (field.count <= 4 && nullWords.contains(ColumnConverter.fold(field)))
    }

    mutating func add(_ raw: UnsafeRawBufferPointer, keepDistinct: Bool = true) {
        let field = ColumnConverter.trimmed(raw)
        if Self.isNull(field) {
            nulls += 1
            return
        }
        values += 1
        maxCharacters = max(maxCharacters, field.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) })
        if keepDistinct && !hasDuplicates && distinct.count < 100_000 {
            if !distinct.insert(String(decoding: field, as: UTF8.self)).inserted { hasDuplicates = true }
        }
        var c = candidates
        if c & Self.boolean != 0 {
            let folded = ColumnConverter.fold(field)
            if !Self.trueWords.contains(folded) && !Self.falseWords.contains(folded) { c &= ~Self.boolean }
        }
        // Leading zeros (CEP, CPF, product codes) mean text: a number would lose them.
        let signed = field[0] == 0x2D || field[0] == 0x2B ? 1 : 0
        if field.count > signed + 1 && field[signed] == 0x30 && field[signed + 1] >= 0x30 && field[signed + 1] <= 0x39 {
            c &= ~(Self.bigint | Self.decimalDot | Self.decimalComma | Self.double)
        }
        if c & Self.bigint != 0 {
            if NumberParsing.integer(field, format: NumberFormat(thousandsSeparator: nil), min: .min, max: .max) == nil
            {
                c &= ~Self.bigint
            }
        }
        if c & Self.decimalDot != 0 { if !fitDecimal(field, .international, &dotDigits) { c &= ~Self.decimalDot } }
        if c & Self.decimalComma != 0 { if !fitDecimal(field, .brazilian, &commaDigits) { c &= ~Self.decimalComma } }
        if c & Self.double != 0
            && NumberParsing.canonicalDouble(field, format: NumberFormat(thousandsSeparator: nil)) == nil
        {
            c &= ~Self.double
        }
        for (k, format) in Self.dateFormats.enumerated() where c & (1 << (Self.dateShift + UInt32(k))) != 0 {
            if format.parse(field) == nil || field.count > 10 { c &= ~(1 << (Self.dateShift + UInt32(k))) }
        }
        for (k, format) in Self.datetimeFormats.enumerated() where c & (1 << (Self.datetimeShift + UInt32(k))) != 0 {
            if format.parse(field) == nil { c &= ~(1 << (Self.datetimeShift + UInt32(k))) }
        }
        candidates = c
    }

    private func fitDecimal(
        _ field: UnsafeRawBufferPointer, _ format: NumberFormat, _ digits: inout (integer: Int, scale: Int)
    ) -> Bool {
        guard let scanned = NumberParsing.scanDecimal(field, format: format, allowExponent: false) else { return false }
        var integer = 0
        var leading = true
        for k in scanned.integerStart..<scanned.integerEnd where field[k] != format.thousandsSeparator {
            if leading && field[k] == 0x30 { continue }
            leading = false
            integer += 1
        }
        digits.integer = max(digits.integer, integer)
        digits.scale = max(digits.scale, scanned.fractionEnd - scanned.fractionStart)
        return true
    }

    /// Whether a value fits the type this column has settled on (for telling a header from data).
    func fits(_ raw: UnsafeRawBufferPointer) -> Bool {
        var probe = ColumnGuess()
        probe.add(raw, keepDistinct: false)
        if probe.values == 0 { return true }
        guard let settled = firstCandidate else { return true }
        // Numbers widen (an int column whose first row says 9.5 is still numbers, not a header).
        let numeric = Self.bigint | Self.decimalDot | Self.decimalComma | Self.double
        if settled & numeric != 0 && probe.candidates & numeric != 0 { return true }
        return probe.candidates & settled != 0
    }

    /// The first surviving candidate bit in DuckDB's order, nil for VARCHAR.
    var firstCandidate: UInt32? {
        guard values > 0 else { return nil }
        let order: [UInt32] = [Self.boolean, Self.bigint]
        for bit in order where candidates & bit != 0 { return bit }
        // A dot-decimal and a comma-decimal can both fit (`1.234`): the hint picks.
        if candidates & Self.decimalDot != 0 && candidates & Self.decimalComma != 0 {
            return preferComma ? Self.decimalComma : Self.decimalDot
        }
        for bit in [Self.decimalDot, Self.decimalComma, Self.double] where candidates & bit != 0 { return bit }
        for k in 0..<UInt32(Self.dateFormats.count) where candidates & (1 << (Self.dateShift + k)) != 0 {
            return 1 << (Self.dateShift + k)
        }
        for k in 0..<UInt32(Self.datetimeFormats.count) where candidates & (1 << (Self.datetimeShift + k)) != 0 {
            return 1 << (Self.datetimeShift + k)
        }
        return nil
    }

    /// Set for files whose delimiter is `;`, where a decimal comma is the norm.
    var preferComma = false

    /// The proposed type. Decimals get headroom over the sample (precision at least 18), since the
    /// rest of the file may hold larger amounts; beyond 38 digits they become DOUBLE.
    var type: ColumnType {
        guard let bit = firstCandidate else {
            return values == 0 ? .text(maxLength: nil) : .text(maxLength: Self.varcharLength(maxCharacters))
        }
        switch bit {
        case Self.boolean: return .boolean
        case Self.bigint: return .bigint
        case Self.decimalDot, Self.decimalComma:
            let d = bit == Self.decimalDot ? dotDigits : commaDigits
            let scale = max(d.scale, 2)
            let precision = max(18, d.integer + scale)
            return precision <= 38 ? .decimal(precision: precision, scale: scale) : .double
        case Self.double: return .double
        default: return bit >= 1 << Self.datetimeShift ? .datetime : .date
        }
    }

    /// The contract's decimal separator for this column, when it is a decimal.
    var decimalSeparator: String? {
        firstCandidate == Self.decimalComma ? "," : firstCandidate == Self.decimalDot ? "." : nil
    }

    /// The date or datetime pattern the values fit.
    var format: String? {
        guard let bit = firstCandidate else { return nil }
        for k in 0..<Self.dateFormats.count where bit == 1 << (Self.dateShift + UInt32(k)) {
            return Self.datePatterns[k]
        }
        for k in 0..<Self.datetimeFormats.count where bit == 1 << (Self.datetimeShift + UInt32(k)) {
            return Self.datetimePatterns[k]
        }
        return nil
    }

    var isUniqueAndComplete: Bool { nulls == 0 && values > 0 && !hasDuplicates && distinct.count == values }

    /// Room above the longest value seen: twice it, rounded up to a round size.
    static func varcharLength(_ longest: Int) -> Int {
        for size in [16, 32, 64, 128, 255, 512, 1024, 2048, 4096, 8192, 16_383] where size >= longest * 2 {
            return size
        }
        return max(longest, 16_384)
    }
}
