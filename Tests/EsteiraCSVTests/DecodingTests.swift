import EsteiraCSV
import Testing

@Suite("bytes in: gzip, zlib and charsets")
struct DecodingTests {
    static let csv = "id,nome,valor\n1,Ação,10.5\n2,\"Zoë, 😀\",20\n"

    @Test(
        "gzip is detected by its magic bytes and streamed, whatever the chunk size", arguments: [1, 7, 4096, Int.max])
    func gzipStreams(chunk: Int) throws {
        let packed = try gzip(Array(Self.csv.utf8))
        let result = try read(packed, chunkSize: chunk == Int.max ? nil : chunk)
        #expect(result.summary.compression == .gzip)
        #expect(result.rows == [["1", "Ação", "10.5"], ["2", "Zoë, 😀", "20"]])
    }

    @Test("concatenated gzip members (pigz, cat a.gz b.gz) are one file")
    func gzipMembers() throws {
        let a = try gzip(Array("id,v\n1,a\n".utf8))
        let b = try gzip(Array("2,b\n".utf8))
        let result = try read(a + b, chunkSize: 5)
        #expect(result.rows == [["1", "a"], ["2", "b"]])
    }

    @Test("a cut gzip stream is an error, not a short file")
    func gzipCut() throws {
        let packed = try gzip(Array(String(repeating: "1,abc\n", count: 5000).utf8))
        #expect {
            _ = try read(Array(packed.dropLast(20)))
        } throws: { error in
            (error as? CSVReadError)?.code == .compression && "\(error)".contains("cut short")
        }
    }

    @Test(
        "a decompression bomb is refused as TooLarge on ratio and on size, naming the limit",
        arguments: [
            (
                DecompressionLimits(maxOutputBytes: 1 << 40, maxRatio: 100, ratioGraceBytes: 1 << 20),
                "inflates more than 100×"
            ),
            (
                DecompressionLimits(maxOutputBytes: 2 << 20, maxRatio: 10_000, ratioGraceBytes: 0),
                "more than 2097152 bytes"
            ),
        ])
    func bomb(limits: DecompressionLimits, message: String) throws {
        // 8 MiB of one byte: gzip makes about 8 KiB of it (1000×).
        let bomb = try gzip([UInt8](repeating: UInt8(ascii: "a"), count: 8 << 20))
        #expect(bomb.count < 20_000)
        #expect {
            _ = try read(bomb, CSVReadOptions(decompression: limits))
        } throws: { error in
            (error as? CSVReadError)?.code == .tooLarge && "\(error)".contains(message)
        }
    }

    @Test("Windows-1252 is detected and transcoded; the same text in UTF-8 stays UTF-8", arguments: [false, true])
    func windows1252Detected(isUTF8: Bool) throws {
        let text = "código;descrição;preço\n1;Pão de açúcar – “especial”;€ 5\n"
        let bytes = isUTF8 ? Array(text.utf8) : windows1252(text)
        for chunk in [1, 2, 3, 1000] {
            let result = try read(bytes, chunkSize: chunk)
            #expect(result.summary.charset == (isUTF8 ? .utf8 : .windows1252))
            #expect(result.columns == ["codigo", "descricao", "preco"])
            #expect(result.rows == [["1", "Pão de açúcar – “especial”", "€ 5"]], "chunk \(chunk)")
        }
    }

    @Test("ISO-8859-1 on request maps 0x80–0x9F to C1 controls, Windows-1252 to punctuation")
    func latin1() throws {
        let bytes: [UInt8] = Array("a\n".utf8) + [0x93, 0xE9, 0x0A]
        #expect(try read(bytes, CSVReadOptions(encoding: .iso88591)).rows == [["\u{93}é"]])
        #expect(try read(bytes, CSVReadOptions(encoding: .windows1252)).rows == [["“é"]])
    }

    @Test("an invalid UTF-8 byte refuses its row, naming line and field, and the rest loads")
    func invalidUTF8() throws {
        // A UTF-8 file (it has a valid 'ç' first) with one Latin-1 'é' on line 3.
        let bytes = Array("id,nome\n1,ação\n2,caf".utf8) + [0xE9] + Array("\n3,ok\n".utf8)
        for chunk in [1, 4, 1000] {
            let result = try read(bytes, chunkSize: chunk)
            #expect(result.rows == [["1", "ação"], ["3", "ok"]])
            #expect(result.rejected.count == 1)
            #expect(result.rejected.first?.line == 3)
            #expect(result.rejected.first?.reason.contains("byte 0xE9 in field 2 is not valid utf-8") == true)
            #expect(result.rejected.first?.reason.contains("windows-1252") == true)
            #expect(result.rejected.first?.raw == "2,caf\u{FFFD}")
        }
    }

    @Test("UTF-8 forced on a Windows-1252 file reports the first bad row instead of loading mojibake")
    func forcedUTF8() throws {
        let result = try read(windows1252("n\nJoão\nok\n"), CSVReadOptions(encoding: .utf8))
        #expect(result.rows == [["ok"]])
        #expect(result.rejected.map(\.line) == [2])
    }

    @Test("UTF-16 with a byte order mark (Excel's Unicode text) is transcoded")
    func utf16() throws {
        let text = "a\tb\n1\tação 😀\n"
        var le: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { le += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        var be: [UInt8] = [0xFE, 0xFF]
        for unit in text.utf16 { be += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        for (bytes, charset) in [(le, CSVCharset.utf16le), (be, .utf16be)] {
            for chunk in [1, 3, 1000] {
                let result = try read(bytes, chunkSize: chunk)
                #expect(result.summary.charset == charset)
                #expect(result.rows == [["1", "ação 😀"]], "\(charset) chunk \(chunk)")
            }
        }
    }

    @Test("every split of a multi-byte UTF-8 file decodes the same")
    func everySplit() throws {
        let bytes = Array("\u{FEFF}h1,h2\n\"é😀\",日本\nx,ção\n".utf8)
        let whole = try read(bytes)
        for cut in 1..<bytes.count {
            var result = ReadResult()
            let reader = try CSVReader()
            let sink = { (event: CSVReadEvent) in if case .row(let v) = event { result.rows.append(v.strings) } }
            try reader.consume(Array(bytes[0..<cut]), sink)
            try reader.consume(Array(bytes[cut...]), sink)
            try reader.finish(sink)
            #expect(result.rows == whole.rows, "cut at \(cut)")
        }
        #expect(whole.rows == [["é😀", "日本"], ["x", "ção"]])
    }

    @Test(
        "charset names are read in their usual spellings",
        arguments: [
            ("UTF8", CSVCharset.utf8), ("latin1", .iso88591), ("CP1252", .windows1252), ("ansi", .windows1252),
            ("windows-1252", .windows1252),
        ])
    func charsetNames(name: String, charset: CSVCharset) {
        #expect(CSVCharset(name: name) == charset)
    }
}
