import Foundation

/// Where signing keys come from. Implementations cache and refresh; callers ask before every request.
public protocol AWSCredentialProvider: Sendable {
    func credentials() async throws -> AWSCredentials
}

/// Why no credentials could be had from a source, said so that the user knows what to fix.
public struct AWSCredentialsError: Error, CustomStringConvertible, Sendable {
    /// The source that failed: "environment", "profile 'ci'", "web identity", "container", "IMDSv2" …
    public var source: String
    public var message: String
    /// True when asking again later may work (a metadata endpoint that timed out, STS throttling).
    public var isTransient: Bool

    public init(source: String, message: String, isTransient: Bool = false) {
        self.source = source
        self.message = message
        self.isTransient = isTransient
    }

    public var description: String { "AWS credentials from \(source): \(message)" }
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
            let secret = env["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else {
            throw AWSConfigurationError(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for the local stack: source .local/env)"
            )
        }
        let token = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        value = AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }

    public func credentials() async throws -> AWSCredentials { value }
}

/// Stands in where a call is never signed (AssumeRoleWithWebIdentity); asking it is a programming error
/// reported as such rather than a crash.
struct NoCredentials: AWSCredentialProvider {
    let purpose: String
    func credentials() async throws -> AWSCredentials {
        throw AWSCredentialsError(source: purpose, message: "this client only makes unsigned calls")
    }
}

/// Reads a small local file (a token the kubelet rotates, a config file) as UTF-8 text.
func readTextFile(_ path: String, source: String, what: String) throws -> String {
    do {
        return try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        throw AWSCredentialsError(source: source, message: "cannot read \(what) \(path): \(error.localizedDescription)")
    }
}

/// The timestamps credential sources send: ISO 8601 in UTC, with or without fractional seconds
/// (STS and moto send up to six digits, which ISO8601DateFormatter does not accept).
enum ISO8601 {
    static func parse(_ text: String) -> Date? {
        var whole = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: "."),
            let end = text[dot...].firstIndex(where: { !$0.isNumber && $0 != "." })
        {
            fraction = Double("0" + text[dot..<end]) ?? 0
            whole = String(text[..<dot]) + String(text[end...])
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: whole).map { $0.addingTimeInterval(fraction) }
    }
}
