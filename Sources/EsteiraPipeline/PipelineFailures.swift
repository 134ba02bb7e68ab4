import EsteiraAWS
import EsteiraCSV
import EsteiraMySQL
import Foundation

/// Turns the adapters' errors into `PipelineError`, once, at the edge.
enum PipelineFailures {
    static func classify(_ error: Error) -> PipelineError {
        switch error {
        case let e as PipelineError:
            return e
        case let e as CSVReadError:
            // The same bytes fail the same way every time: all permanent.
            switch e.code {
            case .badHeader: return PipelineError(.badHeader, e.message)
            case .compression: return PipelineError(.badCompression, e.message)
            case .tooLarge: return PipelineError(.tooLarge, e.message)
            default: return PipelineError(.badCSV, e.message)
            }
        case let e as AWSError:
            if e.code == .noSuchKey || e.code == .noSuchVersion || (e.operation == "GetObject" && e.status == 404) {
                return PipelineError(.objectMissing, "the object is gone from S3 (\(e.code)); nothing to load")
            }
            if e.code == .preconditionFailed || e.status == 412 {
                return PipelineError(
                    .versionChanged,
                    "the object was replaced while it was read (ETag changed); the new version has its own event")
            }
            return PipelineError(.storage, e.description, transient: e.isTransient)
        case let e as TransportError:
            return PipelineError(.storage, "reading the object failed: \(e.message)", transient: true)
        case let e as MySQLError:
            return PipelineError(.database, e.description, transient: e.isTransient)
        case is CancellationError:
            return PipelineError(.cancelled, "cancelled before commit", transient: true)
        default:
            return PipelineError(.storage, "\(error)", transient: true)
        }
    }
}
