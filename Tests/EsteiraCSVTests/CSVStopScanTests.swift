import Testing

@testable import EsteiraCSV

/// The parser finds delimiters, quotes and line breaks 64 bytes at a time (`StopMask`) except within 64
/// bytes of a chunk's end, where it goes byte by byte. These tests put every kind of field at every
/// alignment, on both sides of that switch, and check both ways give the same records.
@Suite("stop scanning")
struct CSVStopScanTests {
    /// A byte loop over the same stop set: what `StopMask.mask64` must agree with.
    static func expectedMask(_ bytes: [UInt8], at offset: Int, stops: Set<UInt8>) -> UInt64 {
        var mask: UInt64 = 0
        for i in 0..<64 where stops.contains(bytes[offset + i]) { mask |= 1 << UInt64(i) }
        return mask
    }

    @Test("the 64-byte mask marks exactly the stop bytes, at every alignment")
    func maskMatchesByteLoop() {
        var random = SplitMix(seed: 7)
        // Stops, bytes one off them (a borrow or carry would show there), and high bytes.
        let alphabet: [UInt8] = [
            0x2C, 0x22, 0x0A, 0x0D, 0x5C, 0x2B, 0x2D, 0x21, 0x23, 0x09, 0x0B, 0x0C, 0x0E, 0x00, 0x01,
            0x7F, 0x80, 0xAC, 0xA2, 0x8A, 0x8D, 0xFF, 0x41, 0x30,
        ]
        let mask = StopMask(0x2C, 0x22, 0x5C, 0x0D, 0x0A)
        let stops: Set<UInt8> = [0x2C, 0x22, 0x5C, 0x0D, 0x0A]
        for _ in 0..<200 {
            let bytes = (0..<192).map { _ in alphabet[random.below(alphabet.count)] }
            for offset in 0...(bytes.count - 64) {
                let got = bytes.withUnsafeBytes { mask.mask64($0.baseAddress! + offset) }
                #expect(got == Self.expectedMask(bytes, at: offset, stops: stops), "offset \(offset)")
            }
        }
        // All 256 byte values at every lane.
        let all = (0..<320).map { UInt8(truncatingIfNeeded: $0) }
        for offset in 0...(all.count - 64) {
            let got = all.withUnsafeBytes { mask.mask64($0.baseAddress! + offset) }
            #expect(got == Self.expectedMask(all, at: offset, stops: stops))
        }
    }

    /// Fields of every length from 0 to 70, plain and quoted (with delimiters, doubled quotes and line
    /// breaks inside), with LF, CRLF and CR line ends: several hundred bytes, so long scans and the
    /// byte-by-byte tail both meet every construct.
    static func sample(delimiter: Character = ",") -> [UInt8] {
        var text = ""
        var random = SplitMix(seed: 11)
        let ends = ["\n", "\r\n", "\r"]
        for length in 0...70 {
            let plain = String((0..<length).map { i in Character(Unicode.Scalar(UInt8(0x61 + (i + length) % 26))) })
            var quotedBody = plain
            if length > 3 {
                let at = quotedBody.index(quotedBody.startIndex, offsetBy: random.below(length - 2))
                quotedBody.insert(contentsOf: ["\"\"", "\(delimiter)", "\n", "é"][random.below(4)], at: at)
            }
            text +=
                "\(length)\(delimiter)\(plain)\(delimiter)\"\(quotedBody)\"\(delimiter)\(plain.prefix(length % 7))"
                + ends[length % 3]
        }
        return Array(text.utf8)
    }

    @Test(
        "long scans and byte-by-byte scans give the same records, whatever the chunking",
        arguments: [
            CSVDialect.rfc4180, CSVDialect(delimiter: .semicolon),
            CSVDialect(escape: .backslash), CSVDialect(bareQuote: .keepAsText),
        ])
    func chunkingDoesNotChangeRecords(dialect: CSVDialect) {
        let bytes = Self.sample(delimiter: Character(Unicode.Scalar(dialect.delimiter)))
        let whole = parse(bytes, dialect: dialect)
        #expect(whole.rows.count == 71)
        #expect(whole.refused.isEmpty)
        // One byte per chunk never uses the 64-byte masks.
        let bytewise = parse(bytes, dialect: dialect, cuts: Array(bytes.indices.dropFirst()))
        #expect(bytewise == whole)
        // Every cut in the first few hundred bytes (every construct meets the end of a chunk there), then
        // every 17th.
        for cut in Array(0...600) + Array(stride(from: 601, through: bytes.count, by: 17)) {
            let split = parse(bytes, dialect: dialect, cuts: [cut])
            if split != whole {
                Issue.record("cut at byte \(cut)")
                return
            }
        }
        // Chunks of sizes around the 64-byte scan and its tail.
        for size in [1, 2, 3, 5, 7, 8, 15, 16, 31, 63, 64, 65, 66, 100, 127, 128, 129, 130] {
            let split = parse(bytes, dialect: dialect, cuts: Array(stride(from: size, to: bytes.count, by: size)))
            if split != whole {
                Issue.record("chunks of \(size) bytes")
                return
            }
        }
    }

    @Test("the sample parses as written")
    func sampleFields() {
        let rows = parse(Self.sample()).rows
        for (length, row) in rows.enumerated() {
            #expect(row.fields.count == 4)
            #expect(row.fields[0] == String(length))
            #expect(row.fields[1].count == length)
            #expect(row.quoted == [false, false, true, false])
        }
    }

    @Test("a bare quote and text after a closing quote are still refused far from a chunk's end")
    func refusalsInLongChunks() {
        let filler = String(repeating: "x", count: 80)
        let text = "\(filler),a\"b,\(filler)\n\(filler),\"q\"r,\(filler)\nok,\(filler),\"\(filler)\"\n"
        let result = parse(text)
        #expect(result.refused.map(\.reason) == [.bareQuote(field: 1), .textAfterClosingQuote(field: 1)])
        #expect(result.fields == [["ok", filler, filler]])
    }
}

/// splitmix64: deterministic test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
