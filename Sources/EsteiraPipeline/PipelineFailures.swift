import Foundation
import EsteiraAWS
import EsteiraMySQL

/// Turns the adapters' errors into `PipelineError`, once, at the edge.
enum PipelineFailures {
    static func classify(_ error: Error) -> PipelineError {
        switch error {
        case let e as PipelineError:
            return e
        case let e as AWSError:
            if e.code == "NoSuchKey" || e.code == "NoSuchVersion" || (e.operation == "GetObject" && e.status == 404) {
                return PipelineError(.objectMissing, "the object is gone from S3 (\(e.code)); nothing to load")
            }
            if e.code == "PreconditionFailed" || e.status == 412 {
                return PipelineError(.versionChanged, "the object was replaced while it was read (ETag changed); the new version has its own event")
            }
            return PipelineError(.storage, e.description, transient: e.isTransient)
        case let e as TransportError:
            return PipelineError(.storage, "reading the object failed: \(e.message)", transient: true)
        case let e as MySQLError:
            return PipelineError(.database, e.description, transient: e.isTransient)
        case is CancellationError:
            return PipelineError(.storage, "cancelled before commit", transient: true)
        default:
            return PipelineError(.storage, "\(error)", transient: true)
        }
    }
}

/// Header names become safe column identifiers; a header can never carry SQL.
enum HeaderNormalizer {
    static func columns(_ raw: [String]) throws(PipelineError) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for (i, name) in raw.enumerated() {
            var n = name.trimmingCharacters(in: .whitespaces).lowercased()
            n = String(n.map { $0 == " " || $0 == "-" ? "_" : $0 })
            guard !n.isEmpty else {
                throw PipelineError(.badHeader, "header column \(i + 1) is empty; every column needs a name")
            }
            guard n.utf8.count <= 64, n.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }) else {
                throw PipelineError(.badHeader, "header column \(i + 1) '\(name.prefix(80))' is not a plain name (letters, digits, '_', at most 64); rename it in the file")
            }
            guard seen.insert(n).inserted else {
                throw PipelineError(.badHeader, "header column '\(n)' appears twice; column names must be unique")
            }
            out.append(n)
        }
        return out
    }
}
