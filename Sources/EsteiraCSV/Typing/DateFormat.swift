/// A date or date-time layout, compiled once from a pattern and matched against field bytes.
///
/// Pattern letters (as in Java/ICU, the spelling partners' docs use): `yyyy` year, `MM` month, `dd`
/// day, `HH` hour 0–23, `mm` minute, `ss` second, `S…` fraction of a second (1–9 digits, kept to
/// microseconds), `XXX` or `Z` a UTC offset (`Z`, `+03:00`, `+0300`, `+03`). Text in single quotes and
/// any other character is literal. Two-letter fields accept one digit too (`1/2/2026`), since
/// spreadsheets drop leading zeros. The special pattern `iso` is ISO 8601:
/// `yyyy-MM-dd[(T| )HH:mm[:ss[.S…]]][Z|±hh[:mm]]`.
public struct DateFormat: Sendable, Hashable, CustomStringConvertible {
    enum Token: Sendable, Hashable {
        case year, month, day, hour, minute, second, fraction, offset
        case literal(UInt8)
    }

    public let pattern: String
    let tokens: [Token]
    let isISO: Bool
    /// `yyyy-MM-dd` → 0, `dd/MM/yyyy` (any separator) → 1: ten-byte layouts read at fixed offsets.
    let fixedLayout: Int8

    public var description: String { pattern }

    public init(_ pattern: String) throws(CSVContractError) {
        self.pattern = pattern
        if pattern.lowercased() == "iso" || pattern.lowercased() == "iso8601" {
            tokens = []
            isISO = true
            fixedLayout = -1
            return
        }
        isISO = false
        var tokens: [Token] = []
        let chars = Array(pattern.utf8)
        var i = 0
        var inQuote = false
        while i < chars.count {
            let c = chars[i]
            if c == UInt8(ascii: "'") {
                inQuote.toggle()
                i += 1
                continue
            }
            if inQuote {
                tokens.append(.literal(c))
                i += 1
                continue
            }
            var run = 1
            while i + run < chars.count && chars[i + run] == c { run += 1 }
            switch (c, run) {
            case (UInt8(ascii: "y"), 4): tokens.append(.year)
            case (UInt8(ascii: "M"), 1...2): tokens.append(.month)
            case (UInt8(ascii: "d"), 1...2): tokens.append(.day)
            case (UInt8(ascii: "H"), 1...2): tokens.append(.hour)
            case (UInt8(ascii: "m"), 1...2): tokens.append(.minute)
            case (UInt8(ascii: "s"), 1...2): tokens.append(.second)
            case (UInt8(ascii: "S"), _), (UInt8(ascii: "f"), _): tokens.append(.fraction)
            case (UInt8(ascii: "X"), _), (UInt8(ascii: "Z"), 1), (UInt8(ascii: "x"), _): tokens.append(.offset)
            case (UInt8(ascii: "y"), _):
                throw CSVContractError(
                    "date format '\(pattern)': write the year as yyyy (two-digit years are ambiguous)")
            default:
                if (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) {
                    throw CSVContractError(
                        "date format '\(pattern)': '\(String(repeating: Character(Unicode.Scalar(c)), count: run))' is not a pattern field; use yyyy MM dd HH mm ss S XXX, and quote literal letters like 'T'"
                    )
                }
                for _ in 0..<run { tokens.append(.literal(c)) }
            }
            i += run
        }
        guard tokens.contains(.year), tokens.contains(.month), tokens.contains(.day) else {
            throw CSVContractError("date format '\(pattern)' needs yyyy, MM and dd")
        }
        self.tokens = tokens
        switch tokens {
        case [.year, .literal(UInt8(ascii: "-")), .month, .literal(UInt8(ascii: "-")), .day]: fixedLayout = 0
        case [.day, .literal(UInt8(ascii: "/")), .month, .literal(UInt8(ascii: "/")), .year]: fixedLayout = 1
        default: fixedLayout = -1
        }
    }

    public static let iso = try! DateFormat("iso")

    public var hasTime: Bool { isISO || tokens.contains(.hour) }

    /// Parses `field`; nil when it does not match, names no real date or time (31/02, 25:00, 23:59:60),
    /// or has fraction digits past microseconds that are not zeros (`DateTimeValue.problem` says which).
    func parse(_ field: UnsafeRawBufferPointer) -> DateTimeValue? {
        if fixedLayout >= 0 && field.count == 10, let v = parseFixed(field) { return v }
        guard let v = scan(field), v.isValid, !v.fractionBeyondMicros else { return nil }
        return v
    }

    /// The fields of `field` when it has this layout, whatever their values (hour 24, February 30 and
    /// nine fraction digits included): for saying why a value that has the shape is refused.
    func scan(_ field: UnsafeRawBufferPointer) -> DateTimeValue? {
        isISO ? Self.parseISO(field) : parseTokens(field)
    }

    /// The two layouts nearly every date column uses, at fixed offsets; nil sends the value to the
    /// general parser (which also takes one-digit days and months).
    @inline(__always)
    private func parseFixed(_ f: UnsafeRawBufferPointer) -> DateTimeValue? {
        @inline(__always) func d(_ i: Int) -> Int? {
            let x = f[i] &- 0x30
            return x <= 9 ? Int(x) : nil
        }
        var v = DateTimeValue()
        if fixedLayout == 0 {
            guard f[4] == 0x2D, f[7] == 0x2D, let y0 = d(0), let y1 = d(1), let y2 = d(2), let y3 = d(3),
                let m0 = d(5), let m1 = d(6), let d0 = d(8), let d1 = d(9)
            else { return nil }
            v.year = y0 * 1000 + y1 * 100 + y2 * 10 + y3
            v.month = m0 * 10 + m1
            v.day = d0 * 10 + d1
        } else {
            guard f[2] == 0x2F, f[5] == 0x2F, let d0 = d(0), let d1 = d(1), let m0 = d(3), let m1 = d(4),
                let y0 = d(6), let y1 = d(7), let y2 = d(8), let y3 = d(9)
            else { return nil }
            v.year = y0 * 1000 + y1 * 100 + y2 * 10 + y3
            v.month = m0 * 10 + m1
            v.day = d0 * 10 + d1
        }
        return v.isValid ? v : nil
    }

    private func parseTokens(_ f: UnsafeRawBufferPointer) -> DateTimeValue? {
        var v = DateTimeValue()
        var i = 0
        let n = f.count
        for token in tokens {
            switch token {
            case .literal(let c):
                guard i < n, f[i] == c else { return nil }
                i += 1
            case .year:
                guard let y = Self.digits(f, &i, min: 4, max: 4) else { return nil }
                v.year = y
            case .month, .day, .hour, .minute, .second:
                // Two digits, or one (spreadsheets drop leading zeros); a following digit-only field
                // then has to start after it, which the literal between them guarantees in practice.
                guard let x = Self.digits(f, &i, min: 1, max: 2) else { return nil }
                switch token {
                case .month: v.month = x
                case .day: v.day = x
                case .hour: v.hour = x
                case .minute: v.minute = x
                default: v.second = x
                }
            case .fraction:
                guard Self.fraction(f, &i, into: &v) else { return nil }
            case .offset:
                guard let o = Self.offset(f, &i) else { return nil }
                v.offsetSeconds = o
            }
        }
        return i == n ? v : nil
    }

    /// ISO 8601's shape only; `parse` checks the values.
    static func parseISO(_ f: UnsafeRawBufferPointer) -> DateTimeValue? {
        var v = DateTimeValue()
        var i = 0
        let n = f.count
        let dash = UInt8(ascii: "-")
        let colon = UInt8(ascii: ":")
        guard let y = digits(f, &i, min: 4, max: 4), i < n, f[i] == dash else { return nil }
        i += 1
        guard let m = digits(f, &i, min: 2, max: 2), i < n, f[i] == dash else { return nil }
        i += 1
        guard let d = digits(f, &i, min: 2, max: 2) else { return nil }
        v.year = y
        v.month = m
        v.day = d
        if i < n {
            guard f[i] == UInt8(ascii: "T") || f[i] == UInt8(ascii: " ") || f[i] == UInt8(ascii: "t") else {
                return nil
            }
            i += 1
            guard let h = digits(f, &i, min: 2, max: 2), i < n, f[i] == colon else { return nil }
            i += 1
            guard let mi = digits(f, &i, min: 2, max: 2) else { return nil }
            v.hour = h
            v.minute = mi
            v.hasTime = true
            if i < n && f[i] == colon {
                i += 1
                guard let s = digits(f, &i, min: 2, max: 2) else { return nil }
                v.second = s
                if i < n && (f[i] == UInt8(ascii: ".") || f[i] == UInt8(ascii: ",")) {
                    i += 1
                    guard fraction(f, &i, into: &v) else { return nil }
                }
            }
            if i < n {
                guard let o = offset(f, &i) else { return nil }
                v.offsetSeconds = o
            }
        }
        return i == n ? v : nil
    }

    @inline(__always)
    static func digits(_ f: UnsafeRawBufferPointer, _ i: inout Int, min: Int, max: Int) -> Int? {
        var value = 0
        var count = 0
        while count < max && i < f.count && f[i] >= 0x30 && f[i] <= 0x39 {
            value = value * 10 + Int(f[i] - 0x30)
            i += 1
            count += 1
        }
        return count >= min ? value : nil
    }

    /// Fraction digits of any number: the first six are the microseconds; any later digit that is not
    /// zero sets `fractionBeyondMicros` (the value would have to be rounded, which `parse` refuses).
    static func fraction(_ f: UnsafeRawBufferPointer, _ i: inout Int, into v: inout DateTimeValue) -> Bool {
        var micros = 0
        var count = 0
        var beyond = false
        while i < f.count && f[i] >= 0x30 && f[i] <= 0x39 {
            if count < 6 { micros = micros * 10 + Int(f[i] &- 0x30) } else if f[i] != 0x30 { beyond = true }
            count += 1
            i += 1
        }
        guard count > 0 else { return false }
        var scaled = count
        while scaled < 6 {
            micros *= 10
            scaled += 1
        }
        v.microsecond = micros
        v.fractionDigits = count
        v.fractionBeyondMicros = beyond
        return true
    }

    static func offset(_ f: UnsafeRawBufferPointer, _ i: inout Int) -> Int? {
        guard i < f.count else { return nil }
        if f[i] == UInt8(ascii: "Z") || f[i] == UInt8(ascii: "z") {
            i += 1
            return 0
        }
        guard f[i] == UInt8(ascii: "+") || f[i] == UInt8(ascii: "-") else { return nil }
        let sign = f[i] == UInt8(ascii: "-") ? -1 : 1
        i += 1
        guard let h = digits(f, &i, min: 2, max: 2), h <= 18 else { return nil }
        var m = 0
        if i < f.count && f[i] == UInt8(ascii: ":") { i += 1 }
        if i < f.count {
            guard let mm = digits(f, &i, min: 2, max: 2), mm < 60 else { return nil }
            m = mm
        }
        return sign * (h * 3600 + m * 60)
    }
}

/// A parsed calendar date and, optionally, time of day with a UTC offset.
struct DateTimeValue {
    var year = 0, month = 0, day = 0
    var hour = 0, minute = 0, second = 0, microsecond = 0
    var offsetSeconds: Int?
    var hasTime = false
    /// Fraction digits as written (any number), and whether one past the sixth is not zero.
    var fractionDigits = 0
    var fractionBeyondMicros = false

    /// Why a value that has a format's shape cannot be stored, when the reason is more than "no such
    /// date": a person fixing the export needs to know it is the precision, the leap second or 24:00.
    var problem: String? {
        if fractionBeyondMicros {
            return
                "has \(fractionDigits) fractional-second digits; MySQL keeps 6 (microseconds) and the rest are not zeros, so it would have to be rounded"
        }
        if year < 1 { return "has year \(year); MySQL dates run from year 0001 to 9999" }
        if hour == 24 && minute == 0 && second == 0 && microsecond == 0 {
            return "says 24:00, the end of the day; MySQL refuses hour 24: write it as 00:00 of the next day"
        }
        if hour == 23 && minute == 59 && second == 60 {
            return "is a leap second (23:59:60), which MySQL cannot store"
        }
        return nil
    }

    var isValid: Bool {
        // Every month has 28 days: most dates need no calendar.
        year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1
            && (day <= 28 || day <= DateTimeValue.daysIn(month: month, year: year))
            && hour <= 23 && minute <= 59 && second <= 59
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// The same instant in UTC, taking `defaultOffset` for a value that has none.
    func utc(defaultOffset: Int) -> DateTimeValue {
        let offset = offsetSeconds ?? defaultOffset
        guard offset != 0 else { return self }
        // Most instants stay on the same calendar day: shift the clock and skip the calendar arithmetic.
        let secondOfDay = hour * 3600 + minute * 60 + second - offset
        if secondOfDay >= 0 && secondOfDay < 86_400 {
            var out = self
            out.hour = secondOfDay / 3600
            out.minute = secondOfDay % 3600 / 60
            out.second = secondOfDay % 60
            out.offsetSeconds = 0
            return out
        }
        var seconds =
            DateTimeValue.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        seconds -= days * 86_400
        let (y, m, d) = DateTimeValue.civil(days: days)
        var out = self
        out.year = y
        out.month = m
        out.day = d
        out.hour = seconds / 3600
        out.minute = seconds % 3600 / 60
        out.second = seconds % 60
        out.offsetSeconds = 0
        return out
    }

    /// Whether the 10 bytes at `f` are `yyyy-MM-dd` naming a real date: what `DateFormat("yyyy-MM-dd")`
    /// accepts at that length, in which case the bytes are already the canonical value.
    @inline(__always)
    static func isCanonicalDate(_ f: UnsafeRawPointer) -> Bool {
        @inline(__always) func d(_ i: Int) -> Int { Int(f.load(fromByteOffset: i, as: UInt8.self) &- 0x30) }
        guard f.load(fromByteOffset: 4, as: UInt8.self) == 0x2D, f.load(fromByteOffset: 7, as: UInt8.self) == 0x2D
        else { return false }
        let (y0, y1, y2, y3, m0, m1, d0, d1) = (d(0), d(1), d(2), d(3), d(5), d(6), d(8), d(9))
        // Each is 0...9 for a digit; any other byte wraps to 10 or more.
        guard max(y0, y1, y2, y3, m0, m1, d0, d1) <= 9 else { return false }
        let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3
        let month = m0 * 10 + m1
        let day = d0 * 10 + d1
        return year >= 1 && month >= 1 && month <= 12 && day >= 1
            && (day <= 28 || day <= daysIn(month: month, year: year))
    }

    /// The ISO 8601 datetimes written at fixed widths, `yyyy-MM-ddTHH:mm:ss` (19 bytes) with nothing,
    /// `Z` (20) or `±HH:mm` (25) after: the same value `DateFormat.parseISO` gives them, or nil for
    /// anything else (that parser then decides).
    @inline(__always)
    static func fixedISO(_ f: UnsafeRawPointer, _ n: Int) -> DateTimeValue? {
        guard n == 19 || n == 20 || n == 25 else { return nil }
        @inline(__always) func b(_ i: Int) -> UInt8 { f.load(fromByteOffset: i, as: UInt8.self) }
        @inline(__always) func d(_ i: Int) -> Int { Int(b(i) &- 0x30) }
        let t = b(10)
        guard b(4) == 0x2D, b(7) == 0x2D, t == UInt8(ascii: "T") || t == UInt8(ascii: " ") || t == UInt8(ascii: "t"),
            b(13) == 0x3A, b(16) == 0x3A
        else { return nil }
        let digits = (d(0), d(1), d(2), d(3), d(5), d(6), d(8), d(9), d(11), d(12), d(14), d(15), d(17), d(18))
        guard max(digits.0, digits.1, digits.2, digits.3, digits.4, digits.5, digits.6, digits.7) <= 9,
            max(digits.8, digits.9, digits.10, digits.11, digits.12, digits.13) <= 9
        else { return nil }
        var v = DateTimeValue()
        v.year = digits.0 * 1000 + digits.1 * 100 + digits.2 * 10 + digits.3
        v.month = digits.4 * 10 + digits.5
        v.day = digits.6 * 10 + digits.7
        v.hour = digits.8 * 10 + digits.9
        v.minute = digits.10 * 10 + digits.11
        v.second = digits.12 * 10 + digits.13
        v.hasTime = true
        if n == 20 {
            guard b(19) == UInt8(ascii: "Z") || b(19) == UInt8(ascii: "z") else { return nil }
            v.offsetSeconds = 0
        } else if n == 25 {
            let sign = b(19)
            guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), b(22) == 0x3A,
                max(d(20), d(21), d(23), d(24)) <= 9
            else { return nil }
            let h = d(20) * 10 + d(21)
            let m = d(23) * 10 + d(24)
            guard h <= 18, m < 60 else { return nil }
            v.offsetSeconds = (sign == UInt8(ascii: "-") ? -1 : 1) * (h * 3600 + m * 60)
        }
        return v.isValid ? v : nil
    }

    /// `yyyy-MM-dd`.
    var dateString: String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { out in
            Self.put(year, 4, out, 0)
            out[4] = 0x2D
            Self.put(month, 2, out, 5)
            out[7] = 0x2D
            Self.put(day, 2, out, 8)
            return String(decoding: UnsafeBufferPointer(out), as: UTF8.self)
        }
    }

    /// `yyyy-MM-dd HH:mm:ss[.ffffff]`.
    var dateTimeString: String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 26) { out in
            Self.put(year, 4, out, 0)
            out[4] = 0x2D
            Self.put(month, 2, out, 5)
            out[7] = 0x2D
            Self.put(day, 2, out, 8)
            out[10] = 0x20
            Self.put(hour, 2, out, 11)
            out[13] = 0x3A
            Self.put(minute, 2, out, 14)
            out[16] = 0x3A
            Self.put(second, 2, out, 17)
            var count = 19
            if microsecond > 0 {
                out[19] = 0x2E
                Self.put(microsecond, 6, out, 20)
                count = 26
            }
            return String(decoding: UnsafeBufferPointer(rebasing: out[0..<count]), as: UTF8.self)
        }
    }

    /// Writes `yyyy-MM-dd HH:mm:ss` from the 10 canonical date bytes at `date` and a time of day:
    /// what `utc(…).writeDateTime` writes for a whole-second instant that stays on that day.
    @inline(__always)
    static func writeSameDay(date: UnsafeRawPointer, secondOfDay: Int, into out: inout RowBytes) {
        out.reserve(19)
        out.appendField(UnsafeRawBufferPointer(start: date, count: 10))
        out.appendReserved(0x20)
        write2(secondOfDay / 3600, &out)
        out.appendReserved(0x3A)
        write2(secondOfDay / 60 % 60, &out)
        out.appendReserved(0x3A)
        write2(secondOfDay % 60, &out)
    }

    /// Writes `yyyy-MM-dd` into `out`.
    func writeDate(into out: inout RowBytes) {
        out.reserve(10)
        Self.write4(year, &out)
        out.appendReserved(0x2D)
        Self.write2(month, &out)
        out.appendReserved(0x2D)
        Self.write2(day, &out)
    }

    /// Writes `yyyy-MM-dd HH:mm:ss[.ffffff]` into `out`.
    func writeDateTime(into out: inout RowBytes) {
        out.reserve(26)
        writeDate(into: &out)
        out.appendReserved(0x20)
        Self.write2(hour, &out)
        out.appendReserved(0x3A)
        Self.write2(minute, &out)
        out.appendReserved(0x3A)
        Self.write2(second, &out)
        if microsecond > 0 {
            out.appendReserved(0x2E)
            Self.write2(microsecond / 10_000 % 100, &out)
            Self.write2(microsecond / 100 % 100, &out)
            Self.write2(microsecond % 100, &out)
        }
    }

    // Constant divisors, which the compiler turns into multiplications (a divisor in a variable costs
    // a hardware division per digit).
    @inline(__always)
    private static func write2(_ value: Int, _ out: inout RowBytes) {
        out.appendReserved(UInt8(truncatingIfNeeded: 0x30 + value / 10 % 10))
        out.appendReserved(UInt8(truncatingIfNeeded: 0x30 + value % 10))
    }

    @inline(__always)
    private static func write4(_ value: Int, _ out: inout RowBytes) {
        write2(value / 100 % 100, &out)
        write2(value % 100, &out)
    }

    @inline(__always)
    private static func put(_ value: Int, _ width: Int, _ out: UnsafeMutableBufferPointer<UInt8>, _ at: Int) {
        var v = value
        var k = width - 1
        while k >= 0 {
            out[at + k] = UInt8(0x30 + v % 10)
            v /= 10
            k -= 1
        }
    }
}
