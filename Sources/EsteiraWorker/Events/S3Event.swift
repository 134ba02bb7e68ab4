import EsteiraAWS
import Foundation

/// One object that a notification says was created.
public struct ObjectCreated: Sendable, Equatable {
    public var bucket: String
    /// The key as S3 stores it (decoded from the notification's URL form).
    public var key: String
    public var size: Int64?
    public var eTag: String?
    public var versionID: String?
    public var sequencer: String?
    public var eventName: String

    public init(
        bucket: String, key: String, size: Int64? = nil, eTag: String? = nil, versionID: String? = nil,
        sequencer: String? = nil, eventName: String = "ObjectCreated:Put"
    ) {
        self.bucket = bucket
        self.key = key
        self.size = size
        self.eTag = eTag
        self.versionID = versionID
        self.sequencer = sequencer
        self.eventName = eventName
    }

    /// What identifies this version of the object: the version id on versioned buckets, else the ETag.
    public var version: String {
        versionID ?? eTag.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? "unversioned"
    }

    public var uri: String { "s3://\(bucket)/\(key)" }

    /// A one-record S3 notification for this object, as S3 itself would send it (key form-encoded).
    /// Used when one record of a multi-record message must be retried or dead-lettered on its own.
    public var notificationBody: String {
        var object: [String: JSONValue] = ["key": .string(S3EventDecoder.encodeKey(key))]
        if let size { object["size"] = .number(Double(size)) }
        if let eTag { object["eTag"] = .string(eTag) }
        if let versionID { object["versionId"] = .string(versionID) }
        if let sequencer { object["sequencer"] = .string(sequencer) }
        let record: JSONValue = [
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": .string(eventName),
            "s3": ["bucket": ["name": .string(bucket)], "object": .object(object)],
        ]
        return String(decoding: JSONValue.object(["Records": [record]]).encoded(), as: UTF8.self)
    }
}

/// What an SQS message turned out to hold.
public enum QueueEvent: Sendable, Equatable {
    /// One or more created objects (a message may carry several records).
    case objectsCreated([ObjectCreated])
    /// S3's check that the notification works: nothing to do, delete it.
    case testEvent
    /// Records of other kinds (ObjectRemoved …): acknowledged and ignored.
    case ignored(reason: String)
}

/// A message that can never be processed: it goes to the dead-letter queue with this reason.
public struct UndecodableMessage: Error, CustomStringConvertible, Sendable, Equatable {
    public var reason: String
    public var description: String { reason }
}

/// Decodes S3 notifications sent straight to SQS, wrapped in SNS, or delivered by EventBridge.
public enum S3EventDecoder {
    public static func decode(_ body: String) throws(UndecodableMessage) -> QueueEvent {
        guard let json = try? JSONValue.decode(Array(body.utf8)) else {
            throw UndecodableMessage(
                reason:
                    "message body is not JSON (first bytes: \(body.prefix(80).debugDescription)); expected an S3 event notification"
            )
        }
        return try decode(json)
    }

    static func decode(_ json: JSONValue) throws(UndecodableMessage) -> QueueEvent {
        // SNS envelope: the S3 event is a JSON string in "Message".
        if json["Type"]?.string == "Notification", let inner = json["Message"]?.string {
            return try decode(inner)
        }
        if json["Event"]?.string == "s3:TestEvent" { return .testEvent }
        // EventBridge: {"source":"aws.s3","detail-type":"Object Created","detail":{...}}
        if json["source"]?.string == "aws.s3", let detail = json["detail"] {
            let type = json["detail-type"]?.string ?? ""
            guard type == "Object Created" else { return .ignored(reason: "EventBridge event '\(type)'") }
            guard let bucket = detail["bucket"]?["name"]?.string, let key = detail["object"]?["key"]?.string else {
                throw UndecodableMessage(reason: "EventBridge Object Created event without bucket name or object key")
            }
            // EventBridge keys are not URL-encoded.
            return .objectsCreated([
                ObjectCreated(
                    bucket: bucket, key: key, size: detail["object"]?["size"]?.int.map(Int64.init),
                    eTag: detail["object"]?["etag"]?.string, versionID: detail["object"]?["version-id"]?.string,
                    sequencer: detail["object"]?["sequencer"]?.string,
                    eventName: "ObjectCreated:\(detail["reason"]?.string ?? "")")
            ])
        }
        guard let records = json["Records"]?.array else {
            throw UndecodableMessage(
                reason: "message is JSON but not an S3 event notification (no Records, not SNS, not EventBridge)")
        }
        var created: [ObjectCreated] = []
        var others: [String] = []
        for (i, r) in records.enumerated() {
            let name = r["eventName"]?.string ?? ""
            guard r["eventSource"]?.string == "aws:s3" else {
                throw UndecodableMessage(
                    reason: "record \(i) has eventSource \(r["eventSource"]?.string ?? "none"), expected aws:s3")
            }
            guard name.hasPrefix("ObjectCreated:") else {
                others.append(name)
                continue
            }
            guard let bucket = r["s3"]?["bucket"]?["name"]?.string, let rawKey = r["s3"]?["object"]?["key"]?.string
            else {
                throw UndecodableMessage(reason: "record \(i) (\(name)) has no s3.bucket.name or s3.object.key")
            }
            guard let key = decodeKey(rawKey) else {
                throw UndecodableMessage(reason: "record \(i) key '\(rawKey)' is not valid URL encoding")
            }
            let object = r["s3"]?["object"]
            created.append(
                ObjectCreated(
                    bucket: bucket, key: key, size: object?["size"]?.int.map(Int64.init), eTag: object?["eTag"]?.string,
                    versionID: object?["versionId"]?.string.flatMap { $0.isEmpty ? nil : $0 },
                    sequencer: object?["sequencer"]?.string, eventName: name))
        }
        if created.isEmpty {
            return .ignored(reason: others.isEmpty ? "no records" : "events \(others.joined(separator: ", "))")
        }
        return .objectsCreated(created)
    }

    /// S3 notification keys are form-encoded: '+' is a space and everything else is %XX.
    public static func decodeKey(_ raw: String) -> String? {
        raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The inverse of `decodeKey`: what S3 puts in a notification for a key.
    public static func encodeKey(_ key: String) -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.*/ ")
        allowed.remove(charactersIn: "+")
        return (key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key).replacingOccurrences(
            of: " ", with: "+")
    }
}
