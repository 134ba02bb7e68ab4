import Foundation

/// What Esteira records on a dead letter, written and read in one place.
///
/// SQS refuses a message whose attribute values hold characters outside XML's (#x9 #xA #xD #x20–#xD7FF
/// #xE000–#xFFFD #x10000–#x10FFFF), or whose body and attributes together pass 256 KiB. A refused send
/// leaves the message cycling in the main queue until redrive moves it without a reason, so every value
/// is made sendable here: refused characters are written as visible `\u{…}` escapes, values are cut by
/// UTF-8 bytes at scalar boundaries, and the whole message is kept under the limit.
public struct DeadLetterAttributes: Sendable, Equatable {
    public static let code = "esteira.error-code"
    public static let message = "esteira.error-message"
    public static let worker = "esteira.worker"
    public static let attempt = "esteira.attempt"
    public static let sourceMessageID = "esteira.source-message-id"
    public static let failedAt = "esteira.failed-at"
    public static let bucket = "esteira.bucket"
    public static let key = "esteira.key"
    public static let route = "esteira.route"
    public static let replayCount = "esteira.replay-count"
    public static let replayOf = "esteira.replay-of"
    public static let replayedAt = "esteira.replayed-at"
    /// Set when the body itself had to be cut to fit: its original size in bytes.
    public static let bodyTruncated = "esteira.body-truncated"

    /// SQS's limit for one message: body, attribute names, types and values together.
    public static let maxMessageBytes = 262_144
    /// The reason and the key are cut to this many bytes even when there is room: a reason is read by people.
    public static let maxValueBytes = 4096
    /// Room kept for the attributes when the body is large: the body is cut before the reason is lost.
    static let attributeReserve = 8192

    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    public subscript(name: String) -> String? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// The attributes of a failure, each value made sendable.
    public init(
        code: String, reason: String, worker: String, attempt: Int, sourceMessageID: String, failedAt: Date,
        bucket: String?, key: String?, route: String?, carriedOver: [String: String] = [:]
    ) {
        var v: [String: String] = [
            Self.code: code, Self.message: reason, Self.worker: worker, Self.attempt: String(attempt),
            Self.sourceMessageID: sourceMessageID, Self.failedAt: ISO8601DateFormatter().string(from: failedAt),
        ]
        if let bucket { v[Self.bucket] = bucket }
        if let key { v[Self.key] = key }
        if let route { v[Self.route] = route }
        for (k, value) in carriedOver where v[k] == nil { v[k] = value }
        self.values = v.mapValues { Self.cut(Self.sanitize($0), maxBytes: Self.maxValueBytes) }
    }

    // MARK: Reading what a dead letter carries

    /// The error code; a letter without one was moved by SQS redrive after too many receives.
    public var errorCode: String { values[Self.code] ?? "MaxReceives" }
    /// The reason, in words a person can act on.
    public var reason: String {
        values[Self.message] ?? "(no reason recorded: moved by SQS redrive after too many receives)"
    }
    /// The object key the failure concerns, when one was recorded.
    public var objectKey: String? { values[Self.key] }
    /// How often the letter was replayed to the main queue.
    public var replays: Int { values[Self.replayCount].flatMap(Int.init) ?? 0 }
    /// What a message keeps when it fails again after a replay: its replay count and the letter it came from.
    public var replayHistory: [String: String] {
        values.filter { $0.key == Self.replayCount || $0.key == Self.replayOf }
    }

    /// These attributes, as sent back to the main queue by a replay of dead letter `id`.
    public func replayed(of id: String, at date: Date) -> DeadLetterAttributes {
        var next = self
        next[Self.replayCount] = String(replays + 1)
        next[Self.replayOf] = id
        next[Self.replayedAt] = ISO8601DateFormatter().string(from: date)
        return next
    }

    /// Body and attributes that SQS will take: values sanitised, then the longest values (the reason
    /// and the key first) cut until the whole fits; a body that leaves no room is cut last.
    public static func sendable(body: String, attributes: [String: String]) -> (
        body: String, attributes: [String: String]
    ) {
        var attributes = attributes.mapValues { cut(sanitize($0), maxBytes: maxValueBytes) }
        var body = sanitize(body)
        let originalBody = body.utf8.count
        if originalBody > maxMessageBytes - attributeReserve {
            body = cut(body, maxBytes: maxMessageBytes - attributeReserve)
            attributes[bodyTruncated] = String(originalBody)
        }
        // Cut the longest value by the excess until the message fits (a round per value at most).
        while size(body: body, attributes: attributes) > maxMessageBytes,
            let (name, value) = attributes.max(by: { $0.value.utf8.count < $1.value.utf8.count }), value.utf8.count > 16
        {
            let excess = size(body: body, attributes: attributes) - maxMessageBytes
            attributes[name] = cut(value, maxBytes: max(16, value.utf8.count - excess - 8))
        }
        return (body, attributes)
    }

    /// The size SQS counts: body, and each attribute's name, data type (`String`) and value.
    public static func size(body: String, attributes: [String: String]) -> Int {
        body.utf8.count + attributes.reduce(0) { $0 + $1.key.utf8.count + "String".utf8.count + $1.value.utf8.count }
    }

    /// Whether SQS takes this scalar in a body or attribute value.
    public static func isAllowed(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    /// Each scalar SQS refuses becomes the visible text `\u{1}`, so the reason still shows what was there.
    public static func sanitize(_ text: String) -> String {
        guard !text.unicodeScalars.allSatisfy(isAllowed) else { return text }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if isAllowed(s) {
                out.append(s)
            } else {
                out.append(contentsOf: "\\u{\(String(s.value, radix: 16))}".unicodeScalars)
            }
        }
        return String(out)
    }

    /// At most `maxBytes` of UTF-8, cut at a scalar boundary; a cut value ends in "…" (within the budget).
    public static func cut(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        let marker = "…"
        let budget = max(0, maxBytes - marker.utf8.count)
        var out = String.UnicodeScalarView()
        var used = 0
        for s in text.unicodeScalars {
            let n = String(s).utf8.count
            if used + n > budget { break }
            out.append(s)
            used += n
        }
        return maxBytes >= marker.utf8.count ? String(out) + marker : String(out)
    }
}
