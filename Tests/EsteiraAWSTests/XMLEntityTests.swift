import Testing

@testable import EsteiraAWS

/// S3 listings escape a key's control characters as numeric character references (`&#13;`, `&#x1F;`):
/// they must come back as the key S3 stores, or the worker asks for an object that does not exist.
@Suite("XML character references in AWS answers")
struct XMLEntityTests {
    @Test(
        "named and numeric references decode; anything that is not a reference stays as written",
        arguments: [
            ("a&lt;b&gt;c", "a<b>c"),
            ("&quot;&apos;&amp;", "\"'&"),
            ("line&#13;&#10;end", "line\r\nend"),
            ("unit&#x1F;sep", "unit\u{1F}sep"),
            ("hex &#X41; upper", "hex A upper"),
            ("&#x1F600;", "😀"),
            ("&#233;t&#xE9;", "été"),
            ("&#34;quoted&#34;", "\"quoted\""),
            // An escaped reference is text, decoded once only.
            ("&amp;#13;", "&#13;"),
            ("&amp;amp;", "&amp;"),
            // Not references: left exactly as they are.
            ("&#;", "&#;"),
            ("&#x;", "&#x;"),
            ("&#12a;", "&#12a;"),
            ("&#xD800;", "&#xD800;"),
            ("&#x110000;", "&#x110000;"),
            ("&#99999999999999999999;", "&#99999999999999999999;"),
            ("&#0;", "&#0;"),
            ("&#13", "&#13"),
            ("a & b", "a & b"),
            ("&unknown;", "&unknown;"),
            ("&", "&"),
            ("tail&", "tail&"),
        ])
    func unescape(escaped: String, expected: String) {
        #expect(XMLLite.unescape(escaped) == expected)
    }

    @Test("a listed key holding a carriage return comes back whole")
    func listedKey() {
        let doc = XMLLite("<ListBucketResult><Contents><Key>acme/data/a&#13;b.csv</Key></Contents></ListBucketResult>")
        #expect(doc.all("Key") == ["acme/data/a\rb.csv"])
    }
}
