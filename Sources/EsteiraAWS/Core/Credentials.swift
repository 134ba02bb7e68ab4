import Foundation

/// Where signing keys come from. Implementations cache and refresh; callers ask before every request.
public protocol AWSCredentialProvider: Sendable {
    func credentials() async throws -> AWSCredentials
}

/// Keys given in code (tests, tools).
public struct StaticCredentials: AWSCredentialProvider {
    public let value: AWSCredentials
    public init(_ value: AWSCredentials) { self.value = value }
    public func credentials() async throws -> AWSCredentials { value }
}

/// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read once.
public struct EnvironmentCredentials: AWSCredentialProvider {
    public let value: AWSCredentials

    public init(_ env: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let id = env["AWS_ACCESS_KEY_ID"], !id.isEmpty,
              let secret = env["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw AWSConfigurationError(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for the local stack: source .local/env)")
        }
        let token = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        value = AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }

    public func credentials() async throws -> AWSCredentials { value }
}
