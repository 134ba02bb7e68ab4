import Foundation
import Logging

@testable import EsteiraAWS

/// The moto server of the local stack, for tests that need real AWS APIs with signatures checked.
enum LocalStack {
    struct NotRunning: Error, CustomStringConvertible {
        var description: String {
            "AWS_ENDPOINT_URL is not set: this test needs the local stack (moto). Run `make services-up` "
                + "in /work/main, then `source .local/env` before `swift test`."
        }
    }

    static var env: [String: String] { ProcessInfo.processInfo.environment }

    /// The stack's environment; throws (failing the test) when the stack is not configured.
    static func environment() throws -> [String: String] {
        guard let url = env["AWS_ENDPOINT_URL"], !url.isEmpty else { throw NotRunning() }
        return env
    }

    /// moto's port, for the fault proxy to forward to.
    static func motoPort() throws -> Int {
        let url = try environment()["AWS_ENDPOINT_URL"]!
        guard let port = URLComponents(string: url)?.port else { throw NotRunning() }
        return port
    }

    static let quietLogger: Logger = {
        var l = Logger(label: "esteira.aws.test")
        l.logLevel = .critical
        return l
    }()

    /// A client for moto, or for whatever answers at `endpoint` (a fault proxy in front of moto).
    static func client(
        endpoint: String? = nil, maxAttempts: Int? = nil, baseDelay: Duration = .milliseconds(10),
        transport: HTTPTransport = .shared
    ) throws -> AWSClient {
        var e = try environment()
        if let endpoint {
            e["AWS_ENDPOINT_URL"] = endpoint
            for s in AWSService.allCases { e[s.endpointVariable] = nil }
        }
        var config = try AWSConfig.fromEnvironment(e, transport: transport)
        if let maxAttempts { config.retry.maxAttempts = maxAttempts }
        config.retry.baseDelay = baseDelay
        return AWSClient(config: config, transport: transport, logger: quietLogger)
    }

    /// A name no other test (or earlier run) uses: tests run in parallel against one moto.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    }
}
