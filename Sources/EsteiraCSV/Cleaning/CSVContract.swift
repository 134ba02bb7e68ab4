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

    public init(
        columns: [ColumnContract], key: [String] = [], nullTokens: [String] = CSVContract.defaultNullTokens,
        decimalSeparator: String = ".", thousandsSeparator: String? = nil,
        dateFormats: [String] = ["yyyy-MM-dd"], datetimeFormats: [String] = ["iso"],
        timezone: String = "+00:00", trueValues: [String] = CSVContract.defaultTrueValues,
        falseValues: [String] = CSVContract.defaultFalseValues, trim: Bool = true,
        dropEmptyRows: Bool = true, extraColumns: ExtraColumns = .refuse,
        dedupe: DedupeSettings = DedupeSettings()
    ) {
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case columns, key
        case nullTokens = "null_tokens"
        case decimalSeparator = "decimal_separator"
        case thousandsSeparator = "thousands_separator"
        case dateFormats = "date_formats"
        case datetimeFormats = "datetime_formats"
        case timezone
        case trueValues = "true_values"
        case falseValues = "false_values"
        case trim
        case dropEmptyRows = "drop_empty_rows"
        case extraColumns = "extra_columns"
        case dedupe
    }

    public init(from decoder: any Decoder) throws {
        try MappingKeys.refuseUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "contract: ")
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
        datetimeFormats =
            try c.decodeIfPresent(StringOrList.self, forKey: .datetimeFormats)?.values ?? d.datetimeFormats
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

    public init(
        name: String, type: String, required: Bool = false, source: String? = nil, formats: [String]? = nil,
        maxLength: Int? = nil, values: [String]? = nil, decimalSeparator: String? = nil,
        thousandsSeparator: String? = nil, trim: Bool? = nil, nullTokens: [String]? = nil
    ) {
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, type, required, nullable, source, formats, format
        case maxLength = "max_length"
        case values
        case decimalSeparator = "decimal_separator"
        case thousandsSeparator = "thousands_separator"
        case trim
        case nullTokens = "null_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        try MappingKeys.refuseUnknown(
            in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "contract column '\(name)': ")
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? "text"
        if let nullable = try c.decodeIfPresent(Bool.self, forKey: .nullable) {
            required = !nullable
        } else {
            required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
        }
        source = try c.decodeIfPresent(String.self, forKey: .source)
        formats =
            try c.decodeIfPresent(StringOrList.self, forKey: .formats)?.values
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

/// Dropping rows whose key was already seen, in bounded memory, for files of any size.
///
/// How (docs/CSV.md has the reasoning): each key (its typed, canonical values) is hashed to 128 bits
/// with a seed drawn at random per file, and kept in an open-addressing table in memory. When that table
/// reaches its share of `maxMemoryBytes` its hashes are sorted and written to a temporary file (a run),
/// and a Bloom filter in memory remembers them; runs are merged as they pile up, so there are only
/// log₂(keys / table) of them. A row's key is checked against the table, then, only when the Bloom filter
/// says "maybe", against the runs (one 16 KiB read per run). The decision is made as the row passes, so
/// rows still stream to MySQL in file order. Temporary files are unlinked as soon as they are created:
/// nothing is left behind, even by a process that dies.
///
/// With 128-bit hashes two different keys collide (and the second row is wrongly dropped) with
/// probability about n²/2¹²⁹: for a billion keys, below 10⁻²⁰; the random seed keeps a crafted file from
/// choosing collisions.
///
/// Past `maxDiskBytes` of temporary files (or `maxKeys`, when set), `whenFull` decides: `fail` refuses the
/// file with the limit it hit, `pass` keeps deduplicating the keys already held but lets rows with new
/// keys through unchecked, leaving any later duplicates to the table's primary key (with load mode
/// insert-ignore or upsert).
public struct DedupeSettings: Sendable, Hashable, Codable {
    public enum WhenFull: String, Sendable, Hashable, Codable { case fail, pass }

    public static let defaultMaxMemoryBytes = 40 << 20
    public static let defaultMaxDiskBytes: Int64 = 512 << 20

    public var enabled: Bool
    /// A cap on distinct keys, for routes that want one; nil (the default): only the disk cap applies.
    public var maxKeys: Int?
    public var whenFull: WhenFull
    /// Memory for the in-memory table and the Bloom filter (default 40 MiB, at least 1 MiB).
    public var maxMemoryBytes: Int
    /// Temporary disk for the spilled runs of one file (default 512 MiB; 16 bytes per key, twice that
    /// while two runs merge).
    public var maxDiskBytes: Int64
    /// Where the runs go; nil: `TMPDIR`, else /tmp.
    public var tempDirectory: String?

    public init(
        enabled: Bool = true, maxKeys: Int? = nil, whenFull: WhenFull = .fail,
        maxMemoryBytes: Int = DedupeSettings.defaultMaxMemoryBytes,
        maxDiskBytes: Int64 = DedupeSettings.defaultMaxDiskBytes, tempDirectory: String? = nil
    ) {
        self.enabled = enabled
        self.maxKeys = maxKeys
        self.whenFull = whenFull
        self.maxMemoryBytes = maxMemoryBytes
        self.maxDiskBytes = maxDiskBytes
        self.tempDirectory = tempDirectory
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled
        case maxKeys = "max_keys"
        case whenFull = "when_full"
        case maxMemoryBytes = "max_memory"
        case maxDiskBytes = "max_disk"
        case tempDirectory = "temp_directory"
    }

    /// `dedupe: false`, or `dedupe: {max_memory: 16MiB, max_disk: 2GiB, when_full: pass}`.
    public init(from decoder: any Decoder) throws {
        let d = DedupeSettings()
        if let flag = try? decoder.singleValueContainer().decode(Bool.self) {
            self = d
            enabled = flag
            return
        }
        try MappingKeys.refuseUnknown(
            in: decoder, known: CodingKeys.allCases.map(\.rawValue), section: "contract dedupe: ")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        maxKeys = try c.decodeIfPresent(Int.self, forKey: .maxKeys)
        whenFull = try c.decodeIfPresent(WhenFull.self, forKey: .whenFull) ?? d.whenFull
        maxMemoryBytes = Int(try Self.bytes(c, .maxMemoryBytes) ?? Int64(d.maxMemoryBytes))
        maxDiskBytes = try Self.bytes(c, .maxDiskBytes) ?? d.maxDiskBytes
        tempDirectory = try c.decodeIfPresent(String.self, forKey: .tempDirectory)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enabled, forKey: .enabled)
        try c.encodeIfPresent(maxKeys, forKey: .maxKeys)
        try c.encode(whenFull, forKey: .whenFull)
        try c.encode(maxMemoryBytes, forKey: .maxMemoryBytes)
        try c.encode(maxDiskBytes, forKey: .maxDiskBytes)
        try c.encodeIfPresent(tempDirectory, forKey: .tempDirectory)
    }

    /// A byte count as a number or text: `16777216`, `16MiB`, `2GiB`, `500MB`.
    private static func bytes(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int64? {
        if let n = try? c.decodeIfPresent(Int64.self, forKey: key) { return n }
        guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let n = parseBytes(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "'\(text)' is not a size such as 16MiB or 2GiB")
        }
        return n
    }

    static func parseBytes(_ text: String) -> Int64? {
        let s = text.trimmingSpaces.uppercased()
        let units: [(String, Double)] = [
            ("KIB", 1024), ("MIB", 1_048_576), ("GIB", 1_073_741_824),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("B", 1),
        ]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            guard let n = Double(String(s.dropLast(suffix.count)).trimmingSpaces), n > 0, n * factor < 9e18 else {
                return nil
            }
            return Int64(n * factor)
        }
        return Int64(s).flatMap { $0 > 0 ? $0 : nil }
    }

    /// What is wrong with the settings, or nil.
    var problem: String? {
        if let maxKeys, maxKeys < 1 { return "dedupe.max_keys must be at least 1" }
        if maxMemoryBytes < 1 << 20 { return "dedupe.max_memory must be at least 1MiB" }
        if maxDiskBytes < 0 { return "dedupe.max_disk cannot be negative" }
        return nil
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
