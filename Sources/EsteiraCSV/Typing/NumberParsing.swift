/// Numbers read straight from field bytes: no String, no locale, no allocation until the canonical
/// result is made (and results of up to 15 bytes fit a String without a heap allocation).
public struct NumberFormat: Sendable, Hashable {
    /// `.` or `,`.
    public var decimalSeparator: UInt8
    /// Groups of three digits before the separator: `,` `.` `'` or space; nil accepts none. Groups are
    /// checked (`1.234,56` yes, `1.23,4` no), so `1.5` is never read as fifteen.
    public var thousandsSeparator: UInt8?

    public init(decimalSeparator: UInt8 = UInt8(ascii: "."), thousandsSeparator: UInt8? = nil) {
        self.decimalSeparator = decimalSeparator
        self.thousandsSeparator = thousandsSeparator == decimalSeparator ? nil : thousandsSeparator
    }

    /// `.` as decimal point and `,` between thousands.
    public static let international = NumberFormat(
        decimalSeparator: UInt8(ascii: "."), thousandsSeparator: UInt8(ascii: ","))
    /// Brazil and most of Europe: `1.234,56`.
    public static let brazilian = NumberFormat(
        decimalSeparator: UInt8(ascii: ","), thousandsSeparator: UInt8(ascii: "."))
}

/// A decimal number split into its digits, before any check against a column's precision.
struct ScannedDecimal {
    var negative = false
    /// Integer digits without leading zeros, and fraction digits without trailing zeros.
    var integerStart = 0, integerEnd = 0
    var fractionStart = 0, fractionEnd = 0
    var exponent: Int?
}

enum NumberParsing {
    static let zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9")
    static let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-")

    /// An integer in `min...max`, with an optional sign and, if the format has one, thousands groups.
    /// Returns nil when the bytes are not such an integer or it does not fit.
    @inline(__always)
    static func integer(_ field: UnsafeRawBufferPointer, format: NumberFormat, min: Int64, max: Int64) -> Int64? {
        let n = field.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        let first = field[0]
        if first == minus || first == plus {
            negative = first == minus
            i = 1
            guard n > 1 else { return nil }
        }
        var value: Int64 = 0
        var groupDigits = -1  // digits since the last thousands separator; -1 before the first one
        var digits = 0
        let thousands = format.thousandsSeparator.map(Int.init) ?? -1
        while i < n {
            let b = field[i]
            if b >= zero && b <= nine {
                let d = Int64(b &- zero)
                // Accumulate negatively so Int64.min is reachable.
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(d)
                if o1 || o2 { return nil }
                value = s
                digits += 1
                if groupDigits >= 0 {
                    groupDigits += 1
                    if groupDigits > 3 { return nil }
                }
            } else if Int(b) == thousands {
                if digits == 0 || (groupDigits >= 0 && groupDigits != 3) || (groupDigits < 0 && digits > 3) {
                    return nil
                }
                groupDigits = 0
            } else {
                return nil
            }
            i += 1
        }
        if digits == 0 || (groupDigits >= 0 && groupDigits != 3) { return nil }
        if !negative {
            if value == Int64.min { return nil }
            value = -value
        }
        return value >= min && value <= max ? value : nil
    }

    /// Scans `[sign] digits [sep digits] [e[sign]digits]` with thousands groups allowed in the integer
    /// part. Returns nil when it is not a number.
    static func scanDecimal(_ field: UnsafeRawBufferPointer, format: NumberFormat, allowExponent: Bool)
        -> ScannedDecimal?
    {
        let n = field.count
        guard n > 0 else { return nil }
        var result = ScannedDecimal()
        var i = 0
        if field[0] == minus || field[0] == plus {
            result.negative = field[0] == minus
            i = 1
        }
        let thousands = format.thousandsSeparator.map(Int.init) ?? -1
        var digits = 0
        var groupDigits = -1
        result.integerStart = i
        while i < n {
            let b = field[i]
            if b >= zero && b <= nine {
                digits += 1
                if groupDigits >= 0 {
                    groupDigits += 1
                    if groupDigits > 3 { return nil }
                }
            } else if Int(b) == thousands {
                if digits == 0 || (groupDigits >= 0 && groupDigits != 3) || (groupDigits < 0 && digits > 3) {
                    return nil
                }
                groupDigits = 0
            } else {
                break
            }
            i += 1
        }
        if groupDigits >= 0 && groupDigits != 3 { return nil }
        result.integerEnd = i
        var fractionDigits = 0
        result.fractionStart = i
        result.fractionEnd = i
        if i < n && field[i] == format.decimalSeparator {
            i += 1
            result.fractionStart = i
            while i < n && field[i] >= zero && field[i] <= nine {
                i += 1
                fractionDigits += 1
            }
            result.fractionEnd = i
        }
        guard digits + fractionDigits > 0 else { return nil }
        if i < n && allowExponent && (field[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var sign = 1
            if i < n && (field[i] == minus || field[i] == plus) {
                sign = field[i] == minus ? -1 : 1
                i += 1
            }
            var e = 0
            let start = i
            while i < n && field[i] >= zero && field[i] <= nine && e < 100_000 {
                e = e * 10 + Int(field[i] - zero)
                i += 1
            }
            guard i > start else { return nil }
            result.exponent = sign * e
        }
        return i == n ? result : nil
    }

    /// Writes a decimal as MySQL reads it (`-1234.56`) into `out`, checked against DECIMAL(precision, scale).
    /// Extra fraction digits are refused unless they are zeros: money is never rounded silently.
    static func canonicalDecimal(
        _ field: UnsafeRawBufferPointer, format: NumberFormat,
        precision: Int, scale: Int, into out: inout RowBytes
    ) -> DecimalProblem? {
        guard let scanned = scanDecimal(field, format: format, allowExponent: false) else { return .notANumber }
        let thousands = format.thousandsSeparator.map(Int.init) ?? -1
        // Integer digits without leading zeros (thousands separators skipped).
        var intStart = scanned.integerStart
        while intStart < scanned.integerEnd && (field[intStart] == zero || Int(field[intStart]) == thousands) {
            intStart += 1
        }
        var fracEnd = scanned.fractionEnd
        while fracEnd > scanned.fractionStart && field[fracEnd - 1] == zero { fracEnd -= 1 }
        var intDigits = 0
        for k in intStart..<scanned.integerEnd where Int(field[k]) != thousands { intDigits += 1 }
        let fracDigits = fracEnd - scanned.fractionStart
        if fracDigits > scale { return .tooManyDecimals(scale) }
        if intDigits > precision - scale { return .tooLarge(precision - scale) }
        out.reserve(intDigits + fracDigits + 3)
        if scanned.negative && intDigits + fracDigits > 0 { out.appendReserved(minus) }
        if intDigits == 0 {
            out.appendReserved(zero)
        } else {
            for k in intStart..<scanned.integerEnd where Int(field[k]) != thousands { out.appendReserved(field[k]) }
        }
        if fracDigits > 0 {
            out.appendReserved(UInt8(ascii: "."))
            for k in scanned.fractionStart..<fracEnd { out.appendReserved(field[k]) }
        }
        return nil
    }

    /// A finite double, written with '.' as MySQL reads it.
    static func canonicalDouble(_ field: UnsafeRawBufferPointer, format: NumberFormat) -> String? {
        guard let scanned = scanDecimal(field, format: format, allowExponent: true) else { return nil }
        // Rebuild without thousands separators and with '.', then let the standard library round.
        var text = scanned.negative ? "-" : ""
        for k in scanned.integerStart..<scanned.integerEnd where field[k] != (format.thousandsSeparator ?? 0) {
            text.unicodeScalars.append(Unicode.Scalar(field[k]))
        }
        if text.isEmpty || text == "-" { text += "0" }
        if scanned.fractionEnd > scanned.fractionStart {
            text += "."
            for k in scanned.fractionStart..<scanned.fractionEnd {
                text.unicodeScalars.append(Unicode.Scalar(field[k]))
            }
        }
        if let e = scanned.exponent { text += "e\(e)" }
        guard let value = Double(text), value.isFinite else { return nil }
        return text
    }
}

enum DecimalProblem: Error {
    case notANumber
    case tooManyDecimals(Int)
    case tooLarge(Int)
}
