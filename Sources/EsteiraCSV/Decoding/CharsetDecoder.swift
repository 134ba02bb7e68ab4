/// The character sets partners' systems export. Everything is turned into UTF-8 before parsing.
public enum CSVCharset: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// Decide from the bytes: a BOM, else UTF-8 while the bytes are valid UTF-8, else Windows-1252
    /// (see `CharsetDecoder`).
    case auto
    case utf8 = "utf-8"
    /// Excel and most Windows software in the Americas and Western Europe ("ANSI"). A superset of
    /// ISO-8859-1's printable characters, with € “ ” – and friends in 0x80–0x9F.
    case windows1252 = "windows-1252"
    /// Latin-1 proper: 0x80–0x9F are C1 control characters, not Windows-1252's punctuation.
    case iso88591 = "iso-8859-1"
    /// Excel's "Unicode text" export; recognised by its byte order mark.
    case utf16le = "utf-16le"
    case utf16be = "utf-16be"

    public var description: String { rawValue }

    /// Accepts the usual spellings (`UTF8`, `latin1`, `cp1252`, `ANSI` …), or nil.
    public init?(name: String) {
        let key = String(name.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " })
        switch key {
        case "auto", "detect": self = .auto
        case "utf8": self = .utf8
        case "windows1252", "cp1252", "win1252", "ansi": self = .windows1252
        case "iso88591", "latin1", "l1", "iso885915": self = .iso88591
        case "utf16le", "utf16", "unicode": self = .utf16le
        case "utf16be": self = .utf16be
        default: return nil
        }
    }
}

/// Turns a byte stream in some charset into UTF-8, streaming: chunks may split a character anywhere,
/// memory is a small carry plus one output buffer.
///
/// UTF-8 is passed through without a copy after validation (an ASCII fast path makes that nearly free).
/// An invalid UTF-8 sequence is not fatal to the file: it is handed on as U+FFFD after an `.invalid`
/// event, so the layer above (which knows the record and field) refuses that one row.
///
/// `.auto` decides at the first non-ASCII byte, with everything up to there being plain ASCII and
/// therefore the same in every candidate: a UTF-16 or UTF-8 byte order mark decides at once; otherwise
/// the rest of that chunk (usually tens of kilobytes) is checked, and the stream is UTF-8 if it all
/// validates, Windows-1252 if not. A Windows-1252 file whose first accented text happens to form valid
/// UTF-8 (`Ã©`, rare outside already-garbled text) is read as UTF-8; its first invalid byte is then
/// reported as such, and a route's `encoding:` fixes it.
public struct CharsetDecoder {
    public enum Output {
        /// Decoded UTF-8, valid only during the call.
        case text(UnsafeRawBufferPointer)
        /// `byte` could not be decoded as `charset` (and was replaced by U+FFFD in the next `.text`).
        case invalid(byte: UInt8, charset: CSVCharset)
    }

    public let requested: CSVCharset
    /// The charset in use; `.auto` until the stream has decided it.
    public private(set) var charset: CSVCharset
    /// Bytes of a character cut by the end of the previous chunk.
    private var carry: [UInt8] = []
    private var output: [UInt8] = []
    private var atStart = true
    /// In `.auto`, the text from the first non-ASCII byte on, held until there is enough to decide.
    private var autoPending: [UInt8] = []
    static let evidenceBytes = 4096

    public init(_ charset: CSVCharset = .auto) {
        requested = charset
        self.charset = charset
    }

    static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    public mutating func decode(_ input: UnsafeRawBufferPointer, _ sink: (Output) throws -> Void) rethrows {
        guard input.count > 0 else { return }
        if atStart && carry.isEmpty && input.count < 2 {
            // A byte order mark needs two bytes to be recognised.
            carry = Array(input)
            return
        }
        if !carry.isEmpty {
            // Complete the cut character with the first bytes of this chunk, then go on without a copy.
            let needed = carryNeeds()
            let take = min(needed, input.count)
            let joined = carry + Array(input[0..<take])
            carry.removeAll(keepingCapacity: true)
            if take < needed && take == input.count {
                carry = joined
                return
            }
            try joined.withUnsafeBytes { try decodeChunk($0, isLast: false, sink) }
            // What is left in `carry` now is a new incomplete character, which can only happen if
            // `joined` was all of it; either way the rest of the input follows.
            try decodeChunk(UnsafeRawBufferPointer(rebasing: input[take...]), isLast: false, sink)
            return
        }
        try decodeChunk(input, isLast: false, sink)
    }

    /// Ends the stream: a character cut by the end of the input is invalid.
    public mutating func finish(_ sink: (Output) throws -> Void) rethrows {
        if charset == .auto && !autoPending.isEmpty { try decideAndFlush(isLast: true, sink) }
        guard !carry.isEmpty else { return }
        let rest = carry
        carry.removeAll()
        if charset == .utf16le || charset == .utf16be {
            try sink(.invalid(byte: rest[0], charset: charset))
            try Self.replacement.withUnsafeBytes { try sink(.text($0)) }
            return
        }
        try rest.withUnsafeBytes { try decodeChunk($0, isLast: true, sink) }
    }

    private func carryNeeds() -> Int {
        switch charset {
        case .utf16le, .utf16be:
            // A code unit, or the rest of a surrogate pair.
            if carry.count == 1 || carry.count == 3 { return 1 }
            return 2
        default:
            let lead = carry[0]
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
            return max(1, length - carry.count)
        }
    }

    private mutating func decodeChunk(
        _ input: UnsafeRawBufferPointer, isLast: Bool,
        _ sink: (Output) throws -> Void
    ) rethrows {
        guard input.count > 0 else { return }
        if atStart {
            atStart = false
            if charset == .auto || charset == .utf16le || charset == .utf16be {
                if input.count >= 2 && input[0] == 0xFF && input[1] == 0xFE {
                    charset = .utf16le
                    return try decodeChunk(UnsafeRawBufferPointer(rebasing: input[2...]), isLast: isLast, sink)
                }
                if input.count >= 2 && input[0] == 0xFE && input[1] == 0xFF {
                    charset = .utf16be
                    return try decodeChunk(UnsafeRawBufferPointer(rebasing: input[2...]), isLast: isLast, sink)
                }
            }
        }
        switch charset {
        case .auto:
            if autoPending.isEmpty {
                let firstHigh = Self.asciiPrefixLength(input)
                if firstHigh == input.count {
                    try sink(.text(input))
                    return
                }
                if firstHigh > 0 { try sink(.text(UnsafeRawBufferPointer(rebasing: input[0..<firstHigh]))) }
                autoPending += input[firstHigh...]
            } else {
                autoPending += input
            }
            // Decide on a few kilobytes of evidence, not on one byte a tiny chunk happened to end with.
            if autoPending.count >= Self.evidenceBytes || isLast { try decideAndFlush(isLast: isLast, sink) }
        case .utf8:
            try decodeUTF8(input, isLast: isLast, sink)
        case .windows1252, .iso88591:
            try transcodeSingleByte(input, table: charset == .windows1252 ? Self.windows1252 : nil, sink)
        case .utf16le, .utf16be:
            try decodeUTF16(input, bigEndian: charset == .utf16be, sink)
        }
    }

    /// Chooses UTF-8 when the held text has more valid multi-byte UTF-8 characters than invalid bytes
    /// (in Windows-1252 text almost every accented letter is an invalid sequence, while a valid one
    /// needs an unlikely pair such as `Ã©`), then decodes what was held.
    private mutating func decideAndFlush(isLast: Bool, _ sink: (Output) throws -> Void) rethrows {
        let held = autoPending
        autoPending = []
        var valid = 0
        var invalid = 0
        held.withUnsafeBytes { all in
            var i = 0
            while i < all.count {
                let rest = UnsafeRawBufferPointer(rebasing: all[i...])
                let (prefix, bad) = Self.validUTF8Prefix(rest)
                valid += rest[0..<prefix].reduce(0) { $0 + ($1 >= 0xC0 ? 1 : 0) }
                if prefix == rest.count { break }
                if !isLast && Self.isIncompleteTail(UnsafeRawBufferPointer(rebasing: rest[prefix...])) { break }
                invalid += 1
                i += prefix + max(1, bad)
            }
        }
        charset = valid > invalid ? .utf8 : .windows1252
        try held.withUnsafeBytes { try decodeChunk($0, isLast: isLast, sink) }
    }

    // MARK: UTF-8

    private mutating func decodeUTF8(
        _ input: UnsafeRawBufferPointer, isLast: Bool,
        _ sink: (Output) throws -> Void
    ) rethrows {
        var start = 0
        while start < input.count {
            let rest = UnsafeRawBufferPointer(rebasing: input[start...])
            let (valid, badLength) = Self.validUTF8Prefix(rest)
            if valid > 0 { try sink(.text(UnsafeRawBufferPointer(rebasing: rest[0..<valid]))) }
            if valid == rest.count { return }
            let tail = UnsafeRawBufferPointer(rebasing: rest[valid...])
            if !isLast && Self.isIncompleteTail(tail) {
                carry = Array(tail)
                return
            }
            try sink(.invalid(byte: tail[0], charset: charset))
            try Self.replacement.withUnsafeBytes { try sink(.text($0)) }
            start += valid + max(1, badLength)
        }
    }

    /// The number of leading bytes below 0x80, eight at a time.
    @inline(__always)
    static func asciiPrefixLength(_ input: UnsafeRawBufferPointer) -> Int {
        let n = input.count
        guard let base = input.baseAddress else { return 0 }
        var i = 0
        while i + 8 <= n {
            if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        while i < n && base.load(fromByteOffset: i, as: UInt8.self) < 0x80 { i += 1 }
        return i
    }

    /// The length of the longest valid UTF-8 prefix, and the length of the invalid sequence after it
    /// (maximal subpart, as the Unicode standard recommends for U+FFFD substitution).
    static func validUTF8Prefix(_ input: UnsafeRawBufferPointer) -> (valid: Int, invalidLength: Int) {
        let n = input.count
        guard let base = input.baseAddress else { return (0, 0) }
        @inline(__always) func at(_ i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }
        var i = 0
        while i < n {
            // Skip ASCII runs 32 bytes at a time (one test for four words), then eight.
            while i + 32 <= n {
                let any =
                    base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    | base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                    | base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
                    | base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
                if any & 0x8080_8080_8080_8080 != 0 { break }
                i += 32
            }
            while i + 8 <= n && base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
            }
            guard i < n else { break }
            let b = at(i)
            if b < 0x80 {
                i += 1
                continue
            }
            var length = 0
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F
            default: return (i, 1)
            }
            // The second byte has the tighter range; the others are plain continuation bytes.
            var k = 1
            while k < length {
                guard i + k < n else { return (i, k) }
                let c = at(i + k)
                let ok = k == 1 ? (c >= low && c <= high) : (c & 0xC0 == 0x80)
                if !ok { return (i, k) }
                k += 1
            }
            i += length
        }
        return (n, 0)
    }

    /// Whether `tail` (an invalid suffix) is only the start of a valid character cut short.
    static func isIncompleteTail(_ tail: UnsafeRawBufferPointer) -> Bool {
        guard tail.count > 0, tail.count < 4 else { return tail.count == 0 }
        var padded = Array(tail)
        let lead = padded[0]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0
        guard length > tail.count else { return false }
        // Complete it with the smallest continuation that its lead allows and see if it validates.
        while padded.count < length {
            padded.append(padded.count == 1 && lead == 0xE0 ? 0xA0 : padded.count == 1 && lead == 0xF0 ? 0x90 : 0x80)
        }
        return padded.withUnsafeBytes { validUTF8Prefix($0).valid == length }
    }

    // MARK: Single-byte charsets

    private mutating func transcodeSingleByte(
        _ input: UnsafeRawBufferPointer, table: [UInt32]?,
        _ sink: (Output) throws -> Void
    ) rethrows {
        var start = 0
        let n = input.count
        while start < n {
            // ASCII runs go out as they are; only the high bytes are rewritten.
            let run = Self.asciiPrefixLength(UnsafeRawBufferPointer(rebasing: input[start...]))
            if run > 0 {
                try sink(.text(UnsafeRawBufferPointer(rebasing: input[start..<(start + run)])))
                start += run
            }
            guard start < n else { return }
            output.removeAll(keepingCapacity: true)
            var i = start
            // Transcode up to the next long ASCII run (or at most 16 KiB), so short ASCII between
            // accents does not cost a call each.
            while i < n && i - start < 16 << 10 {
                let b = input[i]
                if b < 0x80 {
                    if i + 16 <= n
                        && Self.asciiPrefixLength(UnsafeRawBufferPointer(rebasing: input[i..<(i + 16)])) == 16
                    {
                        break
                    }
                    output.append(b)
                } else {
                    let scalar = table.map { $0[Int(b) - 0x80] } ?? UInt32(b)
                    Self.appendUTF8(scalar, to: &output)
                }
                i += 1
            }
            try output.withUnsafeBytes { try sink(.text($0)) }
            start = i
        }
    }

    @inline(__always)
    static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        if scalar < 0x80 {
            out.append(UInt8(scalar))
        } else if scalar < 0x800 {
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        } else if scalar < 0x10000 {
            out.append(UInt8(0xE0 | (scalar >> 12)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (scalar >> 18)))
            out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Windows-1252's 0x80–0xFF; the five bytes it leaves undefined map to the C1 controls, as the WHATWG
    /// encoding standard (what browsers do) maps them.
    static let windows1252: [UInt32] = {
        let high: [UInt32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,
            0x017D, 0x8F,
            0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,
            0x017E, 0x0178,
        ]
        return high + (0xA0...0xFF).map { UInt32($0) }
    }()

    // MARK: UTF-16

    private mutating func decodeUTF16(
        _ input: UnsafeRawBufferPointer, bigEndian: Bool,
        _ sink: (Output) throws -> Void
    ) rethrows {
        output.removeAll(keepingCapacity: true)
        var i = 0
        let n = input.count
        @inline(__always) func unit(_ at: Int) -> UInt32 {
            bigEndian ? UInt32(input[at]) << 8 | UInt32(input[at + 1]) : UInt32(input[at + 1]) << 8 | UInt32(input[at])
        }
        while i + 2 <= n {
            let u = unit(i)
            if u >= 0xD800 && u < 0xDC00 {
                guard i + 4 <= n else { break }
                let low = unit(i + 2)
                if low >= 0xDC00 && low < 0xE000 {
                    Self.appendUTF8(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00), to: &output)
                    i += 4
                    continue
                }
                try flushInvalid(byte: input[i], sink)
                i += 2
            } else if u >= 0xDC00 && u < 0xE000 {
                try flushInvalid(byte: input[i], sink)
                i += 2
            } else {
                Self.appendUTF8(u, to: &output)
                i += 2
            }
        }
        if i < n { carry = Array(input[i...]) }
        if !output.isEmpty { try output.withUnsafeBytes { try sink(.text($0)) } }
    }

    private mutating func flushInvalid(byte: UInt8, _ sink: (Output) throws -> Void) rethrows {
        if !output.isEmpty { try output.withUnsafeBytes { try sink(.text($0)) } }
        output.removeAll(keepingCapacity: true)
        try sink(.invalid(byte: byte, charset: charset))
        output.append(contentsOf: Self.replacement)
    }
}
