/// A streaming CSV parser: feed it byte chunks of any size, split anywhere, and it calls a sink with
/// every record and every refused record, in order. It never holds more than one record, so memory is
/// bounded by `CSVLimits` whatever the size of the file.
///
/// What it accepts, beyond RFC 4180: LF, CRLF and lone CR line ends (mixed freely); a UTF-8 byte order
/// mark at the very start of the input (skipped; anywhere else it is data); blank lines (skipped and
/// counted in `statistics`); any delimiter, quote and escape byte (`CSVDialect`).
///
/// What it refuses, each time as one `MalformedRecord` with its line number, raw text and reason,
/// after which parsing resumes with the next record:
/// - a quote inside a field that did not start with one (unless `CSVDialect.bareQuote` says keep it);
/// - text after a closing quote, as in `"a"b`;
/// - a field, a record or a field count over `CSVLimits`;
/// - at the end of input, an unterminated quoted field or a dangling escape.
///
/// Where the next record starts after a refusal: the parser keeps reading the refused record with the
/// same quoting rules, only more forgiving (a bare quote or text after a closing quote is read as
/// text), until a line break outside quotes. So a long quoted field that breaks a limit does not spill
/// its inner lines out as records; the price is that an unbalanced quote takes the lines up to the next
/// quote with it, which `MalformedRecord.endLine` makes visible.
///
/// What it leaves to the layer above: field counts (ragged rows are reported as they are, `count`
/// differs), headers, charsets (the input must be ASCII-compatible, e.g. UTF-8) and types.
///
/// Line numbers are physical lines, 1-based: every CR, LF or CRLF counts once, inside quotes too.
///
/// If the sink throws, the error propagates and the parser is left unusable: a later call traps
/// rather than read a chunk that is gone.
public struct CSVParser: ~Copyable {
    public let dialect: CSVDialect
    public let limits: CSVLimits

    /// One bit per special byte, so each fast path stops on a mask test of a table lookup.
    private enum ByteClass {
        static let delimiter: UInt8 = 1
        static let quote: UInt8 = 2
        static let escape: UInt8 = 4
        static let carriageReturn: UInt8 = 8
        static let lineFeed: UInt8 = 16
        static let lineBreak: UInt8 = carriageReturn | lineFeed
        /// Looked at only where a record would start; never a stop inside one.
        static let comment: UInt8 = 32
    }

    private enum State: UInt8 {
        case recordStart, fieldStart, unquoted, quoted, quoteInQuoted, escapeInUnquoted, escapeInQuoted
        /// In a comment line, or a line skipped by `skipRows`: read to its line break, no record.
        case skippedLine
    }

    private let classes: UnsafeMutablePointer<UInt8>
    private let unquotedStops: UInt8
    private let quotedStops: UInt8
    /// The same two stop sets for `StopMask`, which finds stops 64 bytes at a time.
    private let unquotedStopMask: StopMask
    private let quotedStopMask: StopMask
    private let maxFieldBytes: Int
    private let maxRecordBytes: Int
    private let maxFields: Int
    private let maxRejectedRawBytes: Int

    private var state = State.recordStart
    /// Where the current record and field start, as offsets into the current chunk; negative once they
    /// began in an earlier chunk (the offsets shift down by each chunk's length).
    private var recordOrigin = 0
    private var fieldOrigin = 0
    private var fieldFlags: UInt8 = 0
    private var fieldCount = 0
    private var recordNeedsDecoding = false
    /// Set once the current record is refused: the rest of it is read only to find where it ends.
    private var refusal: CSVIssue?

    private var spans: UnsafeMutablePointer<FieldSpan>
    /// Where decoded fields lie in `decoded`, at the same index as in `spans`.
    private var decodedSpans: UnsafeMutablePointer<FieldSpan>
    private var spanCapacity: Int
    /// The raw bytes of a record that began in an earlier chunk (only its first `maxRejectedRawBytes`
    /// once refused). A record inside one chunk is read in place and never copied.
    private var carry = ByteBuffer()
    /// The content of fields whose quotes or escapes had to be resolved.
    private var decoded = ByteBuffer()

    private var line = 1
    private var recordLine = 1
    /// Lines of `dialect.skipRows` still to skip at the start of the input.
    private var linesToSkip: Int
    /// The last byte of the previous chunk, to recognise a CRLF split between two chunks.
    private var lastByte: UInt8 = 0
    private var atInputStart = true
    private var byteOrderMarkMatched = 0
    private var counts = CSVParseStatistics()
    /// Set while a call is under way; still set afterwards only if the sink threw out of it.
    private var interrupted = false

    public init(dialect: CSVDialect = .rfc4180, limits: CSVLimits = CSVLimits()) {
        if let reason = dialect.invalidReason { preconditionFailure("invalid CSVDialect: \(reason)") }
        precondition(
            limits.maxFieldBytes > 0 && limits.maxRecordBytes > 0 && limits.maxFields > 0
                && limits.maxRejectedRawBytes >= 0 && limits.maxRecordBytes <= Int(Int32.max),
            "invalid CSVLimits")
        var dialect = dialect
        if dialect.escape == dialect.quote { dialect.escape = nil }
        self.dialect = dialect
        self.limits = limits
        maxFieldBytes = limits.maxFieldBytes
        maxRecordBytes = limits.maxRecordBytes
        maxFields = limits.maxFields
        maxRejectedRawBytes = limits.maxRejectedRawBytes

        classes = .allocate(capacity: 256)
        classes.initialize(repeating: 0, count: 256)
        classes[Int(dialect.delimiter)] = ByteClass.delimiter
        if let quote = dialect.quote { classes[Int(quote)] = ByteClass.quote }
        if let escape = dialect.escape { classes[Int(escape)] = ByteClass.escape }
        if let comment = dialect.comment { classes[Int(comment)] = ByteClass.comment }
        linesToSkip = dialect.skipRows
        classes[0x0D] = ByteClass.carriageReturn
        classes[0x0A] = ByteClass.lineFeed
        // Under .keepAsText a quote is ordinary inside an unquoted field, so it need not stop the scan.
        let bareQuoteStops = dialect.quote != nil && dialect.bareQuote == .refuseRecord ? ByteClass.quote : 0
        unquotedStops = ByteClass.delimiter | ByteClass.escape | ByteClass.lineBreak | bareQuoteStops
        quotedStops = ByteClass.quote | ByteClass.escape | ByteClass.lineBreak
        // An absent stop (no escape; a quote kept as text) repeats LF, which is a stop anyway.
        let lf: UInt8 = 0x0A
        unquotedStopMask = StopMask(
            dialect.delimiter, bareQuoteStops != 0 ? dialect.quote ?? lf : lf, dialect.escape ?? lf, 0x0D, lf)
        quotedStopMask = StopMask(dialect.quote ?? lf, dialect.escape ?? lf, 0x0D, lf, lf)

        spanCapacity = min(64, limits.maxFields)
        spans = .allocate(capacity: spanCapacity)
        decodedSpans = .allocate(capacity: spanCapacity)
    }

    deinit {
        classes.deallocate()
        spans.deallocate()
        decodedSpans.deallocate()
    }

    /// Counts so far (bytes, lines, records, refusals, blank lines), for progress and metrics.
    public var statistics: CSVParseStatistics {
        var result = counts
        result.lineCount = counts.byteCount == 0 ? 0 : (lastByte == 0x0A || lastByte == 0x0D ? line - 1 : line)
        return result
    }

    /// Parses one chunk: calls `sink` for every record that ends in it, and keeps the unfinished tail.
    /// The chunk may end anywhere, even between the CR and LF of a line break or inside a UTF-8 character.
    public mutating func consume(_ chunk: UnsafeRawBufferPointer, _ sink: (CSVEvent) throws -> Void) rethrows {
        precondition(!interrupted, "CSVParser used again after its sink threw")
        guard var start = chunk.baseAddress, chunk.count > 0 else { return }
        interrupted = true
        var count = chunk.count
        counts.byteCount += count
        if atInputStart {
            // The byte order mark may itself be split across chunks.
            while byteOrderMarkMatched < 3, count > 0,
                start.load(as: UInt8.self) == Self.byteOrderMark(byteOrderMarkMatched)
            {
                byteOrderMarkMatched += 1
                start += 1
                count -= 1
            }
            if byteOrderMarkMatched == 3 {
                atInputStart = false
            } else if count > 0 {
                atInputStart = false
                try replayByteOrderMarkPrefix(sink)
            }
        }
        if count > 0 { try parse(start, count, sink) }
        interrupted = false
    }

    /// Ends the input: emits the last record when the input does not end with a line break, or refuses
    /// it when a quoted field or an escape is left open. Returns the statistics and resets the parser,
    /// which can then read another input with its buffers already grown.
    @discardableResult
    public mutating func finish(_ sink: (CSVEvent) throws -> Void) rethrows -> CSVParseStatistics {
        precondition(!interrupted, "CSVParser used again after its sink threw")
        interrupted = true
        if atInputStart {
            atInputStart = false
            try replayByteOrderMarkPrefix(sink)
        }
        // A comment or skipped line at the end of the input, without a line break: no record.
        if state == .skippedLine { state = .recordStart }
        if state != .recordStart {
            switch state {
            case .quoted, .escapeInQuoted:
                if refusal == nil { refuse(.unterminatedQuote(field: fieldCount), at: 0) }
            case .escapeInUnquoted:
                if refusal == nil { refuse(.danglingEscape(field: fieldCount), at: 0) }
            case .quoteInQuoted:
                endField(at: 0, contentEnd: -1)
            case .fieldStart:
                fieldFlags = 0  // an empty last field after a trailing delimiter
                endField(at: 0, contentEnd: 0)
            case .unquoted, .recordStart, .skippedLine:
                endField(at: 0, contentEnd: 0)
            }
            // The whole record is in `carry` now, so the chunk pointer is never read.
            try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { none in
                try endRecord(at: 0, UnsafeRawPointer(none.baseAddress.unsafelyUnwrapped), sink)
            }
        }
        let result = statistics
        reset()
        interrupted = false
        return result
    }

    /// Refuses the record being read, or the next one if the parser is between records, because the
    /// charset layer found a byte it could not decode there. Lets one bad byte cost one row, with its
    /// line and field, instead of the whole file.
    public mutating func refuseCurrentRecord(invalidByte byte: UInt8, charset: String) {
        // A bad byte in a comment or skipped line costs nothing: the line is not data.
        guard refusal == nil, state != .skippedLine else { return }
        let field = state == .recordStart ? 0 : fieldCount
        refusal = .invalidEncoding(field: field, byte: byte, charset: charset)
        carry.truncate(to: maxRejectedRawBytes)
    }

    private mutating func reset() {
        state = .recordStart
        fieldCount = 0
        recordNeedsDecoding = false
        refusal = nil
        carry.removeAll()
        decoded.removeAll()
        line = 1
        recordLine = 1
        linesToSkip = dialect.skipRows
        lastByte = 0
        atInputStart = true
        byteOrderMarkMatched = 0
        counts = CSVParseStatistics()
    }

    private static func byteOrderMark(_ index: Int) -> UInt8 {
        index == 0 ? 0xEF : index == 1 ? 0xBB : 0xBF
    }

    /// Feeds back the first bytes of an input that looked like a byte order mark and was not one.
    private mutating func replayByteOrderMarkPrefix(_ sink: (CSVEvent) throws -> Void) rethrows {
        let prefix: [UInt8] = (0..<byteOrderMarkMatched).map(Self.byteOrderMark)
        byteOrderMarkMatched = 0
        guard !prefix.isEmpty else { return }
        try prefix.withUnsafeBytes { try parse($0.baseAddress.unsafelyUnwrapped, $0.count, sink) }
    }

    // MARK: - The state machine

    private mutating func parse(_ buf: UnsafeRawPointer, _ n: Int, _ sink: (CSVEvent) throws -> Void) rethrows {
        let classes = self.classes
        let unquotedStops = self.unquotedStops
        let quotedStops = self.quotedStops
        @inline(__always) func classOf(_ i: Int) -> UInt8 {
            classes[Int(buf.load(fromByteOffset: i, as: UInt8.self))]
        }
        // The stops of 64 bytes at a time as bits, one mask per stop set, kept while the scan moves
        // through them: most fields are a few bytes, so one mask serves several. A byte loop a field
        // would pay a mispredicted branch at its end; the mask pays a count of trailing zeros.
        let unquotedStopMask = self.unquotedStopMask
        let quotedStopMask = self.quotedStopMask
        var unquotedBase = -128
        var unquotedBits: UInt64 = 0
        var quotedBase = -128
        var quotedBits: UInt64 = 0
        /// The first stop at or after `from`, or `n`.
        @inline(__always) func nextStop(
            _ from: Int, _ stopMask: StopMask, _ stops: UInt8, _ base: inout Int, _ bits: inout UInt64
        ) -> Int {
            var q = from
            while true {
                let offset = UInt(bitPattern: q &- base)
                if offset < 64 {
                    let rest = bits &>> UInt64(offset)
                    if rest != 0 { return q &+ rest.trailingZeroBitCount }
                    q = base &+ 64
                }
                // Within 64 bytes of the end of the chunk: byte by byte.
                guard q &+ 64 <= n else {
                    while q < n && classOf(q) & stops == 0 { q &+= 1 }
                    return q
                }
                base = q
                bits = stopMask.mask64(buf + q)
            }
        }

        var p = 0
        while p < n {
            switch state {
            case .recordStart:
                let c = classOf(p)
                if linesToSkip > 0 || c & ByteClass.comment != 0 {
                    // The LF of a CRLF whose CR ended the previous line is not a line of its own.
                    if c == ByteClass.lineFeed && byte(before: p, buf) == 0x0D {
                        p += 1
                        continue
                    }
                    state = .skippedLine
                    continue
                }
                if c & ByteClass.lineBreak != 0 {
                    // A blank line, unless this is the LF of a CRLF whose CR ended the previous line.
                    if !(c == ByteClass.lineFeed && byte(before: p, buf) == 0x0D) {
                        line += 1
                        counts.blankLineCount += 1
                    }
                    p += 1
                    continue
                }
                recordOrigin = p
                recordLine = line
                state = .fieldStart

            case .fieldStart:
                fieldOrigin = p
                if classOf(p) & ByteClass.quote != 0 {
                    fieldFlags = FieldSpan.quoted
                    state = .quoted
                    p += 1
                } else {
                    fieldFlags = 0
                    state = .unquoted
                }

            case .unquoted:
                var q = p
                // The fast path: plain field after plain field, in locals, while nothing needs a decision.
                // Anything else (a limit, a refusal, a full span table) goes to the general code below.
                if refusal == nil {
                    var origin = fieldOrigin
                    var count = fieldCount
                    var flags = fieldFlags
                    let room = min(spanCapacity, maxFields)
                    let record = recordOrigin
                    let fieldLimit = maxFieldBytes
                    let recordLimit = maxRecordBytes
                    let spans = self.spans
                    while true {
                        q = nextStop(q, unquotedStopMask, unquotedStops, &unquotedBase, &unquotedBits)
                        guard q < n, classOf(q) == ByteClass.delimiter, count < room,
                            q &- origin <= fieldLimit, q &- record <= recordLimit
                        else { break }
                        spans[count] = FieldSpan(
                            start: UInt32(truncatingIfNeeded: origin &- record),
                            end: UInt32(truncatingIfNeeded: q &- record), flags: flags)
                        if flags & FieldSpan.needsDecoding != 0 { recordNeedsDecoding = true }
                        count &+= 1
                        q &+= 1
                        origin = q
                        flags = 0
                        // The next field may open with a quote, here or in the next chunk.
                        if q == n || classOf(q) & ByteClass.quote != 0 {
                            state = .fieldStart
                            break
                        }
                    }
                    fieldOrigin = origin
                    fieldCount = count
                    fieldFlags = flags
                    if state == .fieldStart {
                        p = q
                        continue
                    }
                } else {
                    while q < n && classOf(q) & unquotedStops == 0 { q &+= 1 }
                }
                p = q
                guard q < n else { continue }
                let c = classOf(q)
                p = q + 1
                if c & ByteClass.delimiter != 0 {
                    endField(at: q, contentEnd: q)
                    fieldOrigin = p
                    if p < n && classOf(p) & ByteClass.quote == 0 {
                        fieldFlags = 0  // still .unquoted: the next field starts plain
                    } else {
                        state = .fieldStart
                    }
                } else if c & ByteClass.lineBreak != 0 {
                    endField(at: q, contentEnd: q)
                    try endRecord(at: q, buf, sink)
                    p = afterLineBreak(c, at: q, buf, n)
                } else if c & ByteClass.escape != 0 {
                    fieldFlags |= FieldSpan.needsDecoding
                    state = .escapeInUnquoted
                } else if refusal == nil {
                    // A bare quote. Once refused, the rest of the record reads it as text.
                    refuse(.bareQuote(field: fieldCount), at: q)
                }

            case .quoted:
                let q = nextStop(p, quotedStopMask, quotedStops, &quotedBase, &quotedBits)
                p = q
                guard q < n else { continue }
                let c = classOf(q)
                p = q + 1
                if c & ByteClass.quote != 0 {
                    state = .quoteInQuoted
                } else if c & ByteClass.escape != 0 {
                    fieldFlags |= FieldSpan.needsDecoding
                    state = .escapeInQuoted
                } else {
                    countLineBreak(c, at: q, buf)
                }

            case .quoteInQuoted:
                // The quote before `p` either closes the field or, doubled, stands for one quote.
                let c = classOf(p)
                if c & ByteClass.quote != 0 {
                    fieldFlags |= FieldSpan.needsDecoding
                    state = .quoted
                    p += 1
                } else if c & ByteClass.delimiter != 0 {
                    endField(at: p, contentEnd: p - 1)
                    p += 1
                    fieldOrigin = p
                    state = .fieldStart
                } else if c & ByteClass.lineBreak != 0 {
                    endField(at: p, contentEnd: p - 1)
                    try endRecord(at: p, buf, sink)
                    p = afterLineBreak(c, at: p, buf, n)
                } else {
                    if refusal == nil { refuse(.textAfterClosingQuote(field: fieldCount), at: p) }
                    state = .unquoted
                }

            case .skippedLine:
                var q = p
                while q < n && classOf(q) & ByteClass.lineBreak == 0 { q += 1 }
                p = q
                guard q < n else { continue }
                countLineBreak(classOf(q), at: q, buf)
                p = q + 1
                if linesToSkip > 0 { linesToSkip -= 1 }
                state = .recordStart

            case .escapeInUnquoted, .escapeInQuoted:
                let c = classOf(p)
                if c & ByteClass.lineBreak != 0 { countLineBreak(c, at: p, buf) }
                p += 1
                state = state == .escapeInQuoted ? .quoted : .unquoted
            }
        }

        // The chunk ends inside a record: keep its raw bytes so far, within the limits.
        if state != .recordStart && state != .skippedLine {
            if refusal == nil, let issue = sizeIssue(at: n) { refuse(issue, at: n) }
            let from = max(recordOrigin, 0)
            let room = refusal == nil ? n - from : min(n - from, max(0, maxRejectedRawBytes - carry.count))
            carry.append(buf + from, count: room)
            recordOrigin -= n
            fieldOrigin -= n
        }
        lastByte = buf.load(fromByteOffset: n - 1, as: UInt8.self)
    }

    /// Steps over the line break at `q` that ended a record, its LF too if it is a CRLF, and starts the
    /// next record at once when it begins with a plain byte: saves two trips through the state switch
    /// per record.
    @inline(__always)
    private mutating func afterLineBreak(_ c: UInt8, at q: Int, _ buf: UnsafeRawPointer, _ n: Int) -> Int {
        countLineBreak(c, at: q, buf)
        var p = q + 1
        if c == ByteClass.carriageReturn && p < n && buf.load(fromByteOffset: p, as: UInt8.self) == 0x0A { p += 1 }
        if p < n && classes[Int(buf.load(fromByteOffset: p, as: UInt8.self))] == 0 {
            recordOrigin = p
            recordLine = line
            fieldOrigin = p
            fieldFlags = 0
            state = .unquoted
        } else {
            state = .recordStart
        }
        return p
    }

    @inline(__always)
    private func byte(before p: Int, _ buf: UnsafeRawPointer) -> UInt8 {
        p > 0 ? buf.load(fromByteOffset: p - 1, as: UInt8.self) : lastByte
    }

    /// Counts a CR, an LF or a CRLF as one physical line.
    @inline(__always)
    private mutating func countLineBreak(_ c: UInt8, at p: Int, _ buf: UnsafeRawPointer) {
        if c == ByteClass.carriageReturn || byte(before: p, buf) != 0x0D { line += 1 }
    }

    /// Ends the current field at `end` (its delimiter or line break); `contentEnd` excludes a closing quote.
    @inline(__always)
    private mutating func endField(at end: Int, contentEnd: Int) {
        defer { fieldCount += 1 }
        guard refusal == nil else { return }
        if end - fieldOrigin > maxFieldBytes || end - recordOrigin > maxRecordBytes || fieldCount == maxFields {
            refuse(.tooManyFields(limit: maxFields), at: end)
            return
        }
        if fieldCount == spanCapacity { growSpans() }
        // A quoted field's content starts after its opening quote (the flag's value is 1).
        let contentStart = fieldOrigin + Int(fieldFlags & FieldSpan.quoted)
        spans[fieldCount] = FieldSpan(
            start: UInt32(truncatingIfNeeded: contentStart - recordOrigin),
            end: UInt32(truncatingIfNeeded: contentEnd - recordOrigin),
            flags: fieldFlags)
        if fieldFlags & FieldSpan.needsDecoding != 0 { recordNeedsDecoding = true }
    }

    private mutating func growSpans() {
        let newCapacity = min(spanCapacity * 2, maxFields)
        let newSpans = UnsafeMutablePointer<FieldSpan>.allocate(capacity: newCapacity)
        newSpans.moveInitialize(from: spans, count: fieldCount)
        spans.deallocate()
        spans = newSpans
        // Filled only when the record ends, so there is nothing to move.
        decodedSpans.deallocate()
        decodedSpans = .allocate(capacity: newCapacity)
        spanCapacity = newCapacity
    }

    /// Refuses the current record. A size limit crossed before `position` wins over `issue`, so the
    /// reason does not depend on where the input was cut into chunks.
    private mutating func refuse(_ issue: CSVIssue, at position: Int) {
        refusal = sizeIssue(at: position) ?? issue
        carry.truncate(to: maxRejectedRawBytes)
    }

    /// The size limit the record has crossed before `position`, the earliest one if both have.
    private func sizeIssue(at position: Int) -> CSVIssue? {
        let fieldOver = position - fieldOrigin > maxFieldBytes
        let recordOver = position - recordOrigin > maxRecordBytes
        if fieldOver && (!recordOver || fieldOrigin + maxFieldBytes <= recordOrigin + maxRecordBytes) {
            return .fieldTooLarge(field: fieldCount, limit: maxFieldBytes)
        }
        return recordOver ? .recordTooLarge(limit: maxRecordBytes) : nil
    }

    /// Hands the record that ends at `end` (its line break) to the sink and gets ready for the next.
    private mutating func endRecord(at end: Int, _ buf: UnsafeRawPointer, _ sink: (CSVEvent) throws -> Void) rethrows {
        defer {
            fieldCount = 0
            recordNeedsDecoding = false
            refusal = nil
            carry.removeAll()
            decoded.removeAll()
        }
        if let issue = refusal {
            counts.malformedCount += 1
            try sink(.malformed(malformedRecord(endingAt: end, buf, issue)))
            return
        }
        let raw: UnsafeRawBufferPointer
        if recordOrigin >= 0 {
            raw = UnsafeRawBufferPointer(start: buf + recordOrigin, count: end - recordOrigin)
        } else {
            carry.append(buf, count: end)
            raw = carry.bytes
        }
        if recordNeedsDecoding { decodeFields(raw) }
        counts.recordCount += 1
        try sink(
            .record(
                CSVRecord(
                    line: recordLine, endLine: line, raw: raw, spans: spans, count: fieldCount,
                    decoded: decoded.base.map(UnsafeRawPointer.init), decodedSpans: decodedSpans)))
    }

    private func malformedRecord(endingAt end: Int, _ buf: UnsafeRawPointer, _ issue: CSVIssue) -> MalformedRecord {
        var kept: [UInt8]
        if recordOrigin >= 0 {
            kept = Array(
                UnsafeRawBufferPointer(
                    start: buf + recordOrigin,
                    count: min(end - recordOrigin, maxRejectedRawBytes)))
        } else {
            kept = Array(carry.bytes)
            let room = min(end, maxRejectedRawBytes - kept.count)
            if room > 0 { kept += UnsafeRawBufferPointer(start: buf, count: room) }
        }
        return MalformedRecord(
            line: recordLine, endLine: line, raw: kept, rawByteCount: end - recordOrigin,
            reason: issue)
    }

    /// Resolves doubled quotes and escapes into `decoded`, and points those fields there (their raw
    /// spans stay, for `CSVRecord.rawField(at:)`).
    private mutating func decodeFields(_ raw: UnsafeRawBufferPointer) {
        let quote = dialect.quote.map(Int.init) ?? -1
        let escape = dialect.escape.map(Int.init) ?? -1
        // Decoding only ever shortens a field, so this one reservation covers the whole record.
        decoded.reserve(raw.count)
        for index in 0..<fieldCount where spans[index].flags & FieldSpan.needsDecoding != 0 {
            let span = spans[index]
            let unquoted = !span.isQuoted
            let start = decoded.count
            var i = Int(span.start)
            let end = Int(span.end)
            while i < end {
                let b = raw[i]
                if Int(b) == escape && i + 1 < end {
                    decoded.appendReserved(raw[i + 1])
                    i += 2
                } else if Int(b) == quote && !unquoted && i + 1 < end && raw[i + 1] == b {
                    decoded.appendReserved(b)
                    i += 2
                } else {
                    decoded.appendReserved(b)
                    i += 1
                }
            }
            decodedSpans[index] = FieldSpan(start: UInt32(start), end: UInt32(decoded.count), flags: span.flags)
            spans[index].flags |= FieldSpan.decoded
        }
    }
}

/// Finds the bytes of a stop set (up to five bytes) 64 at a time and returns them as a bit mask, bit i
/// for byte i, so a scan jumps from stop to stop with a count of trailing zeros.
///
/// Plain SIMD arithmetic (Swift's SIMD comparisons do not compile to vector compares): per byte, with
/// `t = byte ^ stop`, `((t & 0x7F) + 0x7F) | t` has its high bit clear exactly when `t` is zero, and no
/// carry crosses bytes. The high bits of each 8-byte lane are then gathered into 8 bits with one
/// multiplication.
struct StopMask {
    private let a: SIMD16<UInt8>, b: SIMD16<UInt8>, c: SIMD16<UInt8>, d: SIMD16<UInt8>, e: SIMD16<UInt8>

    init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8) {
        self.a = SIMD16(repeating: a)
        self.b = SIMD16(repeating: b)
        self.c = SIMD16(repeating: c)
        self.d = SIMD16(repeating: d)
        self.e = SIMD16(repeating: e)
    }

    /// The high bit of each byte of `x`, byte i to bit i.
    @inline(__always)
    static func gather(_ x: UInt64) -> UInt64 {
        // Byte j's bit lands at 8j + 7k + 7 for each k; only k = 7 - j reaches bits 56...63 (as bit
        // 56 + j), and no two products share a bit, so nothing carries.
        (((x & 0x8080_8080_8080_8080) &>> 7) &* 0x0102_0408_1020_4080) &>> 56
    }

    @inline(__always)
    func mask16(_ p: UnsafeRawPointer) -> UInt64 {
        let v = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let low7 = SIMD16<UInt8>(repeating: 0x7F)
        @inline(__always) func nonZero(_ t: SIMD16<UInt8>) -> SIMD16<UInt8> { ((t & low7) &+ low7) | t }
        let none = nonZero(v ^ a) & nonZero(v ^ b) & nonZero(v ^ c) & nonZero(v ^ d) & nonZero(v ^ e)
        let lanes = unsafeBitCast(~none, to: SIMD2<UInt64>.self)
        return Self.gather(UInt64(littleEndian: lanes[0])) | Self.gather(UInt64(littleEndian: lanes[1])) &<< 8
    }

    /// Bit i set iff `p[i]` is a stop, for the 64 bytes at `p` (all of which must be readable).
    @inline(__always)
    func mask64(_ p: UnsafeRawPointer) -> UInt64 {
        mask16(p) | mask16(p + 16) &<< 16 | mask16(p + 32) &<< 32 | mask16(p + 48) &<< 48
    }
}

/// What a parser has read so far; `CSVParser.finish` returns the totals for the input.
public struct CSVParseStatistics: Sendable, Hashable {
    public var byteCount = 0
    /// Physical lines, a last line without a line break included.
    public var lineCount = 0
    public var recordCount = 0
    public var malformedCount = 0
    /// Empty lines, which carry no record and are skipped.
    public var blankLineCount = 0

    public init() {}
}
