/// Bounds that keep one bad record from taking the worker's memory: the parser holds at most one
/// record, so its peak memory is about `maxRecordBytes` + `maxRejectedRawBytes` + 8 × `maxFields`
/// bytes, whatever the size of the file.
///
/// Sizes are counted in raw bytes as they appear in the file (quotes and escapes included, the line
/// break excluded), so the same record is refused however the input happens to be chunked.
public struct CSVLimits: Sendable, Hashable {
    /// A record with a longer field is refused with `CSVIssue.fieldTooLarge`.
    public var maxFieldBytes: Int
    /// A longer record is refused with `CSVIssue.recordTooLarge`.
    public var maxRecordBytes: Int
    /// A record with more fields is refused with `CSVIssue.tooManyFields`. MySQL tables stop at 4096
    /// columns, so the default leaves room for junk columns without letting `,,,,` run away.
    public var maxFields: Int
    /// How much of a refused record's raw text is kept in `MalformedRecord.raw`, enough for a person
    /// to recognise the row in the rejects file.
    public var maxRejectedRawBytes: Int

    public init(
        maxFieldBytes: Int = 1 << 20,
        maxRecordBytes: Int = 4 << 20,
        maxFields: Int = 16_384,
        maxRejectedRawBytes: Int = 64 << 10
    ) {
        // Field offsets are stored as UInt32, so a record must stay well below 4 GiB.
        precondition(
            maxFieldBytes > 0 && maxRecordBytes > 0 && maxFields > 0 && maxRejectedRawBytes >= 0,
            "CSVLimits must be positive")
        precondition(maxRecordBytes <= Int(Int32.max), "maxRecordBytes must be below 2 GiB")
        self.maxFieldBytes = maxFieldBytes
        self.maxRecordBytes = maxRecordBytes
        self.maxFields = maxFields
        self.maxRejectedRawBytes = maxRejectedRawBytes
    }
}
