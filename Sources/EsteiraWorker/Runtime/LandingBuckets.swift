import EsteiraAWS
import Foundation

/// The buckets a worker loads from: its landing bucket(s), and nothing else.
///
/// A message can name any bucket; the role's read permission is not a decision about what belongs in a
/// tenant's table. Anything outside this list is dead-lettered as `ForeignBucket`, unread.
public struct LandingBuckets: Sendable, Equatable, CustomStringConvertible {
    public let names: [String]

    /// Each entry may itself be a comma-separated list (`--bucket a,b`, `ESTEIRA_BUCKET=a,b`).
    public init(_ entries: [String]) throws(LandingBucketsError) {
        var names: [String] = []
        for entry in entries {
            for part in entry.split(separator: ",") {
                let name = part.trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { continue }
                if let problem = S3BucketName.problem(name) {
                    throw LandingBucketsError(
                        description: "landing bucket '\(name)' is not a valid S3 bucket name: \(problem)")
                }
                if !names.contains(name) { names.append(name) }
            }
        }
        guard !names.isEmpty else {
            throw LandingBucketsError(
                description: "no landing bucket: give --bucket NAME (repeatable, or a comma list) or ESTEIRA_BUCKET")
        }
        self.names = names
    }

    /// Why a message naming `bucket` is refused, or nil when it is one of ours.
    public func refusal(_ bucket: String) -> String? {
        if let problem = S3BucketName.problem(bucket) {
            return
                "the event names bucket \(bucket.debugDescription), which is not a valid S3 bucket name (\(problem)); nothing was read"
        }
        guard names.contains(bucket) else {
            return
                "the event names bucket '\(bucket)', which is not a landing bucket of this worker (\(description)); nothing was read. If it should be loaded, add it with --bucket or ESTEIRA_BUCKET"
        }
        return nil
    }

    public var description: String { names.joined(separator: ", ") }
}

public struct LandingBucketsError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
