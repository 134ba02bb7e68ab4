import Foundation

/// A secret's value as Secrets Manager returns it.
public struct SecretValue: Sendable {
    public var name: String
    public var arn: String
    public var versionID: String?
    /// Set for text secrets (the RDS format is JSON text).
    public var string: String?
    /// Set for binary secrets.
    public var binary: [UInt8]?
}

/// Secrets Manager in its JSON protocol (`secretsmanager.<Operation>`).
public struct SecretsManagerClient: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    @discardableResult
    func call(_ name: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        let op = AWSOperation(
            service: .secretsmanager, name: name,
            headers: [
                ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "secretsmanager.\(name)"),
            ], body: JSONValue.object(body).encoded())
        let r = try await client.send(op, errorParser: .json)
        return r.body.isEmpty ? .object([:]) : try JSONValue.decode(r.body)
    }

    /// The current value (or the one labelled `versionStage`) of a secret, by name or ARN.
    public func getSecretValue(secretID: String, versionStage: String? = nil) async throws -> SecretValue {
        var body: [String: JSONValue] = ["SecretId": .string(secretID)]
        if let versionStage { body["VersionStage"] = .string(versionStage) }
        let r = try await call("GetSecretValue", body)
        return SecretValue(
            name: r["Name"]?.string ?? secretID, arn: r["ARN"]?.string ?? "",
            versionID: r["VersionId"]?.string, string: r["SecretString"]?.string,
            binary: r["SecretBinary"]?.string.flatMap { Data(base64Encoded: $0) }.map { Array($0) })
    }

    /// Creates a text secret; returns its ARN. For setting up a stack; the worker only reads.
    @discardableResult
    public func createSecret(name: String, string: String) async throws -> String {
        let r = try await call("CreateSecret", ["Name": .string(name), "SecretString": .string(string)])
        return r["ARN"]?.string ?? ""
    }

    /// Stores a new current value of a text secret (what a rotation does); returns the new version id.
    /// For tools and tests; the worker only reads.
    @discardableResult
    public func putSecretValue(secretID: String, string: String) async throws -> String {
        let r = try await call("PutSecretValue", ["SecretId": .string(secretID), "SecretString": .string(string)])
        return r["VersionId"]?.string ?? ""
    }
}
