import Foundation

/// The services Esteira talks to, with the names they sign under and the ids their endpoint variables use.
public enum AWSService: String, Sendable, CaseIterable {
    case s3, sqs, dynamodb, sts, iam, secretsmanager, sns

    /// The suffix of `AWS_ENDPOINT_URL_<SERVICE>`, as the SDKs spell it.
    var endpointVariable: String {
        switch self {
        case .s3: "AWS_ENDPOINT_URL_S3"
        case .sqs: "AWS_ENDPOINT_URL_SQS"
        case .dynamodb: "AWS_ENDPOINT_URL_DYNAMODB"
        case .sts: "AWS_ENDPOINT_URL_STS"
        case .iam: "AWS_ENDPOINT_URL_IAM"
        case .secretsmanager: "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        case .sns: "AWS_ENDPOINT_URL_SNS"
        }
    }

    /// The service name in the SigV4 credential scope.
    var signingName: String { rawValue }
}

/// Where a service answers: scheme, host and port, parsed once.
public struct AWSEndpoint: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// A custom endpoint (local server, VPC endpoint) rather than AWS's default name.
    public var isCustom: Bool

    /// The Host header value curl sends for this endpoint, which is also what gets signed.
    public var hostHeader: String {
        guard let port else { return host }
        let isDefault = (scheme == "https" && port == 443) || (scheme == "http" && port == 80)
        return isDefault ? host : "\(host):\(port)"
    }

    public var baseURL: String { "\(scheme)://\(hostHeader)" }

    public init(url: String) throws {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = c.host, !host.isEmpty
        else {
            throw AWSConfigurationError("endpoint URL '\(url)' is not an http(s) URL such as http://127.0.0.1:4566")
        }
        self.scheme = scheme
        self.host = host
        self.port = c.port
        self.isCustom = true
    }

    init(scheme: String, host: String) {
        self.scheme = scheme
        self.host = host
        self.port = nil
        self.isCustom = false
    }
}

public struct AWSConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Region, endpoints, credentials and retry settings, read the way the AWS SDKs read them.
public struct AWSConfig: Sendable {
    public var region: String
    public var credentials: any AWSCredentialProvider
    public var endpointOverrides: [AWSService: AWSEndpoint]
    /// nil: path-style for custom endpoints (local servers), virtual-hosted style on AWS.
    public var s3PathStyle: Bool?
    public var retry: RetryPolicy
    /// Where the credentials come from when the chain chose them ("environment", "profile 'ci'",
    /// "web identity", "container", "IMDSv2"), for the startup log line.
    public var credentialSource: String?

    public init(
        region: String, credentials: any AWSCredentialProvider,
        endpointOverrides: [AWSService: AWSEndpoint] = [:], s3PathStyle: Bool? = nil,
        retry: RetryPolicy = .standard
    ) {
        self.region = region
        self.credentials = credentials
        self.endpointOverrides = endpointOverrides
        self.s3PathStyle = s3PathStyle
        self.retry = retry
    }

    /// Reads everything the way the AWS SDKs do: the region from AWS_REGION, AWS_DEFAULT_REGION or the
    /// profile; endpoints from AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>; AWS_MAX_ATTEMPTS;
    /// ESTEIRA_S3_PATH_STYLE; and credentials from the SDKs' default chain (see `AWSCredentialChain`).
    ///
    /// Nothing is fetched here: temporary credentials are asked for on the first call, so a wrong
    /// role shows up as that call's error (code `CredentialsUnavailable`).
    public static func fromEnvironment(
        _ env: [String: String] = ProcessInfo.processInfo.environment,
        transport: HTTPTransport = .shared
    ) throws -> AWSConfig {
        let files = SharedConfigFiles.load(env)
        guard let region = AWSCredentialChain.region(env: env, files: files) else {
            throw AWSConfigurationError(
                "no AWS region: set AWS_REGION (for example AWS_REGION=us-east-1) or `region` in the profile")
        }
        var overrides: [AWSService: AWSEndpoint] = [:]
        let global = try env["AWS_ENDPOINT_URL"].flatMap { $0.isEmpty ? nil : try AWSEndpoint(url: $0) }
        for service in AWSService.allCases {
            if let url = env[service.endpointVariable], !url.isEmpty {
                overrides[service] = try AWSEndpoint(url: url)
            } else if let global {
                overrides[service] = global
            }
        }
        var retry = RetryPolicy.standard
        if let raw = env["AWS_MAX_ATTEMPTS"] {
            guard let n = Int(raw), n >= 1 else {
                throw AWSConfigurationError("AWS_MAX_ATTEMPTS='\(raw)' is not a whole number of at least 1")
            }
            retry.maxAttempts = n
        }
        var pathStyle: Bool?
        if let raw = env["ESTEIRA_S3_PATH_STYLE"], !raw.isEmpty {
            pathStyle = ["1", "true", "yes"].contains(raw.lowercased())
        }
        let chain = try AWSCredentialChain.resolve(
            env: env, files: files, region: region,
            endpointOverrides: overrides, transport: transport)
        var config = AWSConfig(
            region: region, credentials: chain.provider, endpointOverrides: overrides,
            s3PathStyle: pathStyle, retry: retry)
        config.credentialSource = chain.source
        return config
    }

    public func endpoint(for service: AWSService) -> AWSEndpoint {
        if let e = endpointOverrides[service] { return e }
        switch service {
        case .iam: return AWSEndpoint(scheme: "https", host: "iam.amazonaws.com")
        default: return AWSEndpoint(scheme: "https", host: "\(service.rawValue).\(region).amazonaws.com")
        }
    }
}
