import Foundation

/// EKS Pod Identity and ECS task roles: a local HTTP endpoint hands out role credentials.
///
/// The protocol: GET the URL, with the `Authorization` header set to the token from
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on every refresh: EKS rotates it) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`; the answer is JSON with AccessKeyId, SecretAccessKey, Token
/// and Expiration.
public struct ContainerCredentials: Sendable {
    public var url: String
    public var authorizationToken: String?
    public var authorizationTokenFile: String?
    let transport: HTTPTransport

    /// The ECS agent's address, for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
    static let ecsHost = "http://169.254.170.2"
    /// Plain-HTTP hosts a full URI may name: loopback (by address, see ``LoopbackAddress``), and the ECS
    /// and EKS Pod Identity agents. Any other host must use HTTPS, as the SDKs insist: the answer is a set
    /// of keys.
    static func allowsPlainHTTP(host: String) -> Bool {
        LoopbackAddress.isLoopback(host) || LoopbackAddress.isContainerAgent(host)
    }

    public init(
        url: String, authorizationToken: String? = nil, authorizationTokenFile: String? = nil,
        transport: HTTPTransport = .shared
    ) {
        self.url = url
        self.authorizationToken = authorizationToken
        self.authorizationTokenFile = authorizationTokenFile
        self.transport = transport
    }

    /// From the container variables, or nil when neither URI variable is set.
    public static func fromEnvironment(_ env: [String: String], transport: HTTPTransport = .shared) throws
        -> ContainerCredentials?
    {
        let token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let tokenFile = env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let relative = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            let path = relative.hasPrefix("/") ? relative : "/" + relative
            return ContainerCredentials(
                url: ecsHost + path, authorizationToken: token,
                authorizationTokenFile: tokenFile, transport: transport)
        }
        guard let full = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty else { return nil }
        guard let c = URLComponents(string: full), let scheme = c.scheme?.lowercased(), let host = c.host else {
            throw AWSConfigurationError("AWS_CONTAINER_CREDENTIALS_FULL_URI='\(full)' is not a URL")
        }
        guard scheme == "https" || (scheme == "http" && allowsPlainHTTP(host: host)) else {
            throw AWSConfigurationError(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI='\(full)' must be https, or http to loopback or the ECS/EKS agent address"
            )
        }
        return ContainerCredentials(
            url: full, authorizationToken: token, authorizationTokenFile: tokenFile,
            transport: transport)
    }

    public func fetch() async throws -> AWSCredentials {
        let source = "container endpoint \(url)"
        var headers: [(String, String)] = [("accept", "application/json")]
        if let file = authorizationTokenFile {
            let token = try readTextFile(file, source: source, what: "the authorization token file")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            headers.append(("authorization", token))
        } else if let authorizationToken {
            headers.append(("authorization", authorizationToken))
        }
        let response = try await metadataGET(transport, url: url, headers: headers, source: source)
        return try parseRoleCredentials(response.body, source: source)
    }

    public func provider() -> RefreshingCredentials {
        RefreshingCredentials(source: "container", fetch: fetch)
    }
}

/// EC2 instance roles through IMDSv2: a session token from PUT /latest/api/token, then the role
/// name and its credentials. IMDSv1 is not used: without the token step, an SSRF in any process on
/// the host could read the keys.
public struct InstanceMetadataCredentials: Sendable {
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, or the link-local address (IPv6 with
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
    public var endpoint: String
    let transport: HTTPTransport

    public init(endpoint: String = "http://169.254.169.254", transport: HTTPTransport = .shared) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.transport = transport
    }

    /// nil when `AWS_EC2_METADATA_DISABLED=true`.
    public static func fromEnvironment(_ env: [String: String], transport: HTTPTransport = .shared)
        -> InstanceMetadataCredentials?
    {
        if env["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        if let e = env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], !e.isEmpty {
            return InstanceMetadataCredentials(endpoint: e, transport: transport)
        }
        let ipv6 = env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercased() == "ipv6"
        return InstanceMetadataCredentials(
            endpoint: ipv6 ? "http://[fd00:ec2::254]" : "http://169.254.169.254",
            transport: transport)
    }

    public func fetch() async throws -> AWSCredentials {
        let source = "IMDSv2 at \(endpoint)"
        let token = try await metadataRequest(
            transport,
            HTTPRequest(
                method: "PUT", url: endpoint + "/latest/api/token",
                headers: [("x-aws-ec2-metadata-token-ttl-seconds", "21600")], timeout: .seconds(2)),
            source: source
        ).bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = [("x-aws-ec2-metadata-token", token)]
        let base = endpoint + "/latest/meta-data/iam/security-credentials/"
        let roles = try await metadataGET(transport, url: base, headers: auth, source: source).bodyText
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw AWSCredentialsError(
                source: source, message: "the instance has no IAM role attached; attach an instance profile")
        }
        let response = try await metadataGET(transport, url: base + role, headers: auth, source: source)
        return try parseRoleCredentials(response.body, source: source)
    }

    public func provider() -> RefreshingCredentials {
        RefreshingCredentials(source: "IMDSv2", fetch: fetch)
    }
}

private func metadataGET(
    _ transport: HTTPTransport, url: String, headers: [(String, String)],
    source: String
) async throws -> HTTPResponse {
    try await metadataRequest(
        transport, HTTPRequest(method: "GET", url: url, headers: headers, timeout: .seconds(2)), source: source)
}

/// One request to a local credential endpoint, with one quick retry: these endpoints are local and
/// either answer at once or are not there.
private func metadataRequest(_ transport: HTTPTransport, _ request: HTTPRequest, source: String) async throws
    -> HTTPResponse
{
    var request = request
    request.bypassProxy = true
    var attempt = 1
    while true {
        do {
            let r = try await transport.send(request)
            if (200..<300).contains(r.status) { return r }
            let transient = r.status >= 500 || r.status == 429
            if transient && attempt < 2 {
                attempt += 1
                continue
            }
            throw AWSCredentialsError(
                source: source,
                message: "\(request.method) \(request.url) answered HTTP \(r.status): \(r.bodyText.prefix(200))",
                isTransient: transient)
        } catch let e as TransportError {
            if attempt < 2 {
                attempt += 1
                continue
            }
            throw AWSCredentialsError(
                source: source, message: "\(request.url) did not answer (\(e.message))",
                isTransient: true)
        }
    }
}

/// The JSON both container and instance endpoints return.
private func parseRoleCredentials(_ body: [UInt8], source: String) throws -> AWSCredentials {
    guard let json = try? JSONValue.decode(body) else {
        throw AWSCredentialsError(
            source: source, message: "the answer is not JSON: \(String(decoding: body.prefix(200), as: UTF8.self))")
    }
    if let code = json["Code"]?.string, code != "Success" {
        throw AWSCredentialsError(
            source: source, message: "the endpoint answered \(code): \(json["Message"]?.string ?? "")",
            isTransient: true)
    }
    guard let id = json["AccessKeyId"]?.string, let secret = json["SecretAccessKey"]?.string else {
        throw AWSCredentialsError(source: source, message: "the answer has no AccessKeyId/SecretAccessKey")
    }
    return AWSCredentials(
        accessKeyID: id, secretAccessKey: secret, sessionToken: json["Token"]?.string,
        expiration: json["Expiration"]?.string.flatMap(ISO8601.parse))
}
