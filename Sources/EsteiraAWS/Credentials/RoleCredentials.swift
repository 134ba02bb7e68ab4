import Foundation

/// IRSA on EKS, and profiles with `web_identity_token_file`: the token file (rotated by the kubelet,
/// so read again on every refresh) is traded for role credentials with STS AssumeRoleWithWebIdentity.
public struct WebIdentityCredentials: Sendable {
    public var roleARN: String
    public var tokenFile: String
    public var sessionName: String
    /// The STS client; its credentials are used only when `signRequests` is set.
    public var sts: STSClient
    /// Sign the STS call (a local server checking every signature needs it; AWS does not).
    public var signRequests: Bool

    public init(
        roleARN: String, tokenFile: String, sessionName: String? = nil, sts: STSClient,
        signRequests: Bool = false
    ) {
        self.roleARN = roleARN
        self.tokenFile = tokenFile
        self.sessionName = sessionName ?? defaultSessionName()
        self.sts = sts
        self.signRequests = signRequests
    }

    public func fetch() async throws -> AWSCredentials {
        let source = "web identity (role \(roleARN))"
        let token = try readTextFile(tokenFile, source: source, what: "the web identity token file")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw AWSCredentialsError(source: source, message: "the token file \(tokenFile) is empty")
        }
        do {
            return try await sts.assumeRoleWithWebIdentity(
                roleARN: roleARN, sessionName: sessionName,
                webIdentityToken: token, signed: signRequests)
        } catch let e as AWSError {
            throw AWSCredentialsError(
                source: source, message: "STS refused the token: \(e)", isTransient: e.isTransient)
        }
    }

    /// The provider to hand to `AWSConfig`: cached, refreshed before expiry.
    public func provider() -> RefreshingCredentials {
        RefreshingCredentials(source: "web identity", fetch: fetch)
    }
}

/// A profile's `role_arn` with `source_profile` or `credential_source`: the source's credentials
/// sign STS AssumeRole.
public struct AssumeRoleCredentials: Sendable {
    public var roleARN: String
    public var sessionName: String
    public var externalID: String?
    public var durationSeconds: Int?
    /// Signed with the source credentials.
    public var sts: STSClient

    public init(
        roleARN: String, sessionName: String? = nil, externalID: String? = nil, durationSeconds: Int? = nil,
        sts: STSClient
    ) {
        self.roleARN = roleARN
        self.sessionName = sessionName ?? defaultSessionName()
        self.externalID = externalID
        self.durationSeconds = durationSeconds
        self.sts = sts
    }

    public func fetch() async throws -> AWSCredentials {
        do {
            return try await sts.assumeRole(
                roleARN: roleARN, sessionName: sessionName,
                durationSeconds: durationSeconds, externalID: externalID)
        } catch let e as AWSError {
            throw AWSCredentialsError(source: "assume role \(roleARN)", message: "\(e)", isTransient: e.isTransient)
        }
    }

    public func provider() -> RefreshingCredentials {
        RefreshingCredentials(source: "assume role", fetch: fetch)
    }
}

/// What CloudTrail shows for our sessions when the user names none.
func defaultSessionName() -> String { "esteira-\(Int(Date().timeIntervalSince1970))" }
