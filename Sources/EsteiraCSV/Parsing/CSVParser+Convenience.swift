extension CSVParser {
    /// Parses a whole input held in memory, for tests and small inputs (a header sample, a config
    /// table). Files go through `consume` chunk by chunk instead.
    public static func parseAll(
        _ bytes: [UInt8],
        dialect: CSVDialect = .rfc4180,
        limits: CSVLimits = CSVLimits()
    ) -> (records: [[String]], malformed: [MalformedRecord]) {
        var records: [[String]] = []
        var malformed: [MalformedRecord] = []
        var parser = CSVParser(dialect: dialect, limits: limits)
        let collect = { (event: CSVEvent) in
            switch event {
            case .record(let record): records.append(record.strings)
            case .malformed(let refused): malformed.append(refused)
            }
        }
        bytes.withUnsafeBytes { parser.consume($0, collect) }
        parser.finish(collect)
        return (records, malformed)
    }

    /// Parses one chunk held in an array.
    public mutating func consume(_ chunk: [UInt8], _ sink: (CSVEvent) throws -> Void) rethrows {
        try chunk.withUnsafeBytes { try consume($0, sink) }
    }
}
