import Foundation
import Testing

@testable import EsteiraAWS

/// The JSON reader every AWS answer goes through: the same values as Foundation's decoder, bounded on
/// hostile input.
@Suite("JSON parser")
struct JSONParserTests {
    static let documents = [
        #"{"Messages":[{"MessageId":"m1","ReceiptHandle":"rh","Body":"{\"Records\":[]}","Attributes":{"ApproximateReceiveCount":"2","SentTimestamp":"1700000000000"}}]}"#,
        #"{"Attributes":{"pk":{"S":"s3://b/k#v"},"attempt":{"N":"3"},"ok":{"BOOL":true},"n":{"NULL":true},"l":{"L":[{"S":"a"},{"N":"-1.5e3"}]}}}"#,
        #"  [ 1 , -0.5 , 2E+2 , 3e-2, true, false, null, "", [], {} ] "#,
        #"{"esc":"quote \" backslash \\ slash \/ \b\f\n\r\t","u":"\u00e9\u4e2d\ud83d\ude00","raw":"é中😀"}"#,
        #"{"dup":1,"dup":2}"#,
        #"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
        "{}",
        "\"just a string\"",
        "42",
    ]

    @Test("reads what Foundation's decoder reads, to the same values", arguments: documents)
    func sameAsFoundation(_ text: String) throws {
        let ours = try JSONValue.decode(Array(text.utf8))
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == foundation)
    }

    @Test(
        "refuses what is not JSON, with the offset",
        arguments: [
            "", "{", "[1,", #"{"a" 1}"#, #"{"a":}"#, "[1 2]", "tru", "nul", #""open"#, #""\x""#, #""\u12""#, "{} x",
            "-", "nan", "0x10", "1e999", #"{"a":1,}"#, "[,]",
        ])
    func refuses(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test("nesting past the limit is refused, not a stack overflow")
    func deepNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        _ = try JSONParser.parse(Array(fine.utf8))
    }

    @Test("a lone surrogate and invalid UTF-8 become U+FFFD")
    func replacement() throws {
        #expect(try JSONParser.parse(Array(#""a\ud800b""#.utf8)) == .string("a\u{FFFD}b"))
        #expect(try JSONParser.parse([0x22, 0x61, 0xFF, 0x22]) == .string("a\u{FFFD}"))
    }
}
