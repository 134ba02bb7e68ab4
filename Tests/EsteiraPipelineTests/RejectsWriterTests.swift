import Foundation
import Testing

@testable import EsteiraPipeline

@Suite("Rejects file")
struct RejectsWriterTests {
    static func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "esteira-rejects-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("every refused row keeps line, reason and raw text, quoted as CSV")
    func csv() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f.csv.rejects.csv"
        let r = RejectsWriter(destination: .localFile(path: path), partBytes: 0)
        r.add(line: 3, reason: "row has 2 fields, the header has 3", raw: "a,\"b\"")
        r.add(line: 9, reason: "x", raw: "y")
        #expect(r.count == 2)
        #expect(try await r.finish() == path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            text == "line,reason,raw\r\n3,\"row has 2 fields, the header has 3\",\"a,\"\"b\"\"\"\r\n9,\"x\",\"y\"\r\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["f.csv.rejects.csv"])
    }

    @Test("past a part's worth the rows stream to a temporary file, renamed whole at the end; abandoned, nothing stays")
    func streamsInParts() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.csv.rejects.csv"
        let raw = String(repeating: "r", count: 1000)
        let rows = 12_000  // about 12 MB: more than two 5 MiB parts
        let r = RejectsWriter(destination: .localFile(path: path), partBytes: 5 << 20)
        for i in 0..<rows {
            r.add(line: i + 2, reason: "reason \(i)", raw: raw)
            try await r.flushIfFull()
            #expect(!r.isFull)
        }
        // Streaming has started: a temporary file, and no final file yet.
        let during = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(during.count == 1 && during[0].hasSuffix(".partial"), "\(during)")
        _ = try await r.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["big.csv.rejects.csv"])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\r\n")
        #expect(lines.count == rows + 1)
        #expect(lines.last == "\(rows + 1),\"reason \(rows - 1)\",\"\(raw)\"")

        let abandoned = RejectsWriter(destination: .localFile(path: dir + "/gone.csv.rejects.csv"), partBytes: 5 << 20)
        for i in 0..<rows {
            abandoned.add(line: i, reason: "r", raw: raw)
            try await abandoned.flushIfFull()
        }
        await abandoned.abandon()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["big.csv.rejects.csv"])
    }
}
