import EsteiraPipeline
import Foundation
import Testing

@testable import EsteiraWorker

@Suite("Notification payload, signature and targets")
struct NotificationPayloadTests {
    static func failed(reason: String = "more than 10 rows refused") -> FileNotification {
        FileNotification(
            event: .failed, bucket: "landing", key: "acme/data/orders \"1\".csv", version: "v1",
            route: "acme-orders", tenant: "acme", table: "orders", code: "TooManyRejects", reason: reason,
            rowsLoaded: nil, rowsRejected: nil, rejectsURI: "s3://landing/acme/rejects/orders.csv",
            jobID: "s3://landing/acme/data/orders.csv#v1", worker: "w-1",
            at: Date(timeIntervalSince1970: 1_700_000_000.25))
    }

    @Test("every documented key is present, in order, with null for what does not apply")
    func keys() throws {
        let body = Self.failed().json()
        let text = String(decoding: body, as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let documented = [
            "event", "bucket", "key", "version", "route", "tenant", "table", "code", "reason", "rows_loaded",
            "rows_rejected", "rejects_uri", "job_id", "worker", "at",
        ]
        #expect(Set(object.keys) == Set(documented))
        let positions = documented.map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(object["event"] as? String == "FAILED")
        #expect(object["key"] as? String == "acme/data/orders \"1\".csv")
        #expect(object["rows_loaded"] is NSNull)
        #expect(object["rejects_uri"] as? String == "s3://landing/acme/rejects/orders.csv")
        #expect(object["at"] as? String == "2023-11-14T22:13:20.250Z")
    }

    @Test("success carries the row counts and no code")
    func succeeded() throws {
        let n = FileNotification(
            event: .succeeded, bucket: "b", key: "k", version: nil, route: "r", tenant: "t",
            table: "orders", code: nil, reason: nil, rowsLoaded: 1_000_000, rowsRejected: 2,
            rejectsURI: nil, jobID: "j", worker: "w")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(n.json())) as? [String: Any])
        #expect(object["rows_loaded"] as? Int == 1_000_000)
        #expect(object["rows_rejected"] as? Int == 2)
        #expect(object["code"] is NSNull)
        #expect(object["version"] is NSNull)
    }

    @Test("control characters and quotes in a reason stay valid JSON; a long reason is cut to the limit")
    func hostileReason() throws {
        let reason = "line 3: \u{0}\u{1F}\"\\\n" + String(repeating: "é", count: 10_000)
        let body = Self.failed(reason: reason).json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let sent = try #require(object["reason"] as? String)
        #expect(sent.hasPrefix("line 3: \u{0}\u{1F}\"\\\n"))
        #expect(sent.utf8.count <= FileNotification.maxReasonBytes)
        #expect(sent.hasSuffix("…"))
    }

    @Test("the signature is HMAC-SHA256 of \"t.body\" (the value Python's hmac module gives)")
    func signature() {
        let value = WebhookSignature.value(
            body: Array("{\"a\":1}".utf8), secret: Array("topsecret".utf8), timestamp: 1_700_000_000)
        #expect(value == "t=1700000000,v1=6a939b0c71853d606167625a15168ee9188c6a511c773ef4f42d307f3849e50f")
    }

    @Test("verification takes the right signature and refuses a changed body, another secret or an old timestamp")
    func verify() {
        let body = Self.failed().json()
        let secret = Array("s3cr3t".utf8)
        let header = WebhookSignature.value(body: body, secret: secret, timestamp: 1_000)
        #expect(WebhookSignature.verify(header, body: body, secret: secret, now: 1_010))
        #expect(!WebhookSignature.verify(header, body: body + [0x20], secret: secret, now: 1_010))
        #expect(!WebhookSignature.verify(header, body: body, secret: Array("other".utf8), now: 1_010))
        #expect(!WebhookSignature.verify(header, body: body, secret: secret, now: 2_000))
        #expect(!WebhookSignature.verify("t=1000", body: body, secret: secret, now: 1_000))
    }

    @Test(
        "a webhook URL must be https, or http to a loopback address",
        arguments: [
            ("https://hooks.example.com/esteira", true),
            ("http://127.0.0.1:8080/hook", true),
            ("http://[::1]:8080/hook", true),
            ("http://localhost/hook", true),
            ("http://hooks.example.com/esteira", false),
            ("http://127.example.com/hook", false),
            ("http://127.1/hook", false),
            ("ftp://hooks.example.com/x", false),
            ("https://user:pw@hooks.example.com/x", false),
            ("not a url", false),
        ])
    func webhookURL(url: String, accepted: Bool) {
        #expect(((try? WebhookURL(url)) != nil) == accepted)
    }

    @Test("the redacted form drops the query string (it may carry a token)")
    func redacted() throws {
        #expect(try WebhookURL("https://h.example.com:8443/p?token=abc").redacted == "https://h.example.com:8443/p")
    }

    @Test("events parse from a flag or a list; unknown names are refused with the choices")
    func events() throws {
        #expect(try NotifyTargets.events(["failed,succeeded"], what: "--notify-on") == [.failed, .succeeded])
        #expect(try NotifyTargets.events(["SUCCEEDED"], what: "x") == [.succeeded])
        #expect(throws: NotifyConfigurationError.self) { try NotifyTargets.events(["fail"], what: "x") }
        #expect(throws: NotifyConfigurationError.self) { try NotifyTargets.events([""], what: "x") }
    }

    @Test("a route's notify block: defaults to failed, refuses plain-http webhooks and empty blocks")
    func routeBlock() throws {
        var route = Route(name: "r", tenant: "t", table: "x")
        route.notify = RouteNotify(snsTopic: "arn:aws:sns:us-east-1:123456789012:t")
        #expect(try NotifyTargets.route(route)?.events == [.failed])
        route.notify = RouteNotify(webhook: "http://hooks.example.com/x")
        #expect(throws: NotifyConfigurationError.self) { try NotifyTargets.route(route) }
        route.notify = RouteNotify(on: ["failed"])
        #expect(throws: NotifyConfigurationError.self) { try NotifyTargets.route(route) }
    }

    @Test("the routes file reads notify:")
    func routesFile() throws {
        let yaml = """
            routes:
              - name: acme-orders
                tenant: acme
                table: orders
                notify:
                  sns_topic: arn:aws:sns:us-east-1:123456789012:partner-files
                  webhook: https://hooks.example.com/esteira
                  on: [failed, succeeded]
            """
        let table = try RouteTable.parse(yaml: yaml)
        let targets = try #require(try NotifyTargets.route(table.routes[0]))
        #expect(targets.snsTopic == "arn:aws:sns:us-east-1:123456789012:partner-files")
        #expect(targets.webhook?.url == "https://hooks.example.com/esteira")
        #expect(targets.events == [.failed, .succeeded])
    }

    @Test(
        "the routes file refuses a bad notify: block at load, and `routes check` names it with its line",
        arguments: [
            ("{webhook: \"http://hooks.example.com/x\"}", "must use https"),
            ("{sns_topic: partner-files}", "is not a topic ARN"),
            ("{webhook: \"https://h.example.com/x\", on: [failed, sometimes]}", "'sometimes' is not an event"),
            ("{on: [failed]}", "names neither sns_topic nor webhook"),
        ])
    func badBlock(line: String, message: String) throws {
        let yaml = """
            routes:
              - name: acme-orders
                tenant: acme
                table: orders
                notify: \(line)
            """
        #expect {
            try RouteTable.parse(yaml: yaml)
        } throws: { "\($0)".contains(message) }
        let problems = RoutesLinter.check(yaml: yaml)
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains(message) == true)
        #expect(problems.first?.line == 2)
    }
}
