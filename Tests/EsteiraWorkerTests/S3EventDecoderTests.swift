import Testing

@testable import EsteiraWorker

@Suite("S3 event decoding")
struct S3EventDecoderTests {
    static func record(_ key: String, name: String = "ObjectCreated:Put", extra: String = "") -> String {
        """
        {"eventVersion":"2.1","eventSource":"aws:s3","eventName":"\(name)","s3":{"bucket":{"name":"landing"},\
        "object":{"key":"\(key)","size":12,"eTag":"abc123"\(extra)}}}
        """
    }

    @Test(
        "keys are form-encoded: '+' is a space, %XX is a byte",
        arguments: [
            ("acme/data/orders+2026.csv", "acme/data/orders 2026.csv"),
            ("acme/data/a%2Bb.csv", "acme/data/a+b.csv"),
            ("acme%2Fdata%2Fx%3D1.csv", "acme/data/x=1.csv"),
            ("acme/data/a%25b.csv", "acme/data/a%b.csv"),
            ("acme/data/a%C3%A7%C3%A3o.csv", "acme/data/ação.csv"),
        ])
    func keyDecoding(raw: String, expected: String) throws {
        let event = try S3EventDecoder.decode(#"{"Records":[\#(Self.record(raw))]}"#)
        guard case .objectsCreated(let objects) = event else {
            Issue.record("not objectsCreated: \(event)")
            return
        }
        #expect(objects.map(\.key) == [expected])
        #expect(objects.first?.bucket == "landing")
        #expect(objects.first?.eTag == "abc123")
    }

    @Test("several records in one message are all kept, others ignored")
    func severalRecords() throws {
        let body =
            #"{"Records":[\#(Self.record("a/data/1.csv")),\#(Self.record("a/data/2.csv", name: "ObjectRemoved:Delete")),\#(Self.record("a/data/3.csv", extra: #","versionId":"v9""#))]}"#
        let event = try S3EventDecoder.decode(body)
        guard case .objectsCreated(let objects) = event else {
            Issue.record("\(event)")
            return
        }
        #expect(objects.map(\.key) == ["a/data/1.csv", "a/data/3.csv"])
        #expect(objects[1].versionID == "v9")
        #expect(objects[1].version == "v9")
        #expect(objects[0].version == "abc123")
    }

    @Test("s3:TestEvent is recognised")
    func testEvent() throws {
        let e = try S3EventDecoder.decode(
            #"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-28T00:00:00Z","Bucket":"landing"}"#)
        #expect(e == .testEvent)
    }

    @Test("an S3 event wrapped in SNS is unwrapped")
    func sns() throws {
        let inner = #"{"Records":[\#(Self.record("t/data/x+y.csv"))]}"#
        let escaped = inner.replacingOccurrences(of: "\"", with: "\\\"")
        let e = try S3EventDecoder.decode(#"{"Type":"Notification","MessageId":"1","Message":"\#(escaped)"}"#)
        #expect(
            e == .objectsCreated([ObjectCreated(bucket: "landing", key: "t/data/x y.csv", size: 12, eTag: "abc123")]))
    }

    @Test("an EventBridge Object Created event is decoded, its key taken as is")
    func eventBridge() throws {
        let body =
            #"{"version":"0","source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"landing"},"object":{"key":"t/data/a+b.csv","size":5,"etag":"e1","version-id":"v1"},"reason":"PutObject"}}"#
        let e = try S3EventDecoder.decode(body)
        guard case .objectsCreated(let objects) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(objects.first?.key == "t/data/a+b.csv")
        #expect(objects.first?.versionID == "v1")
    }

    @Test("records of other kinds only are ignored, not dead-lettered")
    func onlyRemovals() throws {
        let e = try S3EventDecoder.decode(
            #"{"Records":[\#(Self.record("a/data/1.csv", name: "ObjectRemoved:Delete"))]}"#)
        guard case .ignored = e else {
            Issue.record("\(e)")
            return
        }
    }

    @Test(
        "malformed messages get a reason that says what is wrong",
        arguments: [
            ("not json at all", "not JSON"),
            (#"{"foo":1}"#, "not an S3 event notification"),
            (#"{"Records":[{"eventSource":"aws:sqs","eventName":"x"}]}"#, "eventSource"),
            (#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{}}]}"#, "no s3.bucket.name"),
            (
                #"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}"#,
                "not valid URL encoding"
            ),
        ])
    func malformed(body: String, reasonPart: String) {
        #expect {
            _ = try S3EventDecoder.decode(body)
        } throws: { error in
            (error as? UndecodableMessage)?.reason.contains(reasonPart) == true
        }
    }
}

@Suite("Single-record bodies for split messages")
struct NotificationBodyTests {
    @Test(
        "a record re-encoded as its own notification decodes to the same object",
        arguments: [
            "acme/data/orders 1.csv", "acme/data/a+b%c=d.csv", "acme/data/ação/日本.csv",
        ])
    func roundTrip(key: String) throws {
        let o = ObjectCreated(bucket: "landing", key: key, size: 9, eTag: "e1", versionID: "v1", sequencer: "s1")
        let decoded = try S3EventDecoder.decode(o.notificationBody)
        #expect(decoded == .objectsCreated([o]))
    }
}
