import Foundation
import Testing

@testable import EsteiraWorker

@Suite("Dead-letter attributes SQS always takes")
struct DeadLetterAttributesTests {
    @Test(
        "characters SQS refuses become visible escapes; allowed ones stay",
        arguments: [
            ("plain", "plain"),
            ("tab\tnl\ncr\r", "tab\tnl\ncr\r"),
            ("a\u{1}b", "a\\u{1}b"),
            ("\u{0}\u{8}\u{B}\u{1F}", "\\u{0}\\u{8}\\u{b}\\u{1f}"),
            ("ação 😀 \u{D7FF}\u{E000}", "ação 😀 \u{D7FF}\u{E000}"),
            ("\u{FFFE}\u{FFFF}", "\\u{fffe}\\u{ffff}"),
        ])
    func sanitize(input: String, expected: String) {
        #expect(DeadLetterAttributes.sanitize(input) == expected)
        #expect(DeadLetterAttributes.sanitize(input).unicodeScalars.allSatisfy(DeadLetterAttributes.isAllowed))
    }

    @Test(
        "cut by UTF-8 bytes at scalar boundaries, marked with …",
        arguments: [
            ("abcdef", 10, "abcdef"),
            ("abcdef", 6, "abcdef"),
            ("abcdef", 5, "ab…"),
            ("ççççç", 7, "çç…"),  // 2-byte scalars: 4 bytes of them, then the 3-byte marker
            ("ççççç", 8, "çç…"),
            ("😀😀😀", 8, "😀…"),
            ("😀😀😀", 7, "😀…"),
            ("😀😀😀", 6, "…"),  // a 4-byte scalar does not fit in the 3 bytes left
            ("abc", 2, ""),
        ])
    func cut(input: String, maxBytes: Int, expected: String) {
        let out = DeadLetterAttributes.cut(input, maxBytes: maxBytes)
        #expect(out == expected)
        #expect(out.utf8.count <= maxBytes)
    }

    @Test("the whole message stays under 256 KiB: long values are cut first, then the body")
    func wholeMessage() {
        let reason = String(repeating: "é", count: 200_000)
        let (body1, a1) = DeadLetterAttributes.sendable(
            body: "{}", attributes: ["esteira.error-message": reason, "esteira.error-code": "X"])
        #expect(body1 == "{}")
        #expect(a1["esteira.error-message"]!.utf8.count <= DeadLetterAttributes.maxValueBytes)
        #expect(a1["esteira.error-code"] == "X")

        let big = String(repeating: "z", count: 262_000)
        let attributes = [
            "esteira.error-message": String(repeating: "r", count: 4000),
            "esteira.key": String(repeating: "k", count: 4000),
        ]
        let (body2, a2) = DeadLetterAttributes.sendable(body: big, attributes: attributes)
        #expect(DeadLetterAttributes.size(body: body2, attributes: a2) <= DeadLetterAttributes.maxMessageBytes)
        #expect(a2[DeadLetterAttributes.bodyTruncated] == "262000")
        #expect(a2["esteira.error-message"]!.hasPrefix("rrrr"))

        let (body3, a3) = DeadLetterAttributes.sendable(
            body: String(repeating: "y", count: 250_000), attributes: attributes)
        #expect(body3.utf8.count == 250_000, "a body that leaves room for the attributes is kept whole")
        #expect(DeadLetterAttributes.size(body: body3, attributes: a3) <= DeadLetterAttributes.maxMessageBytes)
        #expect(a3[DeadLetterAttributes.bodyTruncated] == nil)
    }

    @Test("the failure's attributes are written sanitised and cut")
    func failure() {
        let a = DeadLetterAttributes(
            code: "NoRoute", reason: "bad\u{1}" + String(repeating: "x", count: 10_000), worker: "w",
            attempt: 2, sourceMessageID: "m", failedAt: Date(timeIntervalSince1970: 0),
            bucket: "b", key: "k\u{2}", route: nil, carriedOver: ["esteira.replay-count": "1"])
        #expect(a[DeadLetterAttributes.key] == "k\\u{2}")
        #expect(a[DeadLetterAttributes.message]!.hasPrefix("bad\\u{1}xx"))
        #expect(a[DeadLetterAttributes.message]!.utf8.count <= DeadLetterAttributes.maxValueBytes)
        #expect(a[DeadLetterAttributes.replayCount] == "1")
        #expect(a[DeadLetterAttributes.route] == nil)
    }
}

@Suite("Landing buckets")
struct LandingBucketsTests {
    @Test("repeatable and comma lists, checked against S3's naming rules")
    func lists() throws {
        #expect(
            try LandingBuckets(["a-landing", "b.landing,c-landing", " a-landing "]).names == [
                "a-landing", "b.landing", "c-landing",
            ])
        #expect(throws: LandingBucketsError.self) { try LandingBuckets([]) }
        #expect(throws: LandingBucketsError.self) { try LandingBuckets([","]) }
        #expect(throws: LandingBucketsError.self) { try LandingBuckets(["Upper"]) }
    }

    @Test(
        "a message naming any other bucket is refused with a reason",
        arguments: [
            ("other-bucket", "not a landing bucket"),
            ("Evil/../x", "not a valid S3 bucket name"),
            ("ab", "not a valid S3 bucket name"),
            ("192.168.1.1", "not a valid S3 bucket name"),
            ("a..b", "not a valid S3 bucket name"),
            ("xn--abc", "not a valid S3 bucket name"),
            ("my-bucket-s3alias", "not a valid S3 bucket name"),
            ("-dash", "not a valid S3 bucket name"),
            (String(repeating: "a", count: 64), "not a valid S3 bucket name"),
        ])
    func refused(bucket: String, reason: String) throws {
        let landing = try LandingBuckets(["landing-a", "landing-b"])
        #expect(landing.refusal(bucket)?.contains(reason) == true)
    }

    @Test("its own buckets pass")
    func own() throws {
        let landing = try LandingBuckets(["landing-a,landing-b"])
        #expect(landing.refusal("landing-a") == nil)
        #expect(landing.refusal("landing-b") == nil)
    }
}

@Suite("Reading and replaying dead letters")
struct DeadLetterReadingTests {
    @Test("what the worker wrote is read back through the same type; a redriven letter reads as MaxReceives")
    func readBack() {
        let written = DeadLetterAttributes(
            code: "BadCSV", reason: "line 3", worker: "w", attempt: 2, sourceMessageID: "m",
            failedAt: Date(), bucket: "b", key: "acme/data/x.csv", route: "r")
        let letter = DeadLetter(
            id: "d1", receiptHandle: "h", body: "{}", attributes: written.values, systemAttributes: [:])
        #expect(letter.code == "BadCSV" && letter.reason == "line 3" && letter.key == "acme/data/x.csv")
        #expect(letter.tenant == "acme" && letter.replayCount == 0)
        let redriven = DeadLetter(id: "d2", receiptHandle: "h", body: "{}", attributes: [:], systemAttributes: [:])
        #expect(redriven.code == "MaxReceives")
        #expect(redriven.reason.contains("redrive"))
    }

    @Test("a replay counts itself and names the letter it came from; a failure after it carries both over")
    func replayHistory() {
        let first = DeadLetterAttributes([DeadLetterAttributes.code: "NoRoute", DeadLetterAttributes.replayCount: "1"])
        let replayed = first.replayed(of: "d9", at: Date(timeIntervalSince1970: 0))
        #expect(replayed.replays == 2)
        #expect(replayed[DeadLetterAttributes.replayOf] == "d9")
        #expect(replayed[DeadLetterAttributes.replayedAt] == "1970-01-01T00:00:00Z")
        #expect(replayed.replayHistory == [DeadLetterAttributes.replayCount: "2", DeadLetterAttributes.replayOf: "d9"])
    }
}

@Suite("Durations as SQS takes them")
struct WholeSecondsTests {
    @Test(
        "rounded up to whole seconds, never negative",
        arguments: [
            (Duration.zero, 0), (.milliseconds(1), 1), (.seconds(20), 20), (.milliseconds(20_500), 21),
            (.seconds(-3), 0),
        ])
    func rounding(duration: Duration, seconds: Int) {
        #expect(WholeSeconds.of(duration) == seconds)
    }
}
