import Testing

@testable import EsteiraAWS

/// Response head lines as curl hands them over, read on their bytes.
@Suite("Response head lines")
struct HeaderLineTests {
    static func parse(_ text: String) -> HeaderLine {
        Array(text.utf8).withUnsafeBytes { HeaderLine.parse($0) }
    }

    @Test("status lines, fields, the blank line, and lines without a colon")
    func lines() {
        #expect(Self.parse("HTTP/1.1 200 OK\r\n") == .status(200))
        #expect(Self.parse("HTTP/2 404\r\n") == .status(404))
        #expect(Self.parse("HTTP/1.1  503  Slow Down\r\n") == .status(503))
        #expect(Self.parse("HTTP/1.1\r\n") == .status(0))
        #expect(Self.parse("HTTP/1.1 abc\r\n") == .status(0))
        #expect(
            Self.parse("Content-Type: application/json\r\n") == .field(name: "content-type", value: "application/json"))
        #expect(Self.parse("X-Amz-Request-Id:\tabc def \r\n") == .field(name: "x-amz-request-id", value: "abc def"))
        #expect(Self.parse("ETag: \"a:b\"\r\n") == .field(name: "etag", value: "\"a:b\""))
        #expect(Self.parse("Empty:\r\n") == .field(name: "empty", value: ""))
        #expect(Self.parse("\r\n") == .other)
        #expect(Self.parse("") == .other)
        #expect(Self.parse("no colon here\r\n") == .other)
        #expect(Self.parse("Caf\u{E9}: \u{FF}\r\n") == .field(name: "caf\u{E9}", value: "\u{FF}"))
    }
}
