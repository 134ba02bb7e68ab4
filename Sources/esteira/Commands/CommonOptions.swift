import ArgumentParser
import EsteiraAWS
import EsteiraWorker
import Foundation
import Logging

/// Names of the AWS resources, shared by every command. Each defaults to an ESTEIRA_* variable.
struct ResourceOptions: ParsableArguments {
    @Option(
        name: .customLong("bucket"),
        help:
            "Landing bucket (env ESTEIRA_BUCKET). The worker and `dlq replay` accept several: repeat --bucket or give a comma list; events naming any other bucket are dead-lettered as ForeignBucket."
    )
    var buckets: [String] = [env("ESTEIRA_BUCKET") ?? "esteira-landing"]

    @Option(help: "Main queue name (env ESTEIRA_QUEUE).")
    var queue: String = env("ESTEIRA_QUEUE") ?? "esteira-files"

    @Option(help: "Dead-letter queue name (env ESTEIRA_DLQ).")
    var dlq: String = env("ESTEIRA_DLQ") ?? "esteira-files-dlq"

    @Option(name: .customLong("jobs-table"), help: "DynamoDB jobs table (env ESTEIRA_JOBS_TABLE).")
    var jobsTable: String = env("ESTEIRA_JOBS_TABLE") ?? "esteira-jobs"

    /// Every landing bucket named, each checked against S3's naming rules.
    func landingBuckets() throws -> LandingBuckets {
        do { return try LandingBuckets(buckets) } catch { throw ValidationError(error.description) }
    }

    /// The one landing bucket of commands that take one (setup).
    var bucket: String { (try? landingBuckets())?.names.first ?? buckets.first ?? "esteira-landing" }
}

func env(_ name: String) -> String? {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
    return v
}

/// A failure the user can act on: printed as one clear line, exit code 1.
struct UserFacingError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func makeAWSClient(logger: Logger, requestObserver: AWSRequestObserver? = nil) throws -> AWSClient {
    do {
        return AWSClient(config: try AWSConfig.fromEnvironment(), logger: logger, requestObserver: requestObserver)
    } catch let e as AWSConfigurationError {
        throw UserFacingError(e.description)
    }
}

/// JSON lines by default (what log pipelines want); ESTEIRA_LOG_FORMAT=text for people at a terminal.
func bootstrapLogging() -> Logger {
    _ = loggingBootstrapped
    return Logger(label: "esteira")
}

/// swift-log allows one bootstrap per process; commands that share helpers may ask more than once.
private let loggingBootstrapped: Void = {
    let raw = env("ESTEIRA_LOG_LEVEL")
    let level = raw.flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
    if let raw, Logger.Level(rawValue: raw.lowercased()) == nil {
        FileHandle.standardError.write(
            Data(
                "esteira: ESTEIRA_LOG_LEVEL='\(raw)' is not one of trace, debug, info, notice, warning, error, critical; using info\n"
                    .utf8))
    }
    let text = (env("ESTEIRA_LOG_FORMAT") ?? "json").lowercased() == "text"
    LoggingSystem.bootstrap { label in
        if text {
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return JSONLogHandler(label: label, level: level)
    }
}()
