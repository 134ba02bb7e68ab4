import EsteiraAWS
import Foundation

/// What a notification tells: one file's final outcome, as the JSON documented in docs/OPERATIONS.md
/// ("Notifications"). Every key is always present; what does not apply is `null`.
public struct FileNotification: Sendable, Equatable {
    public enum Event: String, Sendable, CaseIterable {
        case failed = "FAILED"
        case succeeded = "SUCCEEDED"

        /// `failed` or `succeeded` as written in `--notify-on` and a route's `notify.on`.
        public init?(option: String) {
            switch option.trimmingCharacters(in: .whitespaces).lowercased() {
            case "failed": self = .failed
            case "succeeded": self = .succeeded
            default: return nil
            }
        }
    }

    /// The longest `reason` sent, in bytes: a reason is a sentence; SNS takes at most 256 KiB in all.
    public static let maxReasonBytes = 4096

    public var event: Event
    public var bucket: String
    public var key: String
    public var version: String?
    public var route: String?
    public var tenant: String?
    public var table: String?
    /// The failure's reason code, as in the DLQ (`esteira.code`); nil on success.
    public var code: String?
    public var reason: String?
    public var rowsLoaded: Int?
    public var rowsRejected: Int?
    public var rejectsURI: String?
    public var jobID: String
    public var worker: String
    public var at: Date

    public init(
        event: Event, bucket: String, key: String, version: String?, route: String?, tenant: String?,
        table: String?, code: String?, reason: String?, rowsLoaded: Int?, rowsRejected: Int?,
        rejectsURI: String?, jobID: String, worker: String, at: Date = Date()
    ) {
        self.event = event
        self.bucket = bucket
        self.key = key
        self.version = version
        self.route = route
        self.tenant = tenant
        self.table = table
        self.code = code
        self.reason = reason.map(Self.bounded)
        self.rowsLoaded = rowsLoaded
        self.rowsRejected = rowsRejected
        self.rejectsURI = rejectsURI
        self.jobID = jobID
        self.worker = worker
        self.at = at
    }

    /// Cut at a character boundary to `maxReasonBytes`, with a mark that it was cut.
    static func bounded(_ text: String) -> String {
        guard text.utf8.count > maxReasonBytes else { return text }
        var out = ""
        var bytes = 0
        for ch in text {
            let n = String(ch).utf8.count
            if bytes + n > maxReasonBytes - 3 { break }
            out.append(ch)
            bytes += n
        }
        return out + "…"
    }

    /// The JSON body: keys in a fixed order, `at` in ISO 8601 UTC with milliseconds.
    public func json() -> [UInt8] {
        let fields: [(String, JSONValue)] = [
            ("event", .string(event.rawValue)),
            ("bucket", .string(bucket)),
            ("key", .string(key)),
            ("version", Self.value(version)),
            ("route", Self.value(route)),
            ("tenant", Self.value(tenant)),
            ("table", Self.value(table)),
            ("code", Self.value(code)),
            ("reason", Self.value(reason)),
            ("rows_loaded", rowsLoaded.map { .number(Double($0)) } ?? .null),
            ("rows_rejected", rowsRejected.map { .number(Double($0)) } ?? .null),
            ("rejects_uri", Self.value(rejectsURI)),
            ("job_id", .string(jobID)),
            ("worker", .string(worker)),
            ("at", .string(Self.timestamp(at))),
        ]
        var out = "{"
        for (i, (name, value)) in fields.enumerated() {
            if i > 0 { out += "," }
            out += Self.quote(name) + ":" + Self.encode(value)
        }
        return Array((out + "}").utf8)
    }

    private static func value(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }

    private static func encode(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): quote(s)
        case .number(let n): String(Int64(n))
        default: "null"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; the rest as UTF-8.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029:
                out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

/// The webhook's signature header, so a receiver can check that the body came from us, unchanged, recently:
/// `X-Esteira-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the shared secret>`.
public enum WebhookSignature {
    public static let header = "X-Esteira-Signature"

    public static func value(body: [UInt8], secret: [UInt8], timestamp: Int64) -> String {
        "t=\(timestamp),v1=\(Digest.hex(Digest.hmacSHA256(key: secret, data: Array("\(timestamp).".utf8) + body)))"
    }

    /// Checks a header against a body (what a receiver does; the tests use it): the HMAC must match
    /// (compared in constant time) and `t` must be within `tolerance` seconds of `now`.
    public static func verify(_ header: String, body: [UInt8], secret: [UInt8], now: Int64, tolerance: Int64 = 300)
        -> Bool
    {
        var t: Int64?
        var v1: String?
        for part in header.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            if kv[0] == "t" { t = Int64(kv[1]) } else if kv[0] == "v1" { v1 = kv[1] }
        }
        guard let t, let v1, abs(now - t) <= tolerance else { return false }
        let expected = Array(value(body: body, secret: secret, timestamp: t).utf8.suffix(64))
        let given = Array(v1.utf8)
        guard given.count == expected.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(given, expected) { diff |= a ^ b }
        return diff == 0
    }
}
