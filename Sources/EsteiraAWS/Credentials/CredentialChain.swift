import Foundation

/// The AWS SDKs' default credential chain, decided once from the environment and the shared files:
///
/// 1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
/// 2. the profile (AWS_PROFILE, else `default`) of the shared config and credentials files: static
///    keys, `role_arn` with `source_profile` or `credential_source`, or `role_arn` with
///    `web_identity_token_file`
/// 3. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (IRSA on EKS)
/// 4. container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI (EKS Pod Identity, ECS)
/// 5. IMDSv2 (EC2 instance roles), unless AWS_EC2_METADATA_DISABLED=true
///
/// The first source that is configured is used; a configured source that fails reports why, rather
/// than falling through to one the user did not mean.
public enum AWSCredentialChain {
    /// What the chain chose and the provider for it.
    public struct Resolved: Sendable {
        /// "environment", "profile 'ci'", "web identity", "container", "IMDSv2".
        public var source: String
        public var provider: any AWSCredentialProvider
    }

    /// Chooses the source. STS calls (assume role, web identity) go to `endpointOverrides[.sts]` or
    /// STS in `region`.
    public static func resolve(
        env: [String: String], files: SharedConfigFiles, region: String,
        endpointOverrides: [AWSService: AWSEndpoint] = [:],
        transport: HTTPTransport = .shared
    ) throws -> Resolved {
        let context = Context(
            env: env, files: files, region: region, overrides: endpointOverrides, transport: transport)

        let id = env["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = env["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if id != nil || secret != nil {
            guard id != nil, secret != nil else {
                throw AWSConfigurationError(
                    id == nil
                        ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither"
                        : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither")
            }
            return Resolved(source: "environment", provider: try EnvironmentCredentials(env))
        }

        let named = profileName(env)
        if let provider = try context.profileProvider(named.name, visited: []) {
            return Resolved(source: "profile '\(named.name)'", provider: provider)
        }
        if named.explicit && files.profiles[named.name] == nil {
            throw AWSConfigurationError(
                "AWS_PROFILE='\(named.name)' names no profile in \(files.paths.joined(separator: " or ")); add it or unset AWS_PROFILE"
            )
        }

        if let tokenFile = env["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty {
            guard let role = env["AWS_ROLE_ARN"], !role.isEmpty else {
                throw AWSConfigurationError(
                    "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: IRSA needs both")
            }
            let provider = WebIdentityCredentials(
                roleARN: role, tokenFile: tokenFile,
                sessionName: env["AWS_ROLE_SESSION_NAME"],
                sts: context.stsClient(NoCredentials(purpose: "web identity")))
            return Resolved(source: "web identity", provider: provider.provider())
        }

        if let container = try ContainerCredentials.fromEnvironment(env, transport: transport) {
            return Resolved(source: "container", provider: container.provider())
        }

        if let imds = InstanceMetadataCredentials.fromEnvironment(env, transport: transport) {
            return Resolved(source: "IMDSv2", provider: imds.provider())
        }
        throw AWSConfigurationError(
            """
            no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in \
            \(files.paths.joined(separator: " or ")), or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), or \
            run where container or instance credentials exist (AWS_EC2_METADATA_DISABLED is set)
            """)
    }

    /// The profile to read and whether the user named it.
    static func profileName(_ env: [String: String]) -> (name: String, explicit: Bool) {
        if let p = env["AWS_PROFILE"], !p.isEmpty { return (p, true) }
        if let p = env["AWS_DEFAULT_PROFILE"], !p.isEmpty { return (p, true) }
        return ("default", false)
    }

    /// AWS_REGION, then AWS_DEFAULT_REGION, then the profile's `region`.
    public static func region(env: [String: String], files: SharedConfigFiles) -> String? {
        if let r = env["AWS_REGION"], !r.isEmpty { return r }
        if let r = env["AWS_DEFAULT_REGION"], !r.isEmpty { return r }
        if let r = files.profiles[profileName(env).name]?["region"], !r.isEmpty { return r }
        return nil
    }

    private struct Context {
        let env: [String: String]
        let files: SharedConfigFiles
        let region: String
        let overrides: [AWSService: AWSEndpoint]
        let transport: HTTPTransport

        func stsClient(_ credentials: any AWSCredentialProvider, region: String? = nil) -> STSClient {
            let config = AWSConfig(
                region: region ?? self.region, credentials: credentials, endpointOverrides: overrides)
            return STSClient(client: AWSClient(config: config, transport: transport))
        }

        /// The provider a profile describes, or nil when it has no credentials of its own.
        func profileProvider(_ name: String, visited: [String]) throws -> (any AWSCredentialProvider)? {
            guard let p = files.profiles[name] else {
                if visited.isEmpty { return nil }
                throw AWSConfigurationError(
                    "profile '\(visited.last!)' names source_profile '\(name)', which is in neither \(files.paths.joined(separator: " nor "))"
                )
            }
            let staticKeys: StaticCredentials? = {
                guard let id = p["aws_access_key_id"], let secret = p["aws_secret_access_key"] else { return nil }
                return StaticCredentials(
                    AWSCredentials(
                        accessKeyID: id, secretAccessKey: secret,
                        sessionToken: p["aws_session_token"]))
            }()
            let region = p["region"]
            guard let role = p["role_arn"] else {
                if let staticKeys { return staticKeys }
                for unsupported in ["credential_process", "sso_session", "sso_start_url"] where p[unsupported] != nil {
                    throw AWSConfigurationError(
                        "profile '\(name)' uses \(unsupported), which Esteira does not support: use static keys, a role, or web identity"
                    )
                }
                return nil
            }
            if let tokenFile = p["web_identity_token_file"] {
                return WebIdentityCredentials(
                    roleARN: role, tokenFile: tokenFile, sessionName: p["role_session_name"],
                    sts: stsClient(NoCredentials(purpose: "web identity"), region: region)
                )
                .provider()
            }
            let source: any AWSCredentialProvider
            if let sourceProfile = p["source_profile"] {
                guard !visited.contains(sourceProfile) else {
                    throw AWSConfigurationError(
                        "profiles \((visited + [name]).joined(separator: " → ")) → \(sourceProfile) form a source_profile loop"
                    )
                }
                if sourceProfile == name {
                    guard let staticKeys else {
                        throw AWSConfigurationError("profile '\(name)' is its own source_profile but has no keys")
                    }
                    source = staticKeys
                } else {
                    guard let s = try profileProvider(sourceProfile, visited: visited + [name]) else {
                        throw AWSConfigurationError(
                            "profile '\(name)' takes its credentials from source_profile '\(sourceProfile)', which has none"
                        )
                    }
                    source = s
                }
            } else if let credentialSource = p["credential_source"] {
                switch credentialSource {
                case "Environment":
                    source = try EnvironmentCredentials(env)
                case "EcsContainer":
                    guard let c = try ContainerCredentials.fromEnvironment(env, transport: transport) else {
                        throw AWSConfigurationError(
                            "profile '\(name)' has credential_source = EcsContainer but no container credentials URI is set"
                        )
                    }
                    source = c.provider()
                case "Ec2InstanceMetadata":
                    guard let i = InstanceMetadataCredentials.fromEnvironment(env, transport: transport) else {
                        throw AWSConfigurationError(
                            "profile '\(name)' has credential_source = Ec2InstanceMetadata but AWS_EC2_METADATA_DISABLED is set"
                        )
                    }
                    source = i.provider()
                default:
                    throw AWSConfigurationError(
                        "profile '\(name)' has credential_source = \(credentialSource); use Environment, EcsContainer or Ec2InstanceMetadata"
                    )
                }
            } else {
                throw AWSConfigurationError(
                    "profile '\(name)' has role_arn but no source_profile, credential_source or web_identity_token_file to assume it with"
                )
            }
            return AssumeRoleCredentials(
                roleARN: role, sessionName: p["role_session_name"], externalID: p["external_id"],
                durationSeconds: p["duration_seconds"].flatMap { Int($0) },
                sts: stsClient(source, region: region)
            ).provider()
        }
    }
}
