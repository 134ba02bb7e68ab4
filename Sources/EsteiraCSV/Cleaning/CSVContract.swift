/// What a route promises about its files' columns: names, types, nullability, formats, the key, and
/// how to clean. Decoded from the `contract:` block of a route (snake_case keys; see docs/CSV.md), or
/// written by schema inference.
public struct CSVContract: Sendable, Hashable, Codable {
    public var columns: [ColumnContract]
    /// Columns that identify a row. When set, rows repeating an earlier key are dropped (the first
    /// occurrence wins) unless `dedupe.enabled` is false.
    public var key: [String]
    /// Field texts that mean NULL, compared after trimming. A quoted empty field in a text column
    /// stays an empty string; everywhere else an empty field is NULL.
    public var nullTokens: [String]
    /// `.` or `,`; a column can override it.
    public var decimalSeparator: String
    /// `,` `.` space `'`, or empty for none; defaults to the other of `.` and `,`.
    public var thousandsSeparator: String?
    /// Patterns tried in order for date columns (see `DateFormat`).
    public var dateFormats: [String]
    /// Patterns tried in order for datetime columns.
    public var datetimeFormats: [String]
    /// The fixed UTC offset of datetimes that carry none (`-03:00` for Brasília, which has no daylight
    /// saving since 2019); they are written in UTC.
    public var timezone: String
    public var trueValues: [String]
    public var falseValues: [String]
    /// Strip spaces, tabs and no-break spaces around every value (a column can opt out).
    public var trim: Bool
    /// Skip rows whose every field is empty (`;;;;` lines Excel leaves at the end of a sheet).
    public var dropEmptyRows: Bool
    /// What to do with file columns the contract does not name.
    public var extraColumns: ExtraColumns
    public var dedupe: DedupeSettings

    public enum ExtraColumns: String, Sendable, Hashable, Codable {
        /// The file is refused: a new column usually means the export changed and someone should look.
        case refuse
        /// The extra columns are not loaded.
        case ignore
    }

    public static let defaultNullTokens = ["", "NULL", "null"]
    public static let defaultTrueValues = ["true", "t", "1", "yes", "y", "sim", "s", "verdadeiro", "v"]
    public static let defaultFalseValues = ["false", "f", "0", "no", "n", "não", "nao", "falso"]

    public init(columns: [ColumnContract], key: [String] = [], nullTokens: [String] = CSVContract.defaultNullTokens,
                decimalSeparator: String = ".", thousandsSeparator: String? = nil,
                dateFormats: [String] = ["yyyy-MM-dd"], datetimeFormats: [String] = ["iso"],
                timezone: String = "+00:00", trueValues: [String] = CSVContract.defaultTrueValues,
                falseValues: [String] = CSVContract.defaultFalseValues, trim: Bool = true,
                dropEmptyRows: Bool = true, extraColumns: ExtraColumns = .refuse,
                dedupe: DedupeSettings = DedupeSettings()) {
        self.columns = columns
        self.key = key
        self.nullTokens = nullTokens
        self.decimalSeparator = decimalSeparator
        self.thousandsSeparator = thousandsSeparator
        self.dateFormats = dateFormats
        self.datetimeFormats = datetimeFormats
        self.timezone = timezone
        self.trueValues = trueValues
        self.falseValues = falseValues
        self.trim = trim
        self.dropEmptyRows = dropEmptyRows
        self.extraColumns = extraColumns
        self.dedupe = dedupe
    }

    enum CodingKeys: String, CodingKey {
        case columns, key, nullTokens = "null_tokens", decimalSeparator = "decimal_separator"
        case thousandsSeparator = "thousands_separator", dateFormats = "date_formats"
        case datetimeFormats = "datetime_formats", timezone, trueValues = "true_values"
        case falseValues = "false_values", trim, dropEmptyRows = "drop_empty_rows"
        case extraColumns = "extra_columns", dedupe
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CSVContract(columns: [])
        columns = try c.decode([ColumnContract].self, forKey: .columns)
        // `key: order_id` or `key: [order_id, line]`.
        if let one = try? c.decodeIfPresent(String.self, forKey: .key) {
            key = [one]
        } else {
            key = try c.decodeIfPresent([String].self, forKey: .key) ?? []
        }
        nullTokens = try c.decodeIfPresent([String].self, forKey: .nullTokens) ?? d.nullTokens
        decimalSeparator = try c.decodeIfPresent(String.self, forKey: .decimalSeparator) ?? d.decimalSeparator
        thousandsSeparator = try c.decodeIfPresent(String.self, forKey: .thousandsSeparator)
        dateFormats = try c.decodeIfPresent(StringOrList.self, forKey: .dateFormats)?.values ?? d.dateFormats
        datetimeFormats = try c.decodeIfPresent(StringOrList.self, forKey: .datetimeFormats)?.values ?? d.datetimeFormats
        timezone = try c.decodeIfPresent(String.self, forKey: .timezone) ?? d.timezone
        trueValues = try c.decodeIfPresent([String].self, forKey: .trueValues) ?? d.trueValues
        falseValues = try c.decodeIfPresent([String].self, forKey: .falseValues) ?? d.falseValues
        trim = try c.decodeIfPresent(Bool.self, forKey: .trim) ?? d.trim
        dropEmptyRows = try c.decodeIfPresent(Bool.self, forKey: .dropEmptyRows) ?? d.dropEmptyRows
        extraColumns = try c.decodeIfPresent(ExtraColumns.self, forKey: .extraColumns) ?? d.extraColumns
        dedupe = try c.decodeIfPresent(DedupeSettings.self, forKey: .dedupe) ?? d.dedupe
    }

    /// Checks everything that can be checked before a file arrives, so a bad routes file fails at start-up.
    public func validate() throws(CSVContractError) {
        _ = try CompiledContract(self)
    }
}

/// One column of a contract.
public struct ColumnContract: Sendable, Hashable, Codable {
    /// The table column; also how the file's header is matched (both normalised by `HeaderNormalizer`).
    public var name: String
    /// `int`, `bigint`, `decimal(p,s)`, `double`, `boolean`, `date`, `datetime`, `text`, `varchar(n)`, `enum`.
    public var type: String
    /// A row with no value here is refused. Also spelled `nullable: false`.
    public var required: Bool
    /// The header text in the file when it differs from `name` (`"Valor Total (R$)"`).
    public var source: String?
    /// Date or datetime patterns for this column, replacing the contract's.
    public var formats: [String]?
    public var maxLength: Int?
    /// The accepted values of an enum column.
    public var values: [String]?
    public var decimalSeparator: String?
    public var thousandsSeparator: String?
    public var trim: Bool?
    /// Replaces the contract's null tokens for this column.
    public var nullTokens: [String]?

    public init(name: String, type: String, required: Bool = false, source: String? = nil, formats: [String]? = nil,
                maxLength: Int? = nil, values: [String]? = nil, decimalSeparator: String? = nil,
                thousandsSeparator: String? = nil, trim: Bool? = nil, nullTokens: [String]? = nil) {
        self.name = name
        self.type = type
        self.required = required
        self.source = source
        self.formats = formats
        self.maxLength = maxLength
        self.values = values
        self.decimalSeparator = decimalSeparator
        self.thousandsSeparator = thousandsSeparator
        self.trim = trim
        self.nullTokens = nullTokens
    }

    enum CodingKeys: String, CodingKey {
        case name, type, required, nullable, source, formats, format, maxLength = "max_length", values
        case decimalSeparator = "decimal_separator", thousandsSeparator = "thousands_separator", trim
        case nullTokens = "null_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? "text"
        if let nullable = try c.decodeIfPresent(Bool.self, forKey: .nullable) {
            required = !nullable
        } else {
            required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
        }
        source = try c.decodeIfPresent(String.self, forKey: .source)
        formats = try c.decodeIfPresent(StringOrList.self, forKey: .formats)?.values
            ?? c.decodeIfPresent(StringOrList.self, forKey: .format)?.values
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        values = try c.decodeIfPresent([String].self, forKey: .values)
        decimalSeparator = try c.decodeIfPresent(String.self, forKey: .decimalSeparator)
        thousandsSeparator = try c.decodeIfPresent(String.self, forKey: .thousandsSeparator)
        trim = try c.decodeIfPresent(Bool.self, forKey: .trim)
        nullTokens = try c.decodeIfPresent([String].self, forKey: .nullTokens)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(required, forKey: .required)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(formats, forKey: .formats)
        try c.encodeIfPresent(maxLength, forKey: .maxLength)
        try c.encodeIfPresent(values, forKey: .values)
        try c.encodeIfPresent(decimalSeparator, forKey: .decimalSeparator)
        try c.encodeIfPresent(thousandsSeparator, forKey: .thousandsSeparator)
        try c.encodeIfPresent(trim, forKey: .trim)
        try c.encodeIfPresent(nullTokens, forKey: .nullTokens)
    }
}

/// Dropping rows whose key was already seen, in memory that has a hard ceiling.
///
/// How: each key (its typed, canonical values) is hashed to 128 bits and kept in an open-addressing
/// table of 16-byte slots, never more than half full. The table starts at 64 KiB and doubles as keys
/// arrive, up to `maxKeys` keys: 32 bytes per key, so the default million keys cost at most 32 MiB, and
/// a small file a few kilobytes. With 128-bit hashes two different keys collide (and the second row is
/// wrongly dropped) with probability about n²/2¹²⁹: for a billion keys, below 10⁻²⁰.
///
/// Past `maxKeys` distinct keys, `whenFull` decides: `fail` refuses the file (raise `max_keys`), `pass`
/// keeps deduplicating the keys already held but lets rows with new keys through unchecked, leaving any
/// later duplicates to the table's primary key (with load mode insert-ignore or upsert).
public struct DedupeSettings: Sendable, Hashable, Codable {
    public enum WhenFull: String, Sendable, Hashable, Codable { case fail, pass }

    public var enabled: Bool
    public var maxKeys: Int
    public var whenFull: WhenFull

    public init(enabled: Bool = true, maxKeys: Int = 1_000_000, whenFull: WhenFull = .fail) {
        self.enabled = enabled
        self.maxKeys = maxKeys
        self.whenFull = whenFull
    }

    enum CodingKeys: String, CodingKey { case enabled, maxKeys = "max_keys", whenFull = "when_full" }

    /// `dedupe: false`, or `dedupe: {max_keys: 5000000, when_full: pass}`.
    public init(from decoder: any Decoder) throws {
        let d = DedupeSettings()
        if let flag = try? decoder.singleValueContainer().decode(Bool.self) {
            enabled = flag
            maxKeys = d.maxKeys
            whenFull = d.whenFull
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        maxKeys = try c.decodeIfPresent(Int.self, forKey: .maxKeys) ?? d.maxKeys
        whenFull = try c.decodeIfPresent(WhenFull.self, forKey: .whenFull) ?? d.whenFull
    }
}

/// `formats: dd/MM/yyyy` or `formats: [dd/MM/yyyy, yyyy-MM-dd]`.
struct StringOrList: Decodable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
    }
}
