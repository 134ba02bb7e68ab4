/// The SQL type a column's text is converted to. Values leave the typing layer as the canonical strings
/// MySQL parses without locale: `-1234.5`, `2026-11-02`, `2026-11-02 13:04:05.250000` (UTC), `1`/`0`.
public enum ColumnType: Sendable, Hashable, CustomStringConvertible {
    /// 32-bit signed (MySQL INT).
    case int
    /// 64-bit signed (MySQL BIGINT).
    case bigint
    /// Exact decimal with `precision` digits, `scale` of them after the point (MySQL DECIMAL(p,s)).
    case decimal(precision: Int, scale: Int)
    /// Binary floating point (MySQL DOUBLE), for measurements, never money.
    case double
    case boolean
    case date
    /// A point in time, written in UTC.
    case datetime
    /// Text, at most `maxLength` characters when given (MySQL counts characters, not bytes).
    case text(maxLength: Int?)
    /// One of a fixed set of values; matched case-insensitively and written as listed.
    case enumeration([String])

    /// Parses a contract's spelling: `int`, `bigint`, `decimal(12,2)`, `double`, `boolean`, `date`,
    /// `datetime`, `text`, `varchar(200)`, `text(200)`, `enum`. Case and spaces do not matter.
    public init(parsing spelling: String, values: [String]? = nil, maxLength: Int? = nil) throws(CSVContractError) {
        let s = String(spelling.lowercased().filter { $0 != " " })
        func arguments() -> [Int]? {
            guard let open = s.firstIndex(of: "("), s.hasSuffix(")") else { return nil }
            let inner = s[s.index(after: open)..<s.index(before: s.endIndex)]
            let numbers = inner.split(separator: ",").map { Int($0) }
            return numbers.contains(nil) ? nil : numbers.compactMap { $0 }
        }
        let base = s.split(separator: "(").first.map(String.init) ?? s
        switch base {
        case "int", "integer", "int32", "smallint", "tinyint", "mediumint": self = .int
        case "bigint", "int64", "long": self = .bigint
        case "decimal", "numeric", "number":
            guard let args = arguments(), args.count == 2, args[0] >= 1, args[0] <= 65, args[1] >= 0, args[1] <= 30,
                args[1] <= args[0]
            else {
                throw CSVContractError(
                    "type '\(spelling)': write decimal(precision,scale), e.g. decimal(12,2); precision 1…65, scale 0…30 and at most the precision"
                )
            }
            self = .decimal(precision: args[0], scale: args[1])
        case "double", "float", "real": self = .double
        case "boolean", "bool", "bit": self = .boolean
        case "date": self = .date
        case "datetime", "timestamp":
            _ = try Self.fractionalDigits(in: spelling)
            self = .datetime
        case "text", "varchar", "string", "char":
            let length = arguments()?.first ?? maxLength
            if let length, length < 1 {
                throw CSVContractError("type '\(spelling)': the maximum length must be positive")
            }
            self = .text(maxLength: length)
        case "enum":
            guard let values, !values.isEmpty else {
                throw CSVContractError("type enum needs `values:`, the list of accepted values")
            }
            self = .enumeration(values)
        default:
            throw CSVContractError(
                "unknown type '\(spelling)': use int, bigint, decimal(p,s), double, boolean, date, datetime, text, varchar(n) or enum"
            )
        }
    }

    /// The fractional-second digits a `datetime(n)` / `timestamp(n)` spelling keeps: n (0…6), or 6, MySQL's
    /// microseconds, when the spelling gives none. Other types: 6 (unused).
    public static func fractionalDigits(in spelling: String) throws(CSVContractError) -> Int {
        let s = String(spelling.lowercased().filter { $0 != " " })
        guard s.hasPrefix("datetime(") || s.hasPrefix("timestamp("), let open = s.firstIndex(of: "(") else { return 6 }
        let inner = s[s.index(after: open)...].dropLast()
        guard s.hasSuffix(")"), let digits = Int(inner), (0...6).contains(digits) else {
            throw CSVContractError(
                "type '\(spelling)': write datetime or datetime(n) with n from 0 to 6 fractional-second digits (MySQL keeps at most microseconds)"
            )
        }
        return digits
    }

    public var description: String {
        switch self {
        case .int: "int"
        case .bigint: "bigint"
        case .decimal(let p, let s): "decimal(\(p),\(s))"
        case .double: "double"
        case .boolean: "boolean"
        case .date: "date"
        case .datetime: "datetime"
        case .text(let max?): "varchar(\(max))"
        case .text(nil): "text"
        case .enumeration: "enum"
        }
    }

    /// A MySQL string literal: quotes doubled, backslashes escaped (their meaning in MySQL's default mode).
    static func sqlLiteral(_ value: String) -> String {
        var out = "'"
        for ch in value.unicodeScalars {
            switch ch {
            case "'": out += "''"
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "'"
    }

    /// The MySQL column type for DDL.
    public var sqlType: String {
        switch self {
        case .int: "INT"
        case .bigint: "BIGINT"
        case .decimal(let p, let s): "DECIMAL(\(p),\(s))"
        case .double: "DOUBLE"
        case .boolean: "BOOLEAN"
        case .date: "DATE"
        case .datetime: "DATETIME(6)"
        case .text(let max?) where max <= 16_383: "VARCHAR(\(max))"
        case .text(let max?) where max <= 16_777_215: "MEDIUMTEXT"
        case .text: "TEXT"
        case .enumeration(let values):
            "ENUM(" + values.map(Self.sqlLiteral).joined(separator: ",") + ")"
        }
    }
}

/// A contract or route setting that cannot work, with what to write instead.
public struct CSVContractError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
