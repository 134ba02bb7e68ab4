import Foundation

/// Who the credentials in use belong to.
public struct STSCallerIdentity: Sendable, Equatable {
    public var account: String
    public var arn: String
    public var userID: String
}

/// STS in its query protocol (form-encoded POST, XML answers): identity and role assumption.
public struct STSClient: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    private func call(_ action: String, _ parameters: [(String, String)], unsigned: Bool = false) async throws
        -> XMLLite
    {
        let form = [("Action", action), ("Version", "2011-06-15")] + parameters
        var op = AWSOperation(
            service: .sts, name: action,
            headers: [
                ("content-type", "application/x-www-form-urlencoded; charset=utf-8")
            ], body: Array(SigV4URI.encodeQuery(form).utf8))
        op.unsigned = unsigned
        return XMLLite(try await client.send(op, errorParser: .xml).body)
    }

    public func getCallerIdentity() async throws -> STSCallerIdentity {
        let doc = try await call("GetCallerIdentity", [])
        guard let arn = doc.first("Arn") else { throw malformed("GetCallerIdentity", "no Arn") }
        return STSCallerIdentity(account: doc.first("Account") ?? "", arn: arn, userID: doc.first("UserId") ?? "")
    }

    /// Temporary credentials for `roleARN`, signed with this client's credentials.
    public func assumeRole(
        roleARN: String, sessionName: String, durationSeconds: Int? = nil,
        externalID: String? = nil
    ) async throws -> AWSCredentials {
        var p = [("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let durationSeconds { p.append(("DurationSeconds", String(durationSeconds))) }
        if let externalID { p.append(("ExternalId", externalID)) }
        return try credentials(from: await call("AssumeRole", p), "AssumeRole")
    }

    /// Trades an OIDC token (IRSA's projected service-account token) for role credentials.
    ///
    /// AWS takes this call unsigned, as the SDKs send it: the token is the credential, and the pod
    /// has no other. `signed: true` signs it with this client's credentials, which AWS also accepts
    /// and which a local server that checks every signature (moto) needs.
    public func assumeRoleWithWebIdentity(
        roleARN: String, sessionName: String, webIdentityToken: String,
        durationSeconds: Int? = nil, signed: Bool = false
    ) async throws -> AWSCredentials {
        var p = [("RoleArn", roleARN), ("RoleSessionName", sessionName), ("WebIdentityToken", webIdentityToken)]
        if let durationSeconds { p.append(("DurationSeconds", String(durationSeconds))) }
        return try credentials(
            from: await call("AssumeRoleWithWebIdentity", p, unsigned: !signed),
            "AssumeRoleWithWebIdentity")
    }

    private func credentials(from doc: XMLLite, _ action: String) throws -> AWSCredentials {
        guard let block = doc.blocks("Credentials").first, let id = block.first("AccessKeyId"),
            let secret = block.first("SecretAccessKey")
        else {
            throw malformed(action, "no Credentials in the answer")
        }
        return AWSCredentials(
            accessKeyID: id, secretAccessKey: secret, sessionToken: block.first("SessionToken"),
            expiration: block.first("Expiration").flatMap(ISO8601.parse))
    }

    private func malformed(_ op: String, _ what: String) -> AWSError {
        AWSError(
            service: "sts", operation: op, code: .malformedResponse, message: what, status: 200, isTransient: false)
    }
}
